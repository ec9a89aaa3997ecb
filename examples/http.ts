/** Small HTTP helpers shared by the examples. */
import type { Duration } from 'durable-endpoints';

export function json(statusCode: number, body: unknown) {
  return { statusCode, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

export function badRequest(message: string) {
  return json(400, { error: { name: 'BadRequest', message } });
}

export function parseJsonBody(body: string | undefined): { ok: true; value: unknown } | { ok: false; error: string } {
  try {
    const value = JSON.parse(body ?? '');
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, error: 'The body must be a JSON object.' };
    return { ok: true, value };
  } catch {
    return { ok: false, error: 'The body must be JSON.' };
  }
}

export function validDuration(value: unknown): value is Duration {
  return typeof value === 'string' && /^\d+(\.\d+)?(ms|s|m|h|d)$/.test(value);
}
