/** Reading event streams in tests: parsing Server-Sent Events, and what a reader ends up with. */
import type { RunStreamEvent } from '../../sdk/core/event-stream.ts';

export type Event = { id: string; event: RunStreamEvent['event']; data: Record<string, unknown> };

/** The events of a whole event stream's text. */
export function parseEvents(text: string): Event[] {
  return text
    .split('\n\n')
    .filter((block) => block.split('\n').some((line) => line.startsWith('data:')))
    .map((block) => {
      const fields = Object.fromEntries(block.split('\n').filter((line) => !line.startsWith(':')).map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1).trimStart()]));
      return { id: fields.id!, event: fields.event as Event['event'], data: JSON.parse(fields.data!) };
    });
}

/** Reads an event stream as it comes: `next(name)` waits for the next event of that name. */
export function eventReader(body: ReadableStream<Uint8Array>) {
  const events: Event[] = [];
  let text = '';
  let ended = false;
  let wake: (() => void) | undefined;
  const decoder = new TextDecoder();
  const reader = body.getReader();
  const reading = (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      const cut = text.lastIndexOf('\n\n');
      if (cut >= 0) {
        events.push(...parseEvents(text.slice(0, cut + 2)));
        text = text.slice(cut + 2);
      }
      wake?.();
    }
    ended = true;
    wake?.();
  })();
  let seen = 0;
  return {
    events,
    /** Resolves with the next event named `name` (skipping others), or rejects if the stream ends first. */
    async next(name?: Event['event']): Promise<Event> {
      for (;;) {
        while (seen < events.length) {
          const event = events[seen++]!;
          if (name === undefined || event.event === name) return event;
        }
        if (ended) throw new Error(`the stream ended before a ${name ?? 'further'} event; got ${events.map((e) => e.event).join(', ')}`);
        await new Promise<void>((resolve) => (wake = resolve));
      }
    },
    /** Resolves with every event once the stream ends. */
    async all(): Promise<Event[]> {
      await reading;
      return events;
    },
    cancel: () => reader.cancel(),
  };
}

/** What a reader ends up with: committed chunks by step in commit order, and what is still provisional, with rollbacks applied. */
export function reduce(events: Event[], state = { committed: [] as { step: string; data: unknown }[], provisional: new Map<string, unknown[]>() }) {
  for (const { event, data } of events) {
    const step = data.step as string;
    if (event === 'stream') state.provisional.set(step, [...(state.provisional.get(step) ?? []), data.data]);
    if (event === 'rollback') state.provisional.delete(step);
    if (event === 'commit') {
      for (const chunk of state.provisional.get(step) ?? []) state.committed.push({ step, data: chunk });
      state.provisional.delete(step);
    }
  }
  return state;
}

/**
 * A `fetch` for `durableStream` that cuts its first response right after the first commit, as a
 * network would, and records each request. Self-contained: the browser tests run its source in a page.
 */
export function cuttingFetch(requests: Request[]): (request: Request) => Promise<Response> {
  return async (request) => {
    requests.push(request);
    const response = await fetch(request);
    if (requests.length > 1) return response;
    const reader = response.body!.getReader();
    let text = '';
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { done, value } = await reader.read();
        if (done) return controller.close();
        controller.enqueue(value);
        text += new TextDecoder().decode(value);
        if (text.includes('event: commit')) {
          await reader.cancel();
          controller.error(new TypeError('network error'));
        }
      },
    });
    return new Response(body, { status: response.status, headers: response.headers });
  };
}
