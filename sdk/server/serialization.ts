import { SerializationError } from './errors.ts';

/** Dates survive a round trip through the journal as `{ "$date": "<ISO>" }`. */
const DATE_TAG = '$date';

/**
 * Serializes a step's result for the journal. Only JSON values and Dates are allowed: anything that
 * JSON.stringify would silently change (a Map, a class instance, NaN, undefined in an array) or
 * cannot encode (a BigInt, a cycle) is refused here, so a replay returns exactly what the step returned.
 * `undefined` at the top (a step that returns nothing) is stored as an absent value.
 */
export function serialize(value: unknown, describe: () => string): string | undefined {
  if (value === undefined) return undefined;
  check(value, '', new Set(), describe);
  return JSON.stringify(value, function (this: Record<string, unknown>, key, v) {
    const original = this[key];
    return original instanceof Date ? { [DATE_TAG]: original.toISOString() } : v;
  });
}

export function deserialize(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  return JSON.parse(text, (_key, v) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const keys = Object.keys(v);
      if (keys.length === 1 && keys[0] === DATE_TAG && typeof v[DATE_TAG] === 'string') return new Date(v[DATE_TAG]);
    }
    return v;
  });
}

function check(value: unknown, path: string, seen: Set<object>, describe: () => string): void {
  const fail = (what: string): never => {
    throw new SerializationError(
      `${describe()} returned ${what} at ${path === '' ? 'the top level' : `'${path.slice(1)}'`}; ` +
        'step results must be JSON values or Dates. Convert it (for example to a plain object or string) inside the step.',
    );
  };
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) fail(String(value));
      return;
    case 'undefined':
      fail('undefined');
      return;
    case 'bigint':
      fail('a BigInt');
      return;
    case 'function':
      fail('a function');
      return;
    case 'symbol':
      fail('a symbol');
      return;
  }
  if (value === null) return;
  const object = value as object;
  if (object instanceof Date) {
    if (Number.isNaN(object.getTime())) fail('an invalid Date');
    return;
  }
  if (seen.has(object)) fail('a circular reference');
  seen.add(object);
  if (Array.isArray(object)) {
    object.forEach((item, i) => check(item, `${path}.${i}`, seen, describe));
  } else {
    const proto = Object.getPrototypeOf(object);
    if (proto !== Object.prototype && proto !== null) fail(`an instance of ${object.constructor?.name ?? 'a class'}`);
    for (const [key, item] of Object.entries(object)) {
      // JSON drops undefined properties; the replayed object reads the same, so allow them.
      if (item !== undefined) check(item, `${path}.${key}`, seen, describe);
    }
  }
  seen.delete(object);
}
