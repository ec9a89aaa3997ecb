import { randomFillSync } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * A ULID: 48-bit millisecond time + 80 random bits, Crockford base32, sortable by creation time.
 * Monotonic within a process: ids made in the same millisecond sort in the order they were made
 * (the random part of the previous one plus one), so queues ordered by run id are first come,
 * first served.
 */
export function ulid(now = Date.now()): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  if (time === lastTime) {
    lastRandom = increment(lastRandom);
    return time + lastRandom;
  }
  if (poolOffset + 16 > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  let random = '';
  for (let i = 0; i < 16; i++) random += ALPHABET[pool[poolOffset++]! % 32];
  lastTime = time;
  lastRandom = random;
  return time + random;
}

// One call to the CSPRNG per 256 ids instead of one per id.
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;
let lastTime = '';
let lastRandom = '';

/** The base-32 number one more (80 random bits never all overflow in practice; if they do, it wraps). */
function increment(random: string): string {
  const digits = [...random];
  for (let i = digits.length - 1; i >= 0; i--) {
    const next = ALPHABET.indexOf(digits[i]!) + 1;
    if (next < ALPHABET.length) {
      digits[i] = ALPHABET[next]!;
      return digits.join('');
    }
    digits[i] = ALPHABET[0]!;
  }
  return digits.join('');
}

export const ULID_PATTERN = /^[0-9A-HJKMNP-TV-Z]{26}$/;
