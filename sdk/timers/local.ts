import type { ResumeEvent } from '../core/resume.ts';
import type { Timer } from './timer.ts';

export interface LocalTimerOptions {
  /** Delivers a due resume event: in the dev server, an invocation of the endpoint's handler. */
  invoke: (event: ResumeEvent) => Promise<unknown>;
  /** Called when an invocation fails; the default logs it. */
  onError?: (error: unknown, event: ResumeEvent) => void;
}

const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * Runs timers in this process with exact delays: for the dev server, tests and the in-process
 * example. Timers die with the process; the dev server re-arms due runs from the journal on start.
 */
export class LocalTimer implements Timer {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly running = new Set<Promise<unknown>>();
  private readonly options: LocalTimerOptions;

  constructor(options: LocalTimerOptions) {
    this.options = options;
  }

  async schedule(event: ResumeEvent, at: Date): Promise<void> {
    const name = `${event.runId}/${event.attempt}/${event.reason}`;
    // Same name = same wake-up: scheduling it again is a no-op, as with Scheduler's ConflictException.
    if (this.timers.has(name)) return;
    this.arm(name, event, at.getTime());
  }

  private arm(name: string, event: ResumeEvent, at: number): void {
    const delay = Math.max(0, at - Date.now());
    // Node clamps a delay over 2^31 - 1 ms (24.8 days) to 1 ms: longer waits are chained.
    if (delay > MAX_TIMEOUT_MS) {
      this.timers.set(name, setTimeout(() => this.arm(name, event, at), MAX_TIMEOUT_MS));
      return;
    }
    const handle = setTimeout(() => {
      this.timers.delete(name);
      const delivery = this.options
        .invoke(event)
        .catch((error) => (this.options.onError ?? logError)(error, event))
        .finally(() => this.running.delete(delivery));
      this.running.add(delivery);
    }, delay);
    this.timers.set(name, handle);
  }

  /** Timers armed and not yet fired. */
  get pending(): number {
    return this.timers.size;
  }

  /** Resolves when no timer is armed and no delivery is running (deliveries may arm new timers). */
  async idle(): Promise<void> {
    while (this.timers.size > 0 || this.running.size > 0) {
      await Promise.all(this.running);
      if (this.timers.size > 0) await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /** Cancels every armed timer. */
  close(): void {
    for (const handle of this.timers.values()) clearTimeout(handle);
    this.timers.clear();
  }
}

function logError(error: unknown, event: ResumeEvent): void {
  console.error(`durable-endpoints: resuming run ${event.runId} (${event.endpoint}) failed:`, error);
}
