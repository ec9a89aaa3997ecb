/**
 * How long the payload bucket keeps an object, agreed between `S3BlobStore` (which tags each
 * object) and `PayloadBucket` (one lifecycle rule per class). S3 expires objects by age, not by
 * date, and a run may outlive its first payloads (a 45-day sleep): an object is tagged with the
 * smallest class that keeps it until its run's ttl, and tagged again when the run's ttl is raised.
 */
export const KEEP_TAG = 'durable-keep';

/** The classes, in days: the journal's default retention (30 days) and longer waits. The last keeps objects 3 years. */
export const KEEP_CLASSES_DAYS = [31, 92, 366, 1_098] as const;

/** The tag value that keeps an object until `expiresAt` (epoch seconds): the smallest class that covers it, else the longest. */
export function keepClass(expiresAt: number | undefined, now = Date.now()): string {
  const days = expiresAt === undefined ? 0 : (expiresAt * 1_000 - now) / 86_400_000;
  return `${KEEP_CLASSES_DAYS.find((keep) => keep >= days) ?? KEEP_CLASSES_DAYS.at(-1)}d`;
}
