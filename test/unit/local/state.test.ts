import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EmbeddedStateStore } from '../../../shared/local/state.js';
import type { StateItem } from '../../../shared/ports.js';
import { makeTempDir, type TempDir } from '../../fixtures/temp-dir.js';

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const value of iterable) out.push(value);
  return out;
}

async function lineCount(file: string): Promise<number> {
  return (await readFile(file, 'utf8')).split('\n').filter((line) => line !== '').length;
}

describe('Class: EmbeddedStateStore', () => {
  describe('Method: write / get', () => {
    it('returns undefined for an item never written', async () => {
      // Prepare
      const store = new EmbeddedStateStore();

      // Act & Assess
      await expect(store.get('pk', 'sk')).resolves.toBeUndefined();
    });

    it('upserts attributes and returns the item after the write', async () => {
      // Prepare
      const store = new EmbeddedStateStore();
      await store.write({ pk: 'run#1', sk: 'url#a', set: { status: 'pending', depth: 0, template: null } });

      // Act
      const after = await store.write({ pk: 'run#1', sk: 'url#a', set: { status: 'done', ok: true } });

      // Assess
      expect(after).toEqual({ status: 'done', depth: 0, template: null, ok: true });
      await expect(store.get('run#1', 'url#a')).resolves.toEqual(after);
    });

    it('hands out copies that do not change the stored item', async () => {
      // Prepare
      const store = new EmbeddedStateStore();
      const written = (await store.write({ pk: 'p', sk: 's', set: { a: 1 } })) as Record<string, unknown>;
      const read = (await store.get('p', 's')) as Record<string, unknown>;

      // Act
      written.a = 2;
      read.a = 3;

      // Assess
      await expect(store.get('p', 's')).resolves.toEqual({ a: 1 });
    });

    it('adds to counters, starting missing ones at 0', async () => {
      // Prepare
      const store = new EmbeddedStateStore();

      // Act
      await store.write({ pk: 'p', sk: 'counters', add: { pages: 1, bytes: 100 } });
      await store.write({ pk: 'p', sk: 'counters', add: { pages: 1, failed: 1 } });
      const after = await store.write({ pk: 'p', sk: 'counters', add: { pages: -3, bytes: 0.5 } });

      // Assess
      expect(after).toEqual({ pages: -1, bytes: 100.5, failed: 1 });
    });

    it('applies set before add in one write, and stores expiresAt', async () => {
      // Prepare
      const store = new EmbeddedStateStore();

      // Act
      const after = await store.write({ pk: 'p', sk: 's', set: { n: 10, label: 'x' }, add: { n: 5 }, expiresAt: 1_700_000_000 });

      // Assess
      expect(after).toEqual({ n: 15, label: 'x', expiresAt: 1_700_000_000 });
    });

    it.each([
      ['absent on a missing item', undefined, { kind: 'absent' }, true],
      ['absent on an existing item', { v: 1 }, { kind: 'absent' }, false],
      ['exists on an existing item', { v: 1 }, { kind: 'exists' }, true],
      ['exists on a missing item', undefined, { kind: 'exists' }, false],
      ['equals with the same value', { status: 'pending' }, { kind: 'equals', attribute: 'status', value: 'pending' }, true],
      ['equals with another value', { status: 'done' }, { kind: 'equals', attribute: 'status', value: 'pending' }, false],
      ['equals with another type', { n: 1 }, { kind: 'equals', attribute: 'n', value: '1' }, false],
      ['equals null on a null attribute', { t: null }, { kind: 'equals', attribute: 't', value: null }, true],
      ['equals null on a missing attribute', { v: 1 }, { kind: 'equals', attribute: 't', value: null }, false],
      ['equals on a missing item', undefined, { kind: 'equals', attribute: 'status', value: 'pending' }, false],
      ['lessThan with a smaller number', { n: 4 }, { kind: 'lessThan', attribute: 'n', value: 5 }, true],
      ['lessThan with an equal number', { n: 5 }, { kind: 'lessThan', attribute: 'n', value: 5 }, false],
      ['lessThan with a string', { n: '4' }, { kind: 'lessThan', attribute: 'n', value: 5 }, false],
      ['lessThan with a missing attribute', { v: 1 }, { kind: 'lessThan', attribute: 'n', value: 5 }, false],
      ['lessThan on a missing item', undefined, { kind: 'lessThan', attribute: 'n', value: 5 }, false],
    ] as const)('checks the condition %s', async (_what, existing, condition, holds) => {
      // Prepare
      const store = new EmbeddedStateStore();
      if (existing) await store.write({ pk: 'p', sk: 's', set: existing });

      // Act
      const result = await store.write({ pk: 'p', sk: 's', set: { written: true }, condition });

      // Assess
      expect(result === undefined ? 'refused' : 'written').toBe(holds ? 'written' : 'refused');
      expect((await store.get('p', 's'))?.written).toBe(holds ? true : undefined);
    });
  });

  describe('Method: transact', () => {
    it('writes every item when every condition holds', async () => {
      // Prepare
      const store = new EmbeddedStateStore();
      await store.write({ pk: 'run', sk: 'meta', set: { pending: 2 } });

      // Act
      const result = await store.transact([
        { pk: 'run', sk: 'url#a', set: { status: 'pending' }, condition: { kind: 'absent' } },
        { pk: 'run', sk: 'meta', add: { pending: 1 }, condition: { kind: 'lessThan', attribute: 'pending', value: 10 } },
      ]);

      // Assess
      expect(result).toEqual({ ok: true });
      await expect(store.get('run', 'url#a')).resolves.toEqual({ status: 'pending' });
      await expect(store.get('run', 'meta')).resolves.toEqual({ pending: 3 });
    });

    it('writes nothing and names every failed write when any condition fails', async () => {
      // Prepare
      const store = new EmbeddedStateStore();
      await store.write({ pk: 'run', sk: 'url#b', set: { status: 'done' } });

      // Act
      const result = await store.transact([
        { pk: 'run', sk: 'url#a', set: { status: 'pending' }, condition: { kind: 'absent' } },
        { pk: 'run', sk: 'url#b', set: { status: 'pending' }, condition: { kind: 'absent' } },
        { pk: 'run', sk: 'meta', add: { pending: 1 } },
        { pk: 'run', sk: 'url#c', set: { status: 'x' }, condition: { kind: 'exists' } },
      ]);

      // Assess
      expect(result).toEqual({ ok: false, failed: [1, 3] });
      await expect(store.get('run', 'url#a')).resolves.toBeUndefined();
      await expect(store.get('run', 'meta')).resolves.toBeUndefined();
      await expect(store.get('run', 'url#b')).resolves.toEqual({ status: 'done' });
    });

    it('refuses a transaction writing one item twice, as DynamoDB does, and writes nothing', async () => {
      // Prepare
      const store = new EmbeddedStateStore();

      // Act
      const twice = store.transact([
        { pk: 'p', sk: 's', set: { n: 1 } },
        { pk: 'p', sk: 's', add: { n: 2 } },
      ]);

      // Assess
      await expect(twice).rejects.toThrow('a transaction cannot write one item twice');
      await expect(store.get('p', 's')).resolves.toBeUndefined();
    });

    it('accepts an empty transaction and 100 writes, and refuses 101', async () => {
      // Prepare
      const store = new EmbeddedStateStore();
      const writes = (count: number) =>
        Array.from({ length: count }, (_, index) => ({ pk: 'p', sk: `s${index}`, set: { i: index } }));

      // Act & Assess
      await expect(store.transact([])).resolves.toEqual({ ok: true });
      await expect(store.transact(writes(100))).resolves.toEqual({ ok: true });
      await expect(store.transact(writes(101))).rejects.toThrow('a transaction holds at most 100 writes, got 101');
      await expect(store.get('p', 's100')).resolves.toBeUndefined();
    });
  });

  describe('Method: query', () => {
    it('yields the items of one partition whose sort key starts with the prefix, in ascending order', async () => {
      // Prepare
      const store = new EmbeddedStateStore();
      for (const sk of ['url#c', 'url#a', 'meta', 'url#b', 'urk', 'url#', 'url#a#2'])
        await store.write({ pk: 'run-1', sk, set: { sk2: sk } });
      await store.write({ pk: 'run-2', sk: 'url#z', set: { x: 1 } });

      // Act
      const items = await collect(store.query('run-1', 'url#'));

      // Assess
      expect(items.map((item) => item.sk)).toEqual(['url#', 'url#a', 'url#a#2', 'url#b', 'url#c']);
      expect(items[1]).toEqual({ sk: 'url#a', sk2: 'url#a' });
    });

    it('yields everything with an empty prefix and nothing for an unknown partition', async () => {
      // Prepare
      const store = new EmbeddedStateStore();
      await store.write({ pk: 'p', sk: 'b', set: { v: 1 } });
      await store.write({ pk: 'p', sk: 'a', set: { v: 2 } });

      // Act & Assess
      expect((await collect(store.query('p', ''))).map((item) => item.sk)).toEqual(['a', 'b']);
      expect(await collect(store.query('other', ''))).toEqual([]);
    });

    it('orders sort keys by UTF-8 bytes, as DynamoDB does', async () => {
      // Prepare
      const store = new EmbeddedStateStore();
      await store.write({ pk: 'p', sk: 'k\u{1F600}', set: { v: 1 } });
      await store.write({ pk: 'p', sk: 'k\uff5a', set: { v: 2 } });

      // Act
      const keys = (await collect(store.query('p', 'k'))).map((item) => item.sk);

      // Assess
      expect(keys).toEqual(['k\uff5a', 'k\u{1F600}']);
    });
  });

  describe('Journal', () => {
    let dir: TempDir;
    let file: string;
    beforeEach(async () => {
      dir = await makeTempDir('state');
      file = join(dir.path, 'nested', 'state.jsonl');
    });
    afterEach(async () => {
      await dir.remove();
    });

    async function snapshot(store: EmbeddedStateStore, pk: string): Promise<StateItem[]> {
      return collect(store.query(pk, ''));
    }

    it('keeps every acknowledged write across a reopen of the same file', async () => {
      // Prepare
      const first = new EmbeddedStateStore({ file });
      await first.write({ pk: 'p', sk: 'a', set: { s: 'x', n: null, b: false } });
      await first.write({ pk: 'p', sk: 'b', add: { c: 2 } });
      await first.write({ pk: 'p', sk: 'b', add: { c: 3 } });
      await first.transact([
        { pk: 'q', sk: '1', set: { v: 1 } },
        { pk: 'q', sk: '2', set: { v: 2 } },
      ]);
      await first.write({ pk: 'p', sk: 'a', set: { s: 'refused' }, condition: { kind: 'absent' } });
      first.close();

      // Act
      const second = new EmbeddedStateStore({ file });

      // Assess
      expect(await snapshot(second, 'p')).toEqual([
        { sk: 'a', s: 'x', n: null, b: false },
        { sk: 'b', c: 5 },
      ]);
      expect(await snapshot(second, 'q')).toEqual([
        { sk: '1', v: 1 },
        { sk: '2', v: 2 },
      ]);
      second.close();
    });

    it('appends one line per changed item and nothing for a refused write', async () => {
      // Prepare
      const store = new EmbeddedStateStore({ file });

      // Act
      await store.write({ pk: 'p', sk: 'a', set: { v: 1 } });
      await store.write({ pk: 'p', sk: 'a', set: { v: 2 }, condition: { kind: 'absent' } });
      await store.transact([
        { pk: 'p', sk: 'b', set: { v: 1 } },
        { pk: 'p', sk: 'c', set: { v: 1 } },
      ]);
      await store.transact([{ pk: 'p', sk: 'd', set: { v: 1 }, condition: { kind: 'exists' } }]);
      store.close();

      // Assess
      expect(await lineCount(file)).toBe(3);
    });

    it('tolerates a torn last line, dropping only that write', async () => {
      // Prepare
      const store = new EmbeddedStateStore({ file });
      await store.write({ pk: 'p', sk: 'a', set: { v: 1 } });
      await store.write({ pk: 'p', sk: 'b', set: { v: 2 } });
      store.close();
      await appendFile(file, '{"pk":"p","sk":"c","item":{"v":');

      // Act
      const reopened = new EmbeddedStateStore({ file });

      // Assess
      expect(await snapshot(reopened, 'p')).toEqual([
        { sk: 'a', v: 1 },
        { sk: 'b', v: 2 },
      ]);
      reopened.close();
    });

    it('keeps writes made after recovering from a torn last line', async () => {
      // Prepare
      const store = new EmbeddedStateStore({ file });
      await store.write({ pk: 'p', sk: 'a', set: { v: 1 } });
      store.close();
      await appendFile(file, '{"pk":"p","sk":"torn"');
      const recovered = new EmbeddedStateStore({ file });
      await recovered.write({ pk: 'p', sk: 'b', set: { v: 2 } });
      await recovered.write({ pk: 'p', sk: 'c', set: { v: 3 } });
      recovered.close();

      // Act
      const reopened = new EmbeddedStateStore({ file });

      // Assess
      expect(await snapshot(reopened, 'p')).toEqual([
        { sk: 'a', v: 1 },
        { sk: 'b', v: 2 },
        { sk: 'c', v: 3 },
      ]);
      reopened.close();
    });

    it('keeps a whole last entry whose line break was not written, and the writes after it', async () => {
      // Prepare
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, `${JSON.stringify({ pk: 'p', sk: 'a', item: { v: 1 } })}`);
      const recovered = new EmbeddedStateStore({ file });
      await recovered.write({ pk: 'p', sk: 'b', set: { v: 2 } });
      recovered.close();

      // Act
      const reopened = new EmbeddedStateStore({ file });

      // Assess
      expect(await snapshot(reopened, 'p')).toEqual([
        { sk: 'a', v: 1 },
        { sk: 'b', v: 2 },
      ]);
      expect(await lineCount(file)).toBe(2);
      reopened.close();
    });

    it('reports corruption before the last line, naming the file and line', async () => {
      // Prepare
      const good = (sk: string) => JSON.stringify({ pk: 'p', sk, item: { v: 1 } });
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, `${good('a')}\n{not json\n${good('b')}\n${good('c')}\n`);

      // Act & Assess
      expect(() => new EmbeddedStateStore({ file })).toThrow(`state journal ${file} is corrupt at line 2`);
    });

    it('skips blank lines', async () => {
      // Prepare
      const good = (sk: string) => JSON.stringify({ pk: 'p', sk, item: { v: sk } });
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, `${good('a')}\n\n\n${good('b')}\n`);

      // Act
      const store = new EmbeddedStateStore({ file });

      // Assess
      expect((await snapshot(store, 'p')).map((item) => item.sk)).toEqual(['a', 'b']);
      store.close();
    });

    it('compacts a journal much larger than the live data, keeping every item', async () => {
      // Prepare
      const store = new EmbeddedStateStore({ file });
      for (let index = 0; index < 50; index++) await store.write({ pk: 'p', sk: `item-${index}`, set: { index } });

      // Act
      for (let index = 0; index < 10_100; index++) await store.write({ pk: 'p', sk: 'counter', add: { n: 1 } });
      store.close();

      // Assess
      expect(await lineCount(file)).toBeLessThan(1000);
      const reopened = new EmbeddedStateStore({ file });
      await expect(reopened.get('p', 'counter')).resolves.toEqual({ n: 10_100 });
      expect(await collect(reopened.query('p', 'item-'))).toHaveLength(50);
      await expect(reopened.get('p', 'item-49')).resolves.toEqual({ index: 49 });
      reopened.close();
    });

    it('keeps writing to the compacted journal', async () => {
      // Prepare
      const store = new EmbeddedStateStore({ file, compactionRatio: 2 });
      for (let index = 0; index < 10_010; index++) await store.write({ pk: 'p', sk: 'x', set: { index } });

      // Act
      await store.write({ pk: 'p', sk: 'after', set: { ok: true } });
      store.close();

      // Assess
      const reopened = new EmbeddedStateStore({ file });
      await expect(reopened.get('p', 'x')).resolves.toEqual({ index: 10_009 });
      await expect(reopened.get('p', 'after')).resolves.toEqual({ ok: true });
      expect(await lineCount(file)).toBeLessThan(100);
      reopened.close();
    });
  });
});
