import { randomFillSync } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** A ULID: 48-bit millisecond time + 80 random bits, Crockford base32, sortable by creation time. */
export function ulid(now = Date.now()): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  if (poolOffset + 16 > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  let random = '';
  for (let i = 0; i < 16; i++) random += ALPHABET[pool[poolOffset++]! % 32];
  return time + random;
}

// One call to the CSPRNG per 256 ids instead of one per id.
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;

export const ULID_PATTERN = /^[0-9A-HJKMNP-TV-Z]{26}$/;
