/** The dev server's stand-in for S3's presigned URLs: signed, expiring URLs of its file blob store. */
import type { FileBlobStore } from '../sdk/payloads/file.ts';

export const BLOBS_PATH = '/_durable/blobs';

/** A signed URL of the blob store, answered as S3 answers a presigned GET (403 when forged or expired). */
export async function blobResponse(blobs: FileBlobStore, url: URL): Promise<Response> {
  const key = url.pathname.slice(BLOBS_PATH.length + 1).split('/').map(decodeURIComponent).join('/');
  const blob = await blobs.open(key, url.searchParams);
  // Any page may read what a signed URL names, as with S3's presigned URLs: the URL is the credential.
  const cors = { 'access-control-allow-origin': '*', 'cache-control': 'no-store' };
  if (!blob) return Response.json({ error: 'AccessDenied: the URL is not valid, has expired, or names nothing.' }, { status: 403, headers: cors });
  return new Response(new Uint8Array(blob.body), { headers: { ...cors, 'content-type': blob.contentType } });
}
