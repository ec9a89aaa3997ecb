import { SerializationError } from './errors.ts';

/** Dates survive a round trip through the journal as `{ "$date": "<ISO>" }`. */
const DATE_TAG = '$date';

/**
 * Serializes a step's result for the journal. Only JSON values and Dates are allowed: anything that
 * JSON.stringify would silently change (a Map, a class instance, NaN, undefined in an array) or
 * cannot encode (a BigInt, a cycle) is refused here, so a replay returns exactly what the step returned.
 * `undefined` at the top (a step that returns nothing) is stored as an absent value.
 */
export function serialize(value: unknown, describe: () => string): Serialized {
  if (value === undefined) return { text: undefined, exact: true };
  const walk: Walk = { dates: false, lossy: false };
  check(value, '', new Set(), describe, walk);
  // A replacer makes JSON.stringify several times slower: use it only when the walk saw a Date.
  const text = !walk.dates
    ? JSON.stringify(value)
    : JSON.stringify(value, function (this: Record<string, unknown>, key, v) {
        const original = this[key];
        return original instanceof Date ? { [DATE_TAG]: original.toISOString() } : v;
      });
  return { text, exact: !walk.lossy };
}

export interface Serialized {
  /** The JSON text to journal; undefined for a step that returned nothing. */
  text: string | undefined;
  /** Parsing `text` gives a value equal to the original (no undefined properties, no -0). */
  exact: boolean;
}

interface Walk {
  dates: boolean;
  lossy: boolean;
}

export function deserialize(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  // A reviver makes JSON.parse several times slower; most results hold no Date.
  if (!text.includes(`"${DATE_TAG}"`)) return JSON.parse(text);
  return JSON.parse(text, (_key, v) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const keys = Object.keys(v);
      if (keys.length === 1 && keys[0] === DATE_TAG && typeof v[DATE_TAG] === 'string') return new Date(v[DATE_TAG]);
    }
    return v;
  });
}

/**
 * JSON text of a chunk a step streams: only JSON values and Dates (written as JSON writes them, ISO
 * strings), else `fail` is called with a message that names what and where.
 */
export function chunkJson(value: unknown, fail: (message: string) => never): string {
  const describe = () => 'stream.push';
  if (value === undefined) fail('stream.push(undefined): a chunk must be a JSON value (a string, a number, an object…).');
  try {
    check(value, '', new Set(), describe, { dates: false, lossy: false }, 'got', 'chunks');
  } catch (error) {
    fail((error as Error).message);
  }
  return JSON.stringify(value);
}

/** Throws on anything that is not JSON or a Date; notes Dates and what JSON would silently change. */
function check(value: unknown, path: string, seen: Set<object>, describe: () => string, walk: Walk, verb = 'returned', what = 'step results'): void {
  const fail = (found: string): never => {
    throw new SerializationError(
      `${describe()} ${verb} ${found} at ${path === '' ? 'the top level' : `'${path.slice(1)}'`}; ` +
        `${what} must be JSON values or Dates. Convert it (for example to a plain object or string) inside the step.`,
    );
  };
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) fail(String(value));
      if (Object.is(value, -0)) walk.lossy = true;
      return;
    case 'undefined':
      return fail('undefined');
    case 'bigint':
      return fail('a BigInt');
    case 'function':
      return fail('a function');
    case 'symbol':
      return fail('a symbol');
  }
  if (value === null) return;
  const object = value as object;
  if (object instanceof Date) {
    if (Number.isNaN(object.getTime())) fail('an invalid Date');
    walk.dates = true;
    return;
  }
  if (seen.has(object)) fail('a circular reference');
  seen.add(object);
  if (Array.isArray(object)) {
    for (let i = 0; i < object.length; i++) check(object[i], `${path}.${i}`, seen, describe, walk, verb, what);
  } else {
    const proto = Object.getPrototypeOf(object);
    if (proto !== Object.prototype && proto !== null) fail(`an instance of ${object.constructor?.name ?? 'a class'}`);
    for (const key in object) {
      const item = (object as Record<string, unknown>)[key];
      // JSON drops undefined properties: allowed, but the replayed object lacks the key.
      if (item === undefined) walk.lossy = true;
      else check(item, `${path}.${key}`, seen, describe, walk, verb, what);
    }
  }
  seen.delete(object);
}
