/**
 * Deterministic interleavings: wraps an object (a journal, a timer) so that the n-th call of one
 * method stops before it runs, until the test lets it go. No sleeps, no hoping for an order.
 */
export function pauseAt<T extends object>(target: T, method: keyof T & string, nth = 1) {
  let calls = 0;
  let reach!: () => void;
  let release!: () => void;
  const reached = new Promise<void>((resolve) => (reach = resolve));
  const gate = new Promise<void>((resolve) => (release = resolve));
  const wrapped = new Proxy(target, {
    get(object, property, receiver) {
      const value = Reflect.get(object, property, receiver) as unknown;
      if (typeof value !== 'function') return value;
      if (property !== method) return value.bind(object);
      return async (...args: unknown[]) => {
        if (++calls === nth) {
          reach();
          await gate;
        }
        return (value as (...a: unknown[]) => unknown).apply(object, args);
      };
    },
  });
  return { wrapped, reached, release };
}

/** A promise the test resolves itself. */
export function latch() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

/** Resolves once `probe` returns a value other than undefined (bounded). */
export async function eventually<T>(probe: () => Promise<T | undefined>, what: string, tries = 500): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`eventually: ${what} never happened`);
}
