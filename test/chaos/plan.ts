/**
 * What each run of the chaos endpoint does, decided up front from a seed: the request body the
 * endpoint follows (`RunPlan`) and what its client does besides (`ClientPlan`).
 */
import type { KillPoint } from './ledger.ts';

/** `POST /chaos` body. The endpoint's own choices (which step attempts fail) derive from `seed` and `key`. */
export interface RunPlan {
  /** The client's key for the run; also its Idempotency-Key and the events' match. */
  key: string;
  seed: number;
  /** Share of step attempts that throw (a retriable error). */
  failureRate: number;
  /** Steps run in parallel between `prepare` and `finish` (2-4). */
  parallel: number;
  /** A `step.sleep` of this long: inline up to the endpoint's `inlineDelayMax` (1 s), else the run suspends. */
  sleepMs?: number;
  /** A `step.waitForEvent('approval', …)` on `chaos/approved` matching `data.key`, with this timeout. */
  waitTimeoutMs?: number;
  /** A step that fails every attempt by design: the run ends with the 500 failed-run answer. */
  doomed?: boolean;
  /** End the worker (process.exit(1)) once, in this step, at this point. */
  kill?: { step: string; point: KillPoint };
}

/**
 * How the client sends the event a run waits for, relative to the wait's timeout (read from the
 * journal once the wait began): `early` well before it, `race` within ±150 ms of it, `late` 500 ms
 * after it, `none` never. `early` and `race` send it twice, as an at-least-once sender would.
 */
export type EventTiming = 'early' | 'race' | 'late' | 'none';

export interface ClientPlan {
  run: RunPlan;
  event?: EventTiming;
}

export const EVENT_NAME = 'chaos/approved';

export interface PlanOptions {
  runs: number;
  seed: number;
  failureRate: number;
  /** Runs whose plan ends their worker once. */
  workerKills: number;
  /** Share of runs with a step that fails by design. */
  doomedShare: number;
}

/** The runs' plans, in the order clients take them. */
export function planRuns(options: PlanOptions): ClientPlan[] {
  const random = seeded(options.seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const plans: ClientPlan[] = [];
  for (let i = 0; i < options.runs; i++) {
    const run: RunPlan = { key: `chaos-${options.seed}-${i}`, seed: options.seed, failureRate: options.failureRate, parallel: 2 + Math.floor(random() * 3) };
    const shape = random();
    if (shape < 0.2) run.sleepMs = 200 + Math.floor(random() * 700);
    else if (shape < 0.4) run.sleepMs = 1_500 + Math.floor(random() * 2_500);
    const plan: ClientPlan = { run };
    if (random() < 0.35) {
      run.waitTimeoutMs = 1_500 + Math.floor(random() * 2_500);
      plan.event = pick(['early', 'early', 'race', 'race', 'race', 'late', 'none'] as const);
    }
    if (random() < options.doomedShare) run.doomed = true;
    plans.push(plan);
  }
  // Kills spread over the runs, so some land before the dev server's restart and some after, but
  // not over the last 15 %: a run whose attempt dies holds its lease for the function's timeout
  // (29 s) plus 5 s, and only then can anything take it over; the grace period is about that long.
  for (let k = 0; k < options.workerKills; k++) {
    let slot = Math.min(options.runs - 1, Math.floor(((k + random()) / options.workerKills) * options.runs * 0.85));
    while (slot < options.runs - 1 && plans[slot]!.run.kill) slot++;
    const run = plans[slot]!.run;
    if (run.kill) continue;
    // Steps every run reaches: a doomed run never gets to `finish`.
    const steps = ['prepare', ...Array.from({ length: run.parallel }, (_, j) => `fetch-${j}`), 'combine', ...(run.doomed ? [] : ['finish'])];
    run.kill = { step: pick(steps), point: pick(['before-effect', 'after-effect', 'after-return'] as const) };
  }
  return plans;
}

/** mulberry32: a small seeded PRNG, so a seed gives the same plans on every machine. */
export function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
