/** The dev server's timer with waits longer than Node's setTimeout can hold. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LocalTimer, resumeEvent } from '../../sdk/index.ts';

afterEach(() => vi.useRealTimers());

describe('LocalTimer', () => {
  it('holds a 30-day resume for 30 days, not 1 ms (Node clamps delays over 24.8 days)', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const delivered: number[] = [];
    const timer = new LocalTimer({ invoke: async () => void delivered.push(Date.now()) });
    const start = Date.now();
    const at = new Date(start + 30 * 86_400_000);

    await timer.schedule(resumeEvent({ runId: 'r', endpoint: 'GET /remind', attempt: 1 }, 'sleep', at), at);
    await vi.advanceTimersByTimeAsync(29 * 86_400_000);
    expect(delivered).toEqual([]);
    await vi.advanceTimersByTimeAsync(86_400_000);

    expect(delivered).toEqual([at.getTime()]);
    expect(timer.pending).toBe(0);
  });
});
