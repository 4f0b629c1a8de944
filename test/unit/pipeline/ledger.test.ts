import { describe, expect, it } from 'vitest';
import { mapLimited } from '../../../shared/collections.js';
import { EmbeddedStateStore } from '../../../shared/local/state.js';
import { RunLedger, SeenUrls, terminalCount } from '../../../shared/pipeline/ledger.js';
import type { StateWrite } from '../../../shared/ports.js';
import { collect } from '../../fixtures/iterables.js';
import { JOB, NOW, newRun, offer, RUN } from '../../fixtures/ledger.js';
import { CountingStore } from '../../support/counting-store.js';

describe('Class: RunLedger', () => {
  describe('Method: createRun / getStart', () => {
    it('keeps the start URLs and hosts off the meta item, which every budget reservation rewrites', async () => {
      const state = new EmbeddedStateStore();
      const ledger = new RunLedger(state);
      const seeds = Array.from({ length: 2000 }, (_, index) => `https://shop.example/catalogue/page-${index}.html`);
      const hosts = Array.from({ length: 50 }, (_, index) => `shop-${index}.example`);

      await ledger.createRun(JOB, RUN, { hosts, seeds }, NOW);

      expect(await ledger.getStart(JOB, RUN)).toEqual({ hosts, seeds });
      const meta = await state.get(`run#${JOB}#${RUN}`, 'meta');
      // Under 1 KB: one write unit per reservation, however many start URLs the run has.
      expect(JSON.stringify(meta).length).toBeLessThan(1024);
      expect(await ledger.getStart(JOB, 'missing')).toBeUndefined();
    });

    it('keeps the first start written when two deliveries of one start differ', async () => {
      const ledger = new RunLedger(new EmbeddedStateStore());

      const first = await ledger.createRun(JOB, RUN, { hosts: ['a.example'], seeds: ['https://a.example/'] }, NOW);
      const second = await ledger.createRun(JOB, RUN, { hosts: ['b.example'], seeds: ['https://b.example/'] }, NOW);

      expect([first, second]).toEqual([true, false]);
      expect(await ledger.getStart(JOB, RUN)).toEqual({ hosts: ['a.example'], seeds: ['https://a.example/'] });
    });

    it('reads the start of a run from before the start item, from its meta item', async () => {
      const state = new EmbeddedStateStore();
      const ledger = new RunLedger(state);
      await state.write({
        pk: `run#${JOB}#old`,
        sk: 'meta',
        set: { state: 'running', hosts: '["shop.example"]', seeds: '["https://shop.example/"]' },
      });

      expect(await ledger.getStart(JOB, 'old')).toEqual({ hosts: ['shop.example'], seeds: ['https://shop.example/'] });
    });
  });

  describe('Method: acceptMany', () => {
    it('accepts new URLs once: a repeat in the call or from another page is a duplicate, from the same page pending', async () => {
      const ledger = await newRun(new EmbeddedStateStore());

      const first = await ledger.acceptMany(JOB, RUN, [offer('a'), offer('b'), offer('a')], { maxPages: 10, now: NOW });
      const again = await ledger.acceptMany(JOB, RUN, [offer('a'), offer('b', 'p1')], { maxPages: 10, now: NOW });

      expect(first).toEqual(['accepted', 'accepted', 'duplicate']);
      expect(again).toEqual(['pending', 'duplicate']);
      const meta = await ledger.getRun(JOB, RUN);
      expect(meta?.counters).toMatchObject({ accepted: 2, admitted: 2, skipped: 0 });
    });

    it('admits URLs up to the page budget and records the rest as skipped (budget:maxPages)', async () => {
      const ledger = await newRun(new EmbeddedStateStore());

      const outcomes = await ledger.acceptMany(
        JOB,
        RUN,
        ['a', 'b', 'c', 'd', 'e'].map((path) => offer(path)),
        {
          maxPages: 3,
          now: NOW,
        },
      );

      expect(outcomes).toEqual(['accepted', 'accepted', 'accepted', 'over-budget', 'over-budget']);
      expect((await ledger.getRun(JOB, RUN))?.counters).toMatchObject({ accepted: 5, admitted: 3, skipped: 2 });
      const entries = await collect(ledger.urls(JOB, RUN));
      expect(entries.filter((entry) => entry.status === 'skipped').map((entry) => entry.reason)).toEqual([
        'budget:maxPages',
        'budget:maxPages',
      ]);
    });

    it('admits exactly the budget when many pages offer links at once', async () => {
      const ledger = await newRun(new EmbeddedStateStore());

      const batches = await Promise.all(
        Array.from({ length: 20 }, (_, page) =>
          ledger.acceptMany(
            JOB,
            RUN,
            Array.from({ length: 5 }, (_, link) => offer(`${page}/${link}`, `p${page}`)),
            { maxPages: 50, now: NOW },
          ),
        ),
      );

      const outcomes = batches.flat();
      expect(outcomes.filter((outcome) => outcome === 'accepted')).toHaveLength(50);
      expect(outcomes.filter((outcome) => outcome === 'over-budget')).toHaveLength(50);
      expect((await ledger.getRun(JOB, RUN))?.counters).toMatchObject({ accepted: 100, admitted: 50, skipped: 50 });
    });

    it('gives back what it reserved for URLs a stale look-up missed, so accepted never overstates', async () => {
      const store = new CountingStore();
      const ledger = await newRun(store);
      await ledger.acceptMany(JOB, RUN, [offer('a')], { maxPages: 10, now: NOW });
      store.stale = true;

      const outcomes = await ledger.acceptMany(JOB, RUN, [offer('a', 'p1'), offer('b', 'p1')], { maxPages: 10, now: NOW });

      expect(outcomes).toEqual(['duplicate', 'accepted']);
      expect((await ledger.getRun(JOB, RUN))?.counters).toMatchObject({ accepted: 2, admitted: 2, skipped: 0 });
    });

    it('counts the URLs of an acceptance cut part-way once, when its redelivery completes it', async () => {
      // Prepare: a state table that fails the third URL put (an aborted request, a timeout); one put at a time.
      let puts = 0;
      const failing = new (class extends EmbeddedStateStore {
        override async tryWrite(write: StateWrite) {
          if (write.sk.startsWith('url#') && ++puts === 3) throw new Error('request aborted');
          return super.tryWrite(write);
        }
      })();
      const ledger = await newRun(failing, { parallelism: 1 });
      const offers = ['a', 'b', 'c', 'd', 'e'].map((path) => offer(path));

      // Act: the first delivery fails part-way, the second (the message again) succeeds.
      await expect(ledger.acceptMany(JOB, RUN, offers, { maxPages: 10, now: NOW })).rejects.toThrow('request aborted');
      const afterFailure = (await ledger.getRun(JOB, RUN))?.counters;
      const outcomes = await ledger.acceptMany(JOB, RUN, offers, { maxPages: 10, now: NOW });

      // Assess: nothing counted before the acceptance is done (the budget keeps what was written); each URL once.
      expect(afterFailure).toMatchObject({ accepted: 0, admitted: 2 });
      expect(outcomes).toEqual(['pending', 'pending', 'accepted', 'accepted', 'accepted']);
      expect((await ledger.getRun(JOB, RUN))?.counters).toMatchObject({ accepted: 5, admitted: 5, skipped: 0 });
      expect(await collect(ledger.urls(JOB, RUN))).toHaveLength(5);
    });

    it('counts accepted exactly even when the budget cannot be given back (the invocation ran out of time)', async () => {
      // Prepare: the third URL put fails, and so does every later write of the meta item (the give-back).
      let puts = 0;
      let down = false;
      const failing = new (class extends EmbeddedStateStore {
        override async tryWrite(write: StateWrite) {
          if (write.sk.startsWith('url#') && ++puts === 3) {
            down = true;
            throw new Error('request aborted');
          }
          return super.tryWrite(write);
        }
        override async write(write: StateWrite) {
          if (down && write.sk === 'meta') throw new Error('request aborted');
          return super.write(write);
        }
      })();
      const ledger = await newRun(failing, { parallelism: 1 });
      const offers = ['a', 'b', 'c', 'd', 'e'].map((path) => offer(path));

      // Act
      await expect(ledger.acceptMany(JOB, RUN, offers, { maxPages: 10, now: NOW })).rejects.toThrow(AggregateError);
      down = false;
      await ledger.acceptMany(JOB, RUN, offers, { maxPages: 10, now: NOW });

      // Assess: the run's count is the entries' (it adds up); only the budget shows the lost give-back.
      const counters = (await ledger.getRun(JOB, RUN))?.counters;
      expect(counters).toMatchObject({ accepted: 5, admitted: 8 });
      expect(await collect(ledger.urls(JOB, RUN))).toHaveLength(5);
    });

    it('counts an acceptance once when its counting transaction was applied but not answered', async () => {
      // Prepare: the first counting transaction is stored, then its request fails as an aborted one does.
      let counts = 0;
      const aborting = new (class extends EmbeddedStateStore {
        override async transact(writes: readonly StateWrite[]) {
          const result = await super.transact(writes);
          if (++counts === 1) throw new Error('request aborted');
          return result;
        }
      })();
      const ledger = await newRun(aborting);
      const offers = ['a', 'b', 'c'].map((path) => offer(path));

      // Act
      await expect(ledger.acceptMany(JOB, RUN, offers, { maxPages: 10, now: NOW })).rejects.toThrow('request aborted');
      const outcomes = await ledger.acceptMany(JOB, RUN, offers, { maxPages: 10, now: NOW });

      // Assess
      expect(outcomes).toEqual(['pending', 'pending', 'pending']);
      expect((await ledger.getRun(JOB, RUN))?.counters).toMatchObject({ accepted: 3, admitted: 3 });
    });

    it('counts once when two deliveries of the same offers run at the same time', async () => {
      const ledger = await newRun(new EmbeddedStateStore(), { parallelism: 1 });
      const offers = Array.from({ length: 40 }, (_, index) => offer(`${index}`));

      await Promise.all([
        ledger.acceptMany(JOB, RUN, offers, { maxPages: 100, now: NOW }),
        ledger.acceptMany(JOB, RUN, offers, { maxPages: 100, now: NOW }),
      ]);

      expect((await ledger.getRun(JOB, RUN))?.counters.accepted).toBe(40);
      expect(await collect(ledger.urls(JOB, RUN))).toHaveLength(40);
    });

    it('counts a URL for the acceptance that wrote it, not for another offering it too', async () => {
      // Prepare: page p1 accepted a and b but was cut before counting them.
      let counts = 0;
      const cutting = new (class extends EmbeddedStateStore {
        override async transact(writes: readonly StateWrite[]) {
          if (++counts === 1) throw new Error('request aborted');
          return super.transact(writes);
        }
      })();
      const ledger = await newRun(cutting);
      await expect(ledger.acceptMany(JOB, RUN, [offer('a', 'p1'), offer('b', 'p1')], { maxPages: 10, now: NOW })).rejects.toThrow(
        'request aborted',
      );

      // Act: page p2 offers b and c; then p1 is redelivered.
      const second = await ledger.acceptMany(JOB, RUN, [offer('b', 'p2'), offer('c', 'p2')], { maxPages: 10, now: NOW });
      const afterSecond = (await ledger.getRun(JOB, RUN))?.counters.accepted;
      await ledger.acceptMany(JOB, RUN, [offer('a', 'p1'), offer('b', 'p1')], { maxPages: 10, now: NOW });

      // Assess
      expect(second).toEqual(['duplicate', 'accepted']);
      expect(afterSecond).toBe(1);
      expect((await ledger.getRun(JOB, RUN))?.counters.accepted).toBe(3);
    });

    it('undoes a reservation whose request failed after the table applied it (an aborted answer), so it is not counted twice', async () => {
      // Prepare: the first reservation is stored, then its request fails as an aborted one does.
      let reservations = 0;
      const aborting = new (class extends EmbeddedStateStore {
        override async tryWrite(write: StateWrite) {
          const result = await super.tryWrite(write);
          if (write.sk === 'meta' && ++reservations === 1) throw new Error('request aborted');
          return result;
        }
      })();
      const ledger = await newRun(aborting);
      const offers = ['a', 'b', 'c'].map((path) => offer(path));

      // Act: the first delivery fails at the reservation, the second succeeds.
      await expect(ledger.acceptMany(JOB, RUN, offers, { maxPages: 10, now: NOW })).rejects.toThrow('request aborted');
      const afterFailure = (await ledger.getRun(JOB, RUN))?.counters;
      const outcomes = await ledger.acceptMany(JOB, RUN, offers, { maxPages: 10, now: NOW });

      // Assess
      expect(afterFailure).toMatchObject({ accepted: 0, admitted: 0 });
      expect(outcomes).toEqual(['accepted', 'accepted', 'accepted']);
      expect((await ledger.getRun(JOB, RUN))?.counters).toMatchObject({ accepted: 3, admitted: 3, skipped: 0 });
    });

    it('costs no state request for a link this process already saw offered by another page', async () => {
      const store = new CountingStore();
      const ledger = await newRun(store, { seen: new SeenUrls() });
      await ledger.acceptMany(JOB, RUN, [offer('menu', 'p1')], { maxPages: 10, now: NOW });
      const before = { ...store.calls };

      const outcomes = await ledger.acceptMany(JOB, RUN, [offer('menu', 'p2'), offer('menu', 'p3')], {
        maxPages: 10,
        now: NOW,
      });

      expect(outcomes).toEqual(['duplicate', 'duplicate']);
      expect(store.calls).toEqual(before);
    });

    it('still answers pending to the page that accepted a link (a redelivery re-enqueues it)', async () => {
      const ledger = await newRun(new EmbeddedStateStore(), { seen: new SeenUrls() });
      await ledger.acceptMany(JOB, RUN, [offer('a', 'p1')], { maxPages: 10, now: NOW });

      expect(await ledger.acceptMany(JOB, RUN, [offer('a', 'p1')], { maxPages: 10, now: NOW })).toEqual(['pending']);
    });

    it('skips every URL with the given reason when asked (a time or cost budget ran out)', async () => {
      const ledger = await newRun(new EmbeddedStateStore());

      await ledger.skipMany(JOB, RUN, [offer('a'), offer('b')], 'budget:maxDuration', 'too old', NOW);

      const meta = await ledger.getRun(JOB, RUN);
      expect(meta?.counters).toMatchObject({ accepted: 2, admitted: 0, skipped: 2 });
      expect(terminalCount(meta as NonNullable<typeof meta>)).toBe(2);
    });
  });

  describe('Method: transition / applyCounters', () => {
    it('moves each URL once; a redelivered object owns what it moved, another object owns nothing', async () => {
      const ledger = await newRun(new EmbeddedStateStore());
      await ledger.acceptMany(JOB, RUN, [offer('a'), offer('b')], { maxPages: 10, now: NOW });
      const moves = [
        { url: offer('a').url, state: 'parsed' as const, keys: ['k1'] },
        { url: offer('b').url, state: 'failed' as const, reason: 'http-404', message: 'gone' },
      ];

      const first = await ledger.transition(JOB, RUN, 'b1', moves);
      const redelivered = await ledger.transition(JOB, RUN, 'b1', moves);
      const other = await ledger.transition(JOB, RUN, 'b2', moves);

      expect([...first.moved].sort()).toEqual([offer('a').url, offer('b').url]);
      expect([...redelivered.owned].sort()).toEqual([offer('a').url, offer('b').url]);
      expect(redelivered.moved.size).toBe(0);
      expect(other.owned.size).toBe(0);
      expect(await ledger.getUrl(JOB, RUN, offer('b').url)).toMatchObject({ status: 'failed', reason: 'http-404', batch: 'b1' });
    });

    it('adds a records object’s counters once, however often it is delivered', async () => {
      const ledger = await newRun(new EmbeddedStateStore());

      const applied = await ledger.applyCounters(JOB, RUN, 'b1', { parsed: 2, items: 7 }, NOW);
      const again = await ledger.applyCounters(JOB, RUN, 'b1', { parsed: 2, items: 7 }, NOW);

      expect([applied, again]).toEqual([true, false]);
      expect((await ledger.getRun(JOB, RUN))?.counters).toMatchObject({ parsed: 2, items: 7 });
    });

    it('spreads counters over shards: many objects, one sum', async () => {
      const store = new EmbeddedStateStore();
      const ledger = await newRun(store);

      for (let batch = 0; batch < 40; batch++) await ledger.applyCounters(JOB, RUN, `b${batch}`, { parsed: 1 }, NOW);

      const shards = [];
      for await (const shard of store.query(`run#${JOB}#${RUN}`, 'c#')) shards.push(shard);
      expect(shards.length).toBeGreaterThan(4);
      expect((await ledger.getRun(JOB, RUN))?.counters.parsed).toBe(40);
    });
  });

  describe('Method: failBatch', () => {
    it('fails the pages of a dead-lettered records object that it left pending or moved without counting, once', async () => {
      const ledger = await newRun(new EmbeddedStateStore());
      await ledger.acceptMany(JOB, RUN, [offer('a'), offer('b'), offer('c')], { maxPages: 10, now: NOW });
      // The object moved a and b, then died before its counters (and maybe its datasets) were written.
      await ledger.transition(JOB, RUN, 'b1', [
        { url: offer('a').url, state: 'parsed', keys: [] },
        { url: offer('b').url, state: 'failed', reason: 'http-404', message: 'gone' },
      ]);
      const failure = { reason: 'dead-lettered', message: 'last error: boom' } as const;

      const ended = await ledger.failBatch(JOB, RUN, 'b1', [offer('a').url, offer('b').url, offer('c').url], failure, NOW);
      const again = await ledger.failBatch(JOB, RUN, 'b1', [offer('a').url, offer('b').url, offer('c').url], failure, NOW);
      const late = await ledger.applyCounters(JOB, RUN, 'b1', { parsed: 1, failed: 1 }, NOW);

      expect([...ended].sort()).toEqual([offer('a').url, offer('b').url, offer('c').url]);
      expect(again.size).toBe(0);
      expect(late).toBe(false);
      expect(await ledger.getUrl(JOB, RUN, offer('a').url)).toMatchObject({ status: 'failed', reason: 'dead-lettered' });
      expect(await ledger.getUrl(JOB, RUN, offer('b').url)).toMatchObject({ status: 'failed', reason: 'http-404' });
      const meta = await ledger.getRun(JOB, RUN);
      expect(meta?.counters).toMatchObject({ accepted: 3, parsed: 0, failed: 3 });
    });

    it('changes nothing when the object did all its work (its receipt exists)', async () => {
      const ledger = await newRun(new EmbeddedStateStore());
      await ledger.acceptMany(JOB, RUN, [offer('a')], { maxPages: 10, now: NOW });
      await ledger.transition(JOB, RUN, 'b1', [{ url: offer('a').url, state: 'parsed', keys: [] }]);
      await ledger.applyCounters(JOB, RUN, 'b1', { parsed: 1 }, NOW);

      const ended = await ledger.failBatch(JOB, RUN, 'b1', [offer('a').url], { reason: 'dead-lettered', message: 'x' }, NOW);

      expect(ended.size).toBe(0);
      expect(await ledger.getUrl(JOB, RUN, offer('a').url)).toMatchObject({ status: 'parsed' });
    });
  });

  describe('Method: complete', () => {
    it('counts only the moves it makes: a repeated call adds nothing', async () => {
      const ledger = await newRun(new EmbeddedStateStore());
      await ledger.acceptMany(JOB, RUN, [offer('a')], { maxPages: 10, now: NOW });
      const completion = { url: offer('a').url, state: 'failed' as const, reason: 'dead-lettered', message: 'x' };

      const first = await ledger.complete(JOB, RUN, [completion]);
      const second = await ledger.complete(JOB, RUN, [completion]);

      expect([first.size, second.size]).toEqual([1, 0]);
      expect((await ledger.getRun(JOB, RUN))?.counters).toMatchObject({ accepted: 1, failed: 1 });
    });
  });
});

describe('Function: mapLimited', () => {
  it('starts nothing after a task fails, and throws the first error once the tasks in flight have settled', async () => {
    const started: number[] = [];
    let settled = 0;
    const task = async (n: number) => {
      started.push(n);
      await new Promise((resolve) => setTimeout(resolve, n === 1 ? 5 : 20));
      settled++;
      if (n === 1) throw new Error('task 1 failed');
      return n;
    };

    await expect(mapLimited([0, 1, 2, 3, 4, 5], 2, task)).rejects.toThrow('task 1 failed');

    // Tasks 0 and 1 start; 1 fails first; 2 starts in its place only if 1 had succeeded.
    expect(started).toEqual([0, 1]);
    expect(settled).toBe(2);
  });
});
