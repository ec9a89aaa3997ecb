/**
 * Dev-only chaos for the dev server's timers: some resumes delivered twice, some late. On AWS,
 * Scheduler and Lambda's asynchronous invokes deliver at least once and not always on time; the
 * local timer is exact, so without this the dev server never shows what the lease and the attempt
 * number protect against. Used by `npm run chaos` (`durable dev --timer-faults …`, a flag left out
 * of the help on purpose: it makes the dev server misbehave).
 */
import type { ResumeEvent } from '../sdk/index.ts';

export interface TimerFaults {
  /** Share of deliveries (0-1) delivered once more, up to `lateMs` after the first. */
  duplicate: number;
  /** Share of deliveries (0-1) held back, between half of `lateMs` and `lateMs`. */
  late: number;
  /** Upper bound of a late delivery's delay and of a duplicate's distance from the first. Default 2000. */
  lateMs: number;
}

/** `duplicate=0.1,late=0.1,lateMs=2000`: each key optional; anything else is refused. */
export function parseTimerFaults(spec: string): TimerFaults {
  const faults: TimerFaults = { duplicate: 0, late: 0, lateMs: 2_000 };
  for (const part of spec.split(',').map((p) => p.trim()).filter(Boolean)) {
    const [name, value] = part.split('=');
    const number = Number(value);
    const share = name === 'duplicate' || name === 'late';
    if (!(name === 'lateMs' || share) || value === undefined || !Number.isFinite(number) || number < 0 || (share && number > 1)) {
      throw new Error(`--timer-faults: expected duplicate=<0-1>,late=<0-1>,lateMs=<ms>, got ${JSON.stringify(part)}.`);
    }
    faults[name as keyof TimerFaults] = number;
  }
  return faults;
}

/**
 * Wraps a timer's delivery: with the configured shares, a delivery is delayed, or repeated. The
 * returned promise settles when every delivery of the event has, so `LocalTimer.idle()` still
 * waits for them all.
 */
export function withTimerFaults(
  deliver: (event: ResumeEvent) => Promise<unknown>,
  faults: TimerFaults,
  log: (line: string) => void,
  random: () => number = Math.random,
): (event: ResumeEvent) => Promise<unknown> {
  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  return async (event) => {
    const name = `run ${event.runId} (${event.reason}, attempt ${event.attempt + 1})`;
    if (random() < faults.late) {
      const delay = Math.round(faults.lateMs * (0.5 + random() / 2));
      log(`⚡ timer fault: resume of ${name} delivered ${delay}ms late`);
      await pause(delay);
    }
    if (random() >= faults.duplicate) return deliver(event);
    const gap = Math.round(faults.lateMs * random());
    log(`⚡ timer fault: resume of ${name} delivered twice, ${gap}ms apart`);
    const first = deliver(event);
    const second = pause(gap).then(() => deliver(event));
    const [result] = await Promise.all([first, second.catch(() => undefined)]);
    return result;
  };
}
