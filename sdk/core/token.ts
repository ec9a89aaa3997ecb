import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Result-URL tokens: `<expiry seconds>.<base64url HMAC-SHA256(runId "." expiry)>` under the
 * deployment's secret. Whoever holds the URL may read that run's response until the expiry, and no other run's.
 */
export function signToken(secret: string, runId: string, expiresAt: Date): string {
  const exp = Math.floor(expiresAt.getTime() / 1000);
  return `${exp}.${mac(secret, runId, exp).toString('base64url')}`;
}

export type TokenCheck = { ok: true } | { ok: false; reason: 'malformed' | 'expired' | 'invalid' };

export function verifyToken(secret: string, runId: string, token: string | undefined, now = Date.now()): TokenCheck {
  const match = /^(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(token ?? '');
  if (!match) return { ok: false, reason: 'malformed' };
  const exp = Number(match[1]);
  const expected = mac(secret, runId, exp);
  const given = Buffer.from(match[2]!, 'base64url');
  // Compare before looking at the expiry, in constant time, so timing tells nothing about the MAC.
  const valid = given.length === expected.length && timingSafeEqual(given, expected);
  if (!valid) return { ok: false, reason: 'invalid' };
  if (exp * 1000 <= now) return { ok: false, reason: 'expired' };
  return { ok: true };
}

function mac(secret: string, runId: string, exp: number): Buffer {
  return createHmac('sha256', secret).update(`${runId}.${exp}`).digest();
}
