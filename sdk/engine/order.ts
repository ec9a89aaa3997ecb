import { NonDeterminismError } from '../core/errors.ts';
import type { StepRecord } from '../core/records.ts';

/** A step call as the attempt admitted it: its id with the `:n` suffix, its position, and what is journaled of it. */
export interface Claim {
  stepId: string;
  seq: number;
  concurrent: boolean;
  record: StepRecord | undefined;
}

/**
 * Step ids and positions across attempts. Memoization is by id (repeats get `:1`, `:2`…). Steps
 * that ran one after another must be called in the same order on every attempt; steps that were
 * started while others were in flight may come back in another order (their timing differs).
 */
export class StepOrder {
  private readonly byId = new Map<string, StepRecord>();
  private readonly bySeq = new Map<number, StepRecord>();
  private readonly called = new Set<string>();
  private readonly idCounts = new Map<string, number>();
  private calls = 0;

  constructor(journaled: StepRecord[]) {
    for (const step of journaled) {
      this.byId.set(step.id, step);
      this.bySeq.set(step.seq, step);
    }
  }

  /** Every step earlier attempts journaled. */
  journaled(): Iterable<StepRecord> {
    return this.byId.values();
  }

  /** Admits the next call of `id`; throws `NonDeterminismError` when it breaks the journaled order. */
  claim(id: string, concurrent: boolean, describe: (stepId: string) => string): Claim {
    const count = this.idCounts.get(id) ?? 0;
    this.idCounts.set(id, count + 1);
    const stepId = count === 0 ? id : `${id}:${count}`;
    const seq = this.calls++;
    const record = this.byId.get(stepId);
    const fail = (detail: string): never => {
      throw new NonDeterminismError(
        `${describe(stepId)}: ${detail}. Steps must be called in the same order on every attempt of a run; ` +
          'a deploy that reorders, renames or inserts steps must not change runs already in flight.',
      );
    };
    if (record) {
      if (record.seq !== seq && !record.concurrent) fail(`it was step #${record.seq + 1} when first run and is now step #${seq + 1}`);
    } else {
      const there = this.bySeq.get(seq);
      if (there && !there.concurrent && !this.called.has(there.id)) fail(`step #${seq + 1} was '${there.id}' when first run`);
    }
    this.called.add(stepId);
    return { stepId, seq, concurrent, record };
  }
}
