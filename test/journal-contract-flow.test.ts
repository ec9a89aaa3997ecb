/**
 * The journal contract for flow control (`FlowStore`), run on every adapter (DynamoDB Local and
 * the memory journal): concurrency slots and their queues, GCRA starts, rejection counts.
 */
import { describe, expect, it } from 'vitest';
import { ulid } from '../sdk/core/ids.ts';
import type { FlowRef, QueueEntry } from '../sdk/core/records.ts';
import type { Journal, SlotRequest } from '../sdk/journal/journal.ts';
import { journalAdapters, ttlIn } from './support/journal.ts';

const NOW = Date.now();
const LATER = NOW + 30_000;

describe.each(journalAdapters)('$name', ({ create }) => {
  let key = 0;
  const ref = (kind: FlowRef['kind'] = 'concurrency'): FlowRef => ({ scope: 'POST /reports', kind, key: `tenant-${++key}-${ulid()}` });
  const slot = (at: FlowRef, holder: string, overrides: Partial<SlotRequest> = {}): SlotRequest => ({ ref: at, holder, limit: 2, expiresAt: LATER, now: NOW, ttl: ttlIn(3_600), ...overrides });
  const entry = (at: FlowRef, holder: string, attempt = 1): QueueEntry => ({ ref: at, holder, runId: holder, endpoint: 'POST /reports', functionName: 'reports', attempt, queuedAt: new Date(NOW).toISOString(), ttl: ttlIn(3_600) });
  const release = (journal: Journal, at: FlowRef, holder: string, expiresAt = LATER) => journal.releaseSlot({ ref: at, holder, expiresAt, now: NOW, reserveMs: 60_000, ttl: ttlIn(3_600) });

  describe('concurrency slots', () => {
    it('gives at most `limit` slots of a key, then says how many wait and when the earliest holding expires', async () => {
      const journal = await create();
      const key = ref();

      expect(await journal.acquireSlot(slot(key, 'a', { expiresAt: LATER + 5_000 }))).toEqual({ acquired: true });
      expect(await journal.acquireSlot(slot(key, 'b'))).toEqual({ acquired: true });
      expect(await journal.acquireSlot(slot(key, 'c'))).toEqual({ acquired: false, queued: 0, freesBy: LATER });
      expect(await journal.acquireSlot(slot(ref(), 'c'))).toEqual({ acquired: true });
    });

    it('gives exactly `limit` slots to holders asking at the same moment', async () => {
      const journal = await create();
      const key = ref();

      const grants = await Promise.all(Array.from({ length: 8 }, (_, i) => journal.acquireSlot(slot(key, `h${i}`, { limit: 3 }))));

      expect(grants.filter((grant) => grant.acquired)).toHaveLength(3);
    });

    it("renews a holder's own holding instead of taking a second slot", async () => {
      const journal = await create();
      const key = ref();
      await journal.acquireSlot(slot(key, 'a', { limit: 1 }));

      expect(await journal.acquireSlot(slot(key, 'a', { limit: 1, expiresAt: LATER + 1_000 }))).toEqual({ acquired: true });
      expect((await journal.listFlow()).find((state) => state.ref.key === key.key)?.holders).toEqual([{ holder: 'a', expiresAt: LATER + 1_000 }]);
    });

    it('counts a holding past its expiry as free: a crashed holder cannot keep its slot', async () => {
      const journal = await create();
      const key = ref();
      await journal.acquireSlot(slot(key, 'crashed', { limit: 1, expiresAt: NOW + 1_000 }));

      expect((await journal.acquireSlot(slot(key, 'b', { limit: 1 }))).acquired).toBe(false);
      expect(await journal.acquireSlot(slot(key, 'b', { limit: 1, now: NOW + 1_000 }))).toEqual({ acquired: true });
      expect((await journal.listFlow()).find((state) => state.ref.key === key.key)?.holders.map((h) => h.holder)).toEqual(['b']);
    });

    it('gives a slot back only to the holding as taken', async () => {
      const journal = await create();
      const key = ref();
      await journal.acquireSlot(slot(key, 'a', { limit: 1 }));

      expect(await release(journal, key, 'a', LATER - 1)).toBeUndefined();
      expect((await journal.acquireSlot(slot(key, 'b', { limit: 1 }))).acquired).toBe(false);
      expect(await release(journal, key, 'a')).toBeUndefined();
      expect((await journal.acquireSlot(slot(key, 'b', { limit: 1 }))).acquired).toBe(true);
      expect(await release(journal, key, 'nobody')).toBeUndefined();
    });
  });

  describe('queues', () => {
    it('queues only while the slots are taken, and counts an entry queued again once', async () => {
      const journal = await create();
      const key = ref();
      await journal.acquireSlot(slot(key, 'a', { limit: 1 }));
      expect(await journal.enqueue(entry(key, 'free'), 2)).toBe(false);

      expect(await journal.enqueue(entry(key, 'q1'), 1)).toBe(true);
      expect(await journal.enqueue(entry(key, 'q1', 2), 1)).toBe(true);

      expect((await journal.listFlow()).find((state) => state.ref.key === key.key)?.queued).toBe(1);
    });

    it('hands a given-back slot to the oldest queued entry, at the attempt it queued last; a newcomer waits behind', async () => {
      const journal = await create();
      const key = ref();
      const [older, newer] = [ulid(), ulid()];
      await journal.acquireSlot(slot(key, 'a', { limit: 1 }));
      await journal.enqueue(entry(key, newer), 1);
      await journal.enqueue(entry(key, older), 1);
      await journal.enqueue(entry(key, older, 3), 1);

      expect(await release(journal, key, 'a')).toEqual(entry(key, older, 3));

      expect((await journal.acquireSlot(slot(key, 'newcomer', { limit: 1 }))).acquired).toBe(false);
      expect(await journal.acquireSlot(slot(key, older, { limit: 1 }))).toEqual({ acquired: true });
      expect(await release(journal, key, older)).toEqual(entry(key, newer));
      expect(await release(journal, key, newer, NOW + 60_000)).toBeUndefined();
      expect((await journal.listFlow()).find((state) => state.ref.key === key.key)).toMatchObject({ holders: [], queued: 0 });
      expect(await journal.acquireSlot(slot(key, 'newcomer', { limit: 1 }))).toEqual({ acquired: true });
    });

    it('loses no wake-up: of a release and an enqueue at the same moment, either the entry is handed the slot or the enqueue finds it free', async () => {
      const journal = await create();
      for (let i = 0; i < 10; i++) {
        const key = ref();
        await journal.acquireSlot(slot(key, 'a', { limit: 1 }));

        const [handed, queued] = await Promise.all([release(journal, key, 'a'), journal.enqueue(entry(key, 'b'), 1)]);

        if (queued) expect(handed?.holder).toBe('b');
        else expect(handed).toBeUndefined();
      }
    });

    it('refuses a newcomer a free slot while runs are queued, and lets a queued holder take it and leave the queue', async () => {
      const journal = await create();
      const key = ref();
      await journal.acquireSlot(slot(key, 'crashed', { limit: 1, expiresAt: NOW + 1_000 }));
      await journal.enqueue(entry(key, 'queued'), 1);
      const after = { limit: 1, now: NOW + 2_000 };

      expect(await journal.acquireSlot(slot(key, 'newcomer', after))).toEqual({ acquired: false, queued: 1, freesBy: undefined });
      expect(await journal.acquireSlot(slot(key, 'queued', { ...after, queued: true }))).toEqual({ acquired: true });

      expect((await journal.listFlow()).find((state) => state.ref.key === key.key)).toMatchObject({ holders: [{ holder: 'queued' }], queued: 0 });
      expect(await release(journal, key, 'queued')).toBeUndefined();
    });
  });

  describe('throttles and rate limits (GCRA)', () => {
    const start = (journal: Journal, at: FlowRef, now: number, lossy: boolean, limit = 2, periodMs = 10_000, burst = 0) =>
      journal.reserveStart({ ref: at, intervalMs: periodMs / limit, toleranceMs: (limit + burst - 1) * (periodMs / limit), now, lossy, limit, periodMs, ttl: ttlIn(3_600) });

    it('books throttled starts: `limit` at once, then one every `period / limit`, in the order asked', async () => {
      const journal = await create();
      const key = ref('throttle');

      const turns = [];
      for (let i = 0; i < 4; i++) turns.push(await start(journal, key, NOW, false));

      expect(turns).toEqual([NOW, NOW, NOW + 5_000, NOW + 10_000].map((at) => ({ ok: true, at })));
      expect(await start(journal, key, NOW + 60_000, false)).toEqual({ ok: true, at: NOW + 60_000 });
    });

    it('refuses a lossy start over the limit and says when one would be admitted', async () => {
      const journal = await create();
      const key = ref('rateLimit');
      await start(journal, key, NOW, true);
      await start(journal, key, NOW, true);

      expect(await start(journal, key, NOW + 1_000, true)).toEqual({ ok: false, retryAt: NOW + 5_000 });
      expect(await start(journal, key, NOW + 5_000, true)).toEqual({ ok: true, at: NOW + 5_000 });
      expect(await start(journal, key, NOW + 5_000, true)).toEqual({ ok: false, retryAt: NOW + 10_000 });
    });

    it('admits exactly the burst of lossy starts asked at the same moment', async () => {
      const journal = await create();
      const key = ref('rateLimit');

      const grants = await Promise.all(Array.from({ length: 6 }, () => start(journal, key, NOW, true, 4)));

      expect(grants.filter((grant) => grant.ok)).toHaveLength(4);
    });
  });

  it('counts refused requests per key and lists every limited key', async () => {
    const journal = await create();
    const rate = ref('rateLimit');
    const slots = ref('concurrency');
    await journal.reserveStart({ ref: rate, intervalMs: 1_000, toleranceMs: 0, now: NOW, lossy: true, limit: 1, periodMs: 1_000, ttl: ttlIn(3_600) });
    await journal.countRejection(rate, NOW, ttlIn(3_600));
    await journal.countRejection(rate, NOW + 1, ttlIn(3_600));
    await journal.countRejection(slots, NOW, ttlIn(3_600));

    const states = await journal.listFlow();

    expect(states.find((state) => state.ref.key === rate.key)).toEqual({
      ref: rate,
      limit: 1,
      periodMs: 1_000,
      holders: [],
      queued: 0,
      nextAt: NOW + 1_000,
      rejected: 2,
      lastRejectedAt: new Date(NOW + 1).toISOString(),
    });
    expect(states.find((state) => state.ref.key === slots.key)).toMatchObject({ ref: slots, holders: [], queued: 0, rejected: 1 });
    expect(await journal.acquireSlot(slot(slots, 'a', { limit: 1 }))).toEqual({ acquired: true });
  });
});
