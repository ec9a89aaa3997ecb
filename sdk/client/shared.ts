/**
 * What `durableFetch` and `durableStream` share: the protocol's header names (as in
 * sdk/core/contract.ts, not imported, so that the client's modules stand alone), sending a request
 * again after a network error, and waiting that an abort can cut short.
 */

export const RUN_ID_HEADER = 'x-durable-run-id';
export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';
export const SAFE_METHODS = new Set(['GET', 'HEAD']);
/** A request with an idempotency key is sent again this often after a network error. */
export const SEND_RETRIES = 2;
/** How many times a keyed resend waits for a first request that has not reached a step yet. */
const IN_PROGRESS_WAITS = 30;

/** Sends the first request; with an idempotency key (`retries` > 0) it is sent again after a network error. */
export async function sendWithRetries(request: Request, retries: number, send: (request: Request) => Promise<Response>): Promise<Response> {
  for (let attempt = 0, waits = 0; ; ) {
    let response: Response;
    try {
      response = await send(request.clone());
    } catch (error) {
      if (attempt >= retries || !isNetworkError(error, request.signal)) throw error;
      await sleep(500 * 2 ** attempt++, request.signal);
      continue;
    }
    // A resend with the key of a request still before its first step: the server has no run to
    // attach it to yet and says when to come back (409, Retry-After, no run id).
    if (retries > 0 && response.status === 409 && !response.headers.has(RUN_ID_HEADER) && response.headers.has('retry-after') && waits < IN_PROGRESS_WAITS) {
      waits++;
      await response.body?.cancel();
      await sleep(Math.max(1, Number(response.headers.get('retry-after')) || 1) * 1_000, request.signal);
      continue;
    }
    return response;
  }
}

export function isNetworkError(error: unknown, signal: AbortSignal): boolean {
  return error instanceof TypeError && !signal.aborted;
}

export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export function newKey(): string {
  const crypto = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (typeof crypto?.randomUUID !== 'function') {
    throw new TypeError(
      'durable-endpoints/client: idempotent: true needs crypto.randomUUID (Node 19+, browsers on https or localhost). ' +
        'Set an Idempotency-Key header yourself instead.',
    );
  }
  return crypto.randomUUID();
}
