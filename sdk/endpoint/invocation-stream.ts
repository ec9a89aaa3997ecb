/**
 * The event stream of a request that asked for `text/event-stream`: what its attempt streams, as
 * it happens, then where the run continues (`redirect`) or its final answer (`response`).
 */
import { RUN_ID_HEADER } from '../core/contract.ts';
import { ids, streamedResponse, type ChunkSource } from '../core/event-stream.ts';
import type { HttpResponse } from '../core/http.ts';
import { log } from '../core/log.ts';
import type { StepRecord } from '../core/records.ts';
import type { Attempt } from '../engine/attempt.ts';
import type { StreamObserver } from '../engine/attempt-stream.ts';
import { normalizeResponse } from './api-gateway.ts';
import { EventSink } from './event-sink.ts';

export class InvocationStream implements StreamObserver {
  readonly sink: EventSink;
  private readonly attempt: Attempt;
  private commits = 0;
  /** Steps whose chunks were sent and not yet committed or rolled back. */
  private readonly provisional = new Map<string, ChunkSource>();
  private readonly stopObserving: () => void;

  constructor(attempt: Attempt, live: boolean, resultUrl: string) {
    this.attempt = attempt;
    // The caller went away: what the run streams from now on goes to the journal's tail, for a
    // results stream the caller may reconnect with.
    this.sink = new EventSink(live, () => attempt.stream.broadcast());
    this.stopObserving = attempt.stream.observe(this);
    this.sink.send({ event: 'metadata', id: ids.metadata(0), data: { runId: attempt.runId, resultUrl } });
  }

  chunk(step: string, source: ChunkSource, index: number, data: unknown): void {
    this.provisional.set(step, source);
    this.sink.send({ event: 'stream', id: ids.provisional(this.commits, source, index), data: { step, data } });
  }

  rollback(step: string, source: ChunkSource): void {
    if (!this.provisional.has(step)) return;
    this.provisional.delete(step);
    this.sink.send({ event: 'rollback', id: ids.rollback(this.commits, source), data: { step } });
  }

  commit(step: StepRecord): void {
    this.commits = step.commit!;
    this.provisional.delete(step.id);
    this.sink.send({ event: 'commit', id: ids.commit(this.commits), data: { step: step.id } });
  }

  /**
   * The invocation's answer, as the stream's last event: the run's 303 becomes `redirect` (the
   * stream continues at the results URL), anything else `response`. Buffered, it is the response.
   */
  finish(answer: unknown): unknown {
    this.stopObserving();
    const response = normalizeResponse(answer);
    // Chunks whose step was not stored (the journal failed) are not part of the run.
    for (const [step, source] of this.provisional) this.rollback(step, source);
    const location = response.headers?.location;
    if ((response.statusCode === 303 || response.statusCode === 202) && location && response.headers?.[RUN_ID_HEADER]) {
      this.sink.send({ event: 'redirect', id: ids.redirect(this.commits, this.attempt.attempt), data: { url: location } });
    } else {
      this.sink.send({ event: 'response', id: ids.response(this.commits), data: streamedResponse(response) });
    }
    this.sink.close();
    return this.sink.live ? answer : this.sink.bufferedResponse(this.attempt.runId);
  }

  /** The invocation failed (the platform would answer 502): said so in the stream, which ends. */
  fail(error: unknown): void {
    if (this.sink.closed) return;
    log('error', 'the handler failed while streaming', { endpoint: this.attempt.endpoint, runId: this.attempt.runId, error: (error as Error)?.message });
    this.stopObserving();
    const gatewayError: HttpResponse = { statusCode: 502, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message: 'Internal Server Error' }) };
    this.sink.send({ event: 'response', id: ids.response(this.commits), data: streamedResponse(gatewayError) });
    this.sink.close();
  }
}
