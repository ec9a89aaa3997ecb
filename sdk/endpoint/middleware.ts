import type { Context } from 'aws-lambda';
import { DurableEndpoint, type Invocation } from './lifecycle.ts';
import type { DurableOptions } from './options.ts';
import { runStorage, type RunSlot } from '../engine/storage.ts';

const INVOCATION = Symbol('durable-endpoints.invocation');
const REQUEST = Symbol('durable-endpoints.request');

/** The part of Middy's request object this middleware uses (keeps `@middy/core` an optional peer). */
export interface MiddyRequest {
  event: unknown;
  context: Context;
  response: unknown;
  error: unknown;
  internal: Record<string | symbol, unknown>;
}

export interface DurableMiddleware {
  before: (request: MiddyRequest) => Promise<unknown>;
  after: (request: MiddyRequest) => Promise<void>;
  onError: (request: MiddyRequest) => Promise<void>;
}

/**
 * Middy middleware that makes the handler durable. Use it first (`.use(durable())` before other
 * middlewares) so it journals the request as the client sent it and the others see a rebuilt
 * request on resumes exactly as on the first attempt.
 */
export function durable(options: DurableOptions = {}): DurableMiddleware {
  const endpoint = new DurableEndpoint(options);
  return {
    before: async (request) => {
      // Bound before the first await: only then does the binding reach the handler Middy calls next
      // (after an await, enterWith would bind just this function's own continuation).
      const slot: RunSlot = {};
      runStorage.enterWith(slot);
      const event = (request.internal[REQUEST] = request.event);
      const begun = await endpoint.begin(event, request.context);
      if ('response' in begun) return endpoint.withCors(event, begun.response); // nothing to run
      request.internal[INVOCATION] = begun.invocation;
      request.event = begun.invocation.event;
      slot.run = begun.invocation.attempt;
      return undefined;
    },
    after: async (request) => {
      const invocation = request.internal[INVOCATION] as Invocation | undefined;
      if (invocation) request.response = endpoint.withCors(request.internal[REQUEST], await endpoint.end(invocation, { ok: true, value: request.response }));
    },
    onError: async (request) => {
      const invocation = request.internal[INVOCATION] as Invocation | undefined;
      if (!invocation) return;
      request.response = endpoint.withCors(request.internal[REQUEST], await endpoint.end(invocation, { ok: false, error: request.error }));
    },
  };
}

export type LambdaHandler<E = never, R = unknown> = (event: E, context: Context) => Promise<R>;

/**
 * The same as `durable()` for a handler that does not use Middy. A request for `text/event-stream`
 * is answered at once with its event stream where the platform streams responses.
 */
export function durableHandler<E, R>(
  handler: (event: E, context: Context) => R | Promise<R>,
  options: DurableOptions = {},
): (event: unknown, context: Context) => Promise<unknown> {
  const endpoint = new DurableEndpoint(options);
  return async (event, context) => {
    const begun = await endpoint.begin(event, context);
    if ('response' in begun) return endpoint.withCors(event, begun.response);
    const { invocation } = begun;
    let result: R;
    try {
      result = await runStorage.run({ run: invocation.attempt }, () => handler(invocation.event as E, context));
    } catch (error) {
      return endpoint.withCors(event, await endpoint.end(invocation, { ok: false, error }));
    }
    return endpoint.withCors(event, await endpoint.end(invocation, { ok: true, value: result }));
  };
}
