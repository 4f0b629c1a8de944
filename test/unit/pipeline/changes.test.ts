import { describe, expect, it } from 'vitest';
import { ItemMemory } from '../../../shared/pipeline/changes.js';
import { RunLedger } from '../../../shared/pipeline/ledger.js';
import { urlId } from '../../../shared/url.js';
import { CountingStore } from '../../support/counting-store.js';

const JOB = 'shop';
const NOW = 1_800_000_000_000;
const page = (name: string) => `https://shop.example/${name}`;

/** An item memory and ledger over one counting store, and a sighting helper that claims through the ledger. */
function setup() {
  const state = new CountingStore();
  const items = new ItemMemory(state);
  const ledger = new RunLedger(state);
  const see = (runId: string, batchId: string, on: string, data: Record<string, unknown>, record = true) =>
    items
      .lookup(JOB, ['k1'])
      .then((known) =>
        items.observe(
          JOB,
          runId,
          batchId,
          { key: 'k1', data, page: page(on), pageUrl: page(on) },
          { record, known, claim: () => ledger.claimItem(JOB, runId, 'k1', page(on), NOW) },
        ),
      );
  return { state, items, see };
}

describe('Class: ItemMemory', () => {
  describe('Method: observe', () => {
    it('claims a key new to the job by creating its memory: one write, no claim item; a second page of the run is a duplicate', async () => {
      const { state, see } = setup();

      const first = await see('r1', 'b1', 'a', { price: 1 });
      const writesForNew = state.writes;
      const second = await see('r1', 'b2', 'b', { price: 2 });

      expect(first).toEqual({ duplicate: false, change: expect.objectContaining({ type: 'new', key: 'k1' }) });
      expect(writesForNew).toBe(1);
      expect(second).toEqual({ duplicate: true });
    });

    it('finds the other page behind a stale batch read: the create fails, and the item it finds names the owner', async () => {
      const { state, see } = setup();
      await see('r1', 'b1', 'a', { price: 1 });

      state.stale = true;
      const second = await see('r1', 'b2', 'b', { price: 2 });

      expect(second).toEqual({ duplicate: true });
    });

    it('reports the same change when a batch is delivered again', async () => {
      const { see } = setup();
      const first = await see('r1', 'b1', 'a', { price: 1 });

      const again = await see('r1', 'b1', 'a', { price: 1 });

      expect(again).toEqual(first);
    });

    it('claims a key the job knows through the run claim: the first page of the next run keeps it, changed or not', async () => {
      const { see } = setup();
      await see('r1', 'b1', 'a', { price: 1 });

      const changed = await see('r2', 'b1', 'b', { price: 2 });
      const onThirdPage = await see('r2', 'b2', 'c', { price: 2 });
      const unchanged = await see('r3', 'b1', 'c', { price: 2 });
      const unchangedElsewhere = await see('r3', 'b2', 'a', { price: 2 });

      expect(changed).toEqual({
        duplicate: false,
        change: expect.objectContaining({ type: 'changed', diff: { price: { before: 1, after: 2 } } }),
      });
      expect(onThirdPage).toEqual({ duplicate: true });
      expect(unchanged).toEqual({ duplicate: false, change: undefined });
      expect(unchangedElsewhere).toEqual({ duplicate: true });
    });

    it('keeps two overlapping runs apart: a page of one run never makes a page of the other a duplicate', async () => {
      const { see } = setup();

      const runOne = await see('r1', 'b1', 'a', { price: 1 });
      const runTwo = await see('r2', 'b1', 'x', { price: 1 });
      const runOneAgain = await see('r1', 'b2', 'b', { price: 1 });

      expect(runOne).toMatchObject({ duplicate: false });
      expect(runTwo).toMatchObject({ duplicate: false });
      expect(runOneAgain).toEqual({ duplicate: true });
    });

    it('keeps the claim of a key created by one run when an overlapping run rewrites its memory', async () => {
      const { see } = setup();
      await see('r1', 'b1', 'a', { price: 1 });

      // r2 changes the item on page a, then sees it unchanged on page x (its memory's page moves to x)
      const runTwoChanged = await see('r2', 'b1', 'a', { price: 2 });
      const runTwoElsewhere = await see('r2', 'b2', 'x', { price: 2 });
      const runOneOnB = await see('r1', 'b2', 'b', { price: 2 });
      const runOneOnX = await see('r1', 'b3', 'x', { price: 2 });

      expect(runTwoChanged).toMatchObject({ duplicate: false, change: { type: 'changed' } });
      expect(runTwoElsewhere).toEqual({ duplicate: true });
      expect(runOneOnB).toEqual({ duplicate: true });
      expect(runOneOnX).toEqual({ duplicate: true });
    });

    it('lifts the expiry of a removed item seen again', async () => {
      const { state, items, see } = setup();
      await see('r1', 'b1', 'a', { price: 1 });
      for await (const item of items.all(JOB)) await items.remove(JOB, item, 'r2', NOW);

      await see('r3', 'b1', 'a', { price: 1 });

      const [remembered] = await state.getMany([{ pk: `items#${JOB}`, sk: `k#${urlId('k1')}` }]);
      expect(remembered).toMatchObject({ removedRun: null, expiresAt: null });
      expect(typeof remembered?.hash).toBe('string');
    });

    it('moves nothing without record (a reparse), and still dedups within its run through the claim', async () => {
      const { state, items, see } = setup();

      const first = await see('r9', 'b1', 'a', { price: 1 }, false);
      const second = await see('r9', 'b2', 'b', { price: 1 }, false);

      expect(first).toEqual({ duplicate: false, change: expect.objectContaining({ type: 'new' }) });
      expect(second).toEqual({ duplicate: true });
      const remembered: unknown[] = [];
      for await (const item of items.all(JOB)) remembered.push(item);
      expect(remembered).toEqual([]);
      expect(state.calls.tryWrite).toBe(2);
    });
  });
});
