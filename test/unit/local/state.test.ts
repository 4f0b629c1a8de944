import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { EmbeddedStateStore, prefixSuccessor } from '../../../shared/local/state.js';
import { DiskFullError } from '../../../shared/local/state-errors.js';
import { collect } from '../../fixtures/iterables.js';
import { tempDirEach } from '../../fixtures/temp-dir.js';

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

  describe('Method: tryWrite / getMany', () => {
    it('tryWrite returns the item after, or the item as it is when the condition fails', async () => {
      const store = new EmbeddedStateStore();
      const created = await store.tryWrite({ pk: 'p', sk: 'a', set: { owner: 'x' }, condition: { kind: 'absent' } });
      const refused = await store.tryWrite({ pk: 'p', sk: 'a', set: { owner: 'y' }, condition: { kind: 'absent' } });
      const missing = await store.tryWrite({ pk: 'p', sk: 'b', set: { owner: 'y' }, condition: { kind: 'exists' } });

      expect(created).toEqual({ ok: true, item: { owner: 'x' } });
      expect(refused).toEqual({ ok: false, current: { owner: 'x' } });
      expect(missing).toEqual({ ok: false, current: undefined });
    });

    it('getMany returns items in the order of the keys and refuses more than 100', async () => {
      const store = new EmbeddedStateStore();
      await store.write({ pk: 'p', sk: 'a', set: { v: 1 } });
      await store.write({ pk: 'p', sk: 'c', set: { v: 3 } });

      expect(
        await store.getMany([
          { pk: 'p', sk: 'c' },
          { pk: 'p', sk: 'b' },
          { pk: 'p', sk: 'a' },
        ]),
      ).toEqual([{ v: 3 }, undefined, { v: 1 }]);
      const keys = Array.from({ length: 101 }, (_, index) => ({ pk: 'p', sk: String(index) }));
      await expect(store.getMany(keys)).rejects.toThrow('getMany takes at most 100 keys, got 101');
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

    it.each([
      ['LIKE wildcards', 'a%', ['a%', 'a%b', 'a%\u{10FFFF}'], ['a', 'ab', 'a&', 'a_b']],
      ['an underscore', 'a_', ['a_', 'a_x'], ['aa_', 'ab', 'a`']],
      ['a last code point of U+FFFF', 'a\uffff', ['a\uffff', 'a\uffffz'], ['a\u{10000}', 'a\ufffe']],
      ['a last code point of U+D7FF', 'a\ud7ff', ['a\ud7ff', 'a\ud7ffz'], ['a\ue000', 'a\ud7fe']],
      ['a last code point of U+10FFFF', 'a\u{10FFFF}', ['a\u{10FFFF}', 'a\u{10FFFF}\u{10FFFF}'], ['b', 'a\uffff']],
      ['a NUL character', 'a\u0000', ['a\u0000', 'a\u0000b'], ['a', 'a\u0001']],
    ] as const)('selects exactly the keys starting with a prefix ending in %s', async (_what, prefix, inside, outside) => {
      // Prepare
      const store = new EmbeddedStateStore();
      for (const sk of [...inside, ...outside]) await store.write({ pk: 'p', sk, set: { v: 1 } });

      // Act
      const keys = (await collect(store.query('p', prefix))).map((item) => item.sk);

      // Assess
      expect(keys).toEqual([...inside].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
    });

    it('computes the first string after every string with a prefix', () => {
      expect(prefixSuccessor('')).toBeUndefined();
      expect(prefixSuccessor('url#')).toBe('url$');
      expect(prefixSuccessor('a\u{10FFFF}')).toBe('b');
      expect(prefixSuccessor('\u{10FFFF}\u{10FFFF}')).toBeUndefined();
      expect(prefixSuccessor('a\ud7ff')).toBe('a\ue000');
      expect(prefixSuccessor('a\uffff')).toBe('a\u{10000}');
    });

    it('reads a partition page by page, letting the caller write while it iterates', async () => {
      // Prepare: 25 items read 4 at a time.
      const store = new EmbeddedStateStore({ queryPageSize: 4 });
      for (let index = 0; index < 25; index++) {
        await store.write({ pk: 'run', sk: `url#${String(index).padStart(2, '0')}`, set: { index, status: 'pending' } });
      }
      await store.write({ pk: 'run', sk: 'zz', set: { outside: true } });

      // Act: update every item as it is yielded, and add items behind the cursor (a write while a query is open).
      const seen: number[] = [];
      for await (const item of store.query('run', 'url#')) {
        seen.push(item.index as number);
        await store.write({ pk: 'run', sk: item.sk, set: { status: 'done' } });
        await store.transact([
          { pk: 'run', sk: `url#!${item.sk}`, set: { index: -1 } },
          { pk: 'run', sk: 'meta', add: { done: 1 } },
        ]);
      }

      // Assess: every item once, in order; every write kept.
      expect(seen).toEqual(Array.from({ length: 25 }, (_, index) => index));
      await expect(store.get('run', 'meta')).resolves.toEqual({ done: 25 });
      const after = await collect(store.query('run', 'url#'));
      expect(after).toHaveLength(50);
      expect(after.filter((item) => item.index !== -1).every((item) => item.status === 'done')).toBe(true);
    });
  });

  describe('Database file', () => {
    const dir = tempDirEach('state');
    let file: string;
    beforeEach(() => {
      file = join(dir.path, 'nested', 'state.db');
    });

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
      expect(await collect(second.query('p', ''))).toEqual([
        { sk: 'a', s: 'x', n: null, b: false },
        { sk: 'b', c: 5 },
      ]);
      expect(await collect(second.query('q', ''))).toEqual([
        { sk: '1', v: 1 },
        { sk: '2', v: 2 },
      ]);
      second.close();
    });

    it('persists nothing of a refused write or a failed transaction', async () => {
      // Prepare
      const store = new EmbeddedStateStore({ file });
      await store.write({ pk: 'p', sk: 'a', set: { v: 1 } });

      // Act
      await store.write({ pk: 'p', sk: 'a', set: { v: 2 }, condition: { kind: 'absent' } });
      await store.transact([
        { pk: 'p', sk: 'b', set: { v: 1 } },
        { pk: 'p', sk: 'c', set: { v: 1 }, condition: { kind: 'exists' } },
      ]);
      store.close();

      // Assess
      const reopened = new EmbeddedStateStore({ file });
      expect(await collect(reopened.query('p', ''))).toEqual([{ sk: 'a', v: 1 }]);
      reopened.close();
    });

    it('updates a hot item in place: 10,100 increments leave a small file', async () => {
      // Prepare
      const store = new EmbeddedStateStore({ file });
      for (let index = 0; index < 50; index++) await store.write({ pk: 'p', sk: `item-${index}`, set: { index } });

      // Act
      for (let index = 0; index < 10_100; index++) await store.write({ pk: 'p', sk: 'counter', add: { n: 1 } });
      store.close();

      // Assess
      expect(statSync(file).size).toBeLessThan(64 * 1024);
      const reopened = new EmbeddedStateStore({ file });
      await expect(reopened.get('p', 'counter')).resolves.toEqual({ n: 10_100 });
      expect(await collect(reopened.query('p', 'item-'))).toHaveLength(50);
      await expect(reopened.get('p', 'item-49')).resolves.toEqual({ index: 49 });
      reopened.close();
    });

    it('loses no acknowledged write when the process is killed with SIGKILL', async () => {
      // Prepare: a child process writing items and reporting each one acknowledged.
      const module = pathToFileURL(join(process.cwd(), 'shared', 'local', 'state.ts')).href;
      const script = [
        `const { EmbeddedStateStore } = await import(${JSON.stringify(module)});`,
        `const store = new EmbeddedStateStore({ file: ${JSON.stringify(file)} });`,
        'for (let i = 0; ; i++) {',
        "  await store.transact([{ pk: 'p', sk: 'k' + String(i).padStart(8, '0'), set: { i } }, { pk: 'p', sk: 'count', add: { n: 1 } }]);",
        "  process.stdout.write(i + '\\n');",
        '}',
      ].join('\n');
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let acknowledged = -1;
      let output = '';
      const exited = new Promise<string | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));

      // No writer outlives the test, even one that timed out.
      onTestFinished(() => {
        child.kill('SIGKILL');
      });

      // Act: kill it once it has acknowledged a few hundred writes.
      await new Promise<void>((resolve) => {
        child.stdout.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          const lines = output.split('\n');
          acknowledged = Number(lines[lines.length - 2] ?? -1);
          if (acknowledged >= 300) resolve();
        });
      });
      child.kill('SIGKILL');
      expect(await exited).toBe('SIGKILL');

      // Assess: every acknowledged transaction is there, whole.
      const store = new EmbeddedStateStore({ file });
      const count = (await store.get('p', 'count'))?.n as number;
      expect(count).toBeGreaterThan(acknowledged);
      const items = await collect(store.query('p', 'k'));
      expect(items).toHaveLength(count);
      expect(items.map((item) => item.i)).toEqual(Array.from({ length: count }, (_, index) => index));
      store.close();
    }, 90_000);

    it('deletes items whose expiresAt is past once per sweep interval, while open or when it opens, returning them until then', async () => {
      // Prepare
      let now = 1_000_000_000_000;
      const store = new EmbeddedStateStore({ file, now: () => now, expirySweepMs: 60_000 });
      await store.write({ pk: 'p', sk: 'old', set: { v: 1 }, expiresAt: now / 1000 + 10 });
      await store.write({ pk: 'p', sk: 'later', set: { v: 2 }, expiresAt: now / 1000 + 120 });
      await store.write({ pk: 'p', sk: 'forever', set: { v: 3 } });
      await store.write({ pk: 'p', sk: 'string-ttl', set: { v: 4, expiresAt: 'soon' } });

      // Act & Assess: expired but not swept yet (DynamoDB TTL is best effort too).
      now += 30_000;
      expect((await collect(store.query('p', ''))).map((item) => item.sk)).toEqual(['forever', 'later', 'old', 'string-ttl']);
      // The next sweep is due one interval after the last: the next write runs it.
      now += 31_000;
      await store.write({ pk: 'q', sk: 'x', set: { v: 1 } });
      expect((await collect(store.query('p', ''))).map((item) => item.sk)).toEqual(['forever', 'later', 'string-ttl']);
      store.close();
      now += 60_000;
      const reopened = new EmbeddedStateStore({ file, now: () => now, expirySweepMs: 60_000 });
      expect((await collect(reopened.query('p', ''))).map((item) => item.sk)).toEqual(['forever', 'string-ttl']);
      reopened.close();
    });

    it('refuses values it could not give back as written, writing nothing', async () => {
      // Prepare
      const store = new EmbeddedStateStore({ file });

      // Act & Assess
      await expect(store.write({ pk: 'p', sk: 'a', set: { n: Number.NaN } })).rejects.toThrow(
        'write to p / a: n is NaN: state numbers must be finite',
      );
      await expect(
        store.transact([
          { pk: 'p', sk: 'b', set: { v: 1 } },
          { pk: 'p', sk: 'c', add: { n: Number.POSITIVE_INFINITY } },
        ]),
      ).rejects.toThrow('write to p / c: n is Infinity');
      await expect(store.write({ pk: 'p', sk: 'd', set: { o: {} as unknown as string } })).rejects.toThrow(
        'o is a object: state values are strings, numbers, booleans or null',
      );
      expect(await collect(store.query('p', ''))).toEqual([]);
      store.close();
    });

    it('refuses a database written by a newer version', async () => {
      // Prepare
      new EmbeddedStateStore({ file }).close();
      const db = new Database(file);
      db.pragma('user_version = 99');
      db.close();

      // Act & Assess
      expect(() => new EmbeddedStateStore({ file })).toThrow(`state database ${file} has schema version 99`);
    });
  });

  describe('Disk full', () => {
    const dir = tempDirEach('state-full');

    /** Writes pages of ~1 KB until one fails; returns the acknowledged writes and the error. */
    async function fill(store: EmbeddedStateStore): Promise<{ acknowledged: number; error: unknown }> {
      const payload = 'x'.repeat(1000);
      for (let index = 0; index < 1_000_000; index++) {
        try {
          await store.transact([
            { pk: 'run#books#r1', sk: `url#${String(index).padStart(8, '0')}`, set: { payload, index } },
            { pk: 'run#books#r1', sk: 'meta', add: { accepted: 1 } },
          ]);
        } catch (error) {
          return { acknowledged: index, error };
        }
      }
      throw new Error('the disk never filled up');
    }

    async function expectIntact(store: EmbeddedStateStore, acknowledged: number): Promise<void> {
      await expect(store.get('run#books#r1', 'meta')).resolves.toEqual({ accepted: acknowledged });
      const items = await collect(store.query('run#books#r1', 'url#'));
      expect(items).toHaveLength(acknowledged);
      expect(items.map((item) => item.index)).toEqual(Array.from({ length: acknowledged }, (_, index) => index));
    }

    it('fails the write with DiskFullError, keeps every acknowledged write and works again once space is freed', async () => {
      // Prepare: a database limited to 64 pages, as if the disk held no more.
      const file = join(dir.path, 'state.db');
      const store = new EmbeddedStateStore({ file, maxPageCount: 64 });

      // Act
      const { acknowledged, error } = await fill(store);

      // Assess: a clear error, the failed transaction rolled back whole, the store still readable and writable.
      expect(acknowledged).toBeGreaterThan(10);
      expect(error).toBeInstanceOf(DiskFullError);
      expect(error).toMatchObject({ retryable: false, reason: 'disk-full' });
      expect((error as Error).message).toContain('disk full: free space, then `scrapeline run books --resume r1`');
      await expect(store.get('run#books#r1', `url#${String(acknowledged).padStart(8, '0')}`)).resolves.toBeUndefined();
      await expectIntact(store, acknowledged);
      await expect(store.write({ pk: 'run#books#r1', sk: 'meta', set: { note: 'y'.repeat(100_000) } })).rejects.toThrow(
        DiskFullError,
      );
      store.close();

      // Act: free space (a higher limit) and reopen.
      const reopened = new EmbeddedStateStore({ file });

      // Assess
      await expectIntact(reopened, acknowledged);
      await reopened.write({ pk: 'run#books#r1', sk: 'url#after', set: { ok: true } });
      await expect(reopened.get('run#books#r1', 'url#after')).resolves.toEqual({ ok: true });
      reopened.close();
    });

    const root = process.getuid?.() === 0 && process.platform === 'linux';
    it.runIf(root)(
      'survives a real full file system (a 1 MB tmpfs), then works again once files are deleted',
      async (context) => {
        // Prepare: a tiny file system, if this machine lets us mount one.
        const mountPoint = join(dir.path, 'tiny');
        mkdirSync(mountPoint);
        try {
          execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mountPoint], { stdio: 'ignore' });
        } catch {
          context.skip('mounting a tmpfs is not permitted here: the max_page_count test covers the same path');
        }
        try {
          const file = join(mountPoint, 'state.db');
          const ballast = join(mountPoint, 'ballast');
          writeFileSync(ballast, Buffer.alloc(256 * 1024));
          const store = new EmbeddedStateStore({ file });

          // Act
          const { acknowledged, error } = await fill(store);

          // Assess
          expect(error).toBeInstanceOf(DiskFullError);
          await expectIntact(store, acknowledged);
          store.close();
          rmSync(ballast);
          const reopened = new EmbeddedStateStore({ file });
          await expectIntact(reopened, acknowledged);
          await reopened.write({ pk: 'run#books#r1', sk: 'url#after', set: { ok: true } });
          await expect(reopened.get('run#books#r1', 'url#after')).resolves.toEqual({ ok: true });
          reopened.close();
        } finally {
          execFileSync('umount', [mountPoint]);
        }
      },
    );
  });

  describe('Import of state.journal (earlier versions)', () => {
    const dir = tempDirEach('state-import');
    let file: string;
    let journal: string;
    beforeEach(() => {
      file = join(dir.path, 'state.db');
      journal = join(dir.path, 'state.journal');
    });

    const line = (pk: string, sk: string, item: Record<string, unknown> | null) => `${JSON.stringify({ pk, sk, item })}\n`;

    it('imports the journal once, later lines winning and null items deleted, then renames it', async () => {
      // Prepare
      await writeFile(
        journal,
        line('p', 'a', { v: 1 }) +
          line('p', 'b', { v: 1 }) +
          line('p', 'a', { v: 2, t: null }) +
          line('p', 'b', null) +
          line('run#j#r', 'meta', { accepted: 3, expiresAt: 4_000_000_000 }),
      );

      // Act
      const store = new EmbeddedStateStore({ file });
      await store.write({ pk: 'p', sk: 'c', set: { v: 3 } });
      store.close();
      const reopened = new EmbeddedStateStore({ file });

      // Assess
      expect(await collect(reopened.query('p', ''))).toEqual([
        { sk: 'a', v: 2, t: null },
        { sk: 'c', v: 3 },
      ]);
      await expect(reopened.get('run#j#r', 'meta')).resolves.toEqual({ accepted: 3, expiresAt: 4_000_000_000 });
      expect(existsSync(journal)).toBe(false);
      expect(existsSync(`${journal}.imported`)).toBe(true);
      reopened.close();
    });

    it('does not import a journal again over newer writes when it was not renamed (a crash after the import)', async () => {
      // Prepare
      await writeFile(journal, line('p', 'a', { v: 1 }));
      const store = new EmbeddedStateStore({ file });
      await store.write({ pk: 'p', sk: 'a', set: { v: 2 } });
      store.close();
      renameSync(`${journal}.imported`, journal);

      // Act
      const reopened = new EmbeddedStateStore({ file });

      // Assess
      await expect(reopened.get('p', 'a')).resolves.toEqual({ v: 2 });
      expect(existsSync(journal)).toBe(false);
      reopened.close();
    });

    it('imports a journal larger than its read buffer, across chunk boundaries', async () => {
      // Prepare: ~2.5 MB of lines of varying length, some with multi-byte characters.
      const lines: string[] = [];
      for (let index = 0; index < 20_000; index++) {
        lines.push(line('p', `k${String(index).padStart(6, '0')}`, { i: index, s: 'é€😀'.repeat(index % 40) }));
      }
      await writeFile(journal, lines.join(''));

      // Act
      const store = new EmbeddedStateStore({ file });

      // Assess
      const items = await collect(store.query('p', 'k'));
      expect(items).toHaveLength(20_000);
      expect(items[12_345]).toEqual({ sk: 'k012345', i: 12_345, s: 'é€😀'.repeat(12_345 % 40) });
      store.close();
    });

    it('tolerates a torn last line, dropping only that write', async () => {
      // Prepare
      await writeFile(journal, `${line('p', 'a', { v: 1 })}${line('p', 'b', { v: 2 })}{"pk":"p","sk":"c","item":{"v":`);

      // Act
      const store = new EmbeddedStateStore({ file });
      await store.write({ pk: 'p', sk: 'd', set: { v: 4 } });

      // Assess
      expect(await collect(store.query('p', ''))).toEqual([
        { sk: 'a', v: 1 },
        { sk: 'b', v: 2 },
        { sk: 'd', v: 4 },
      ]);
      store.close();
    });

    it('keeps a whole last entry whose line break was not written', async () => {
      // Prepare
      await writeFile(journal, `${line('p', 'a', { v: 1 })}${JSON.stringify({ pk: 'p', sk: 'b', item: { v: 2 } })}`);

      // Act
      const store = new EmbeddedStateStore({ file });

      // Assess
      expect(await collect(store.query('p', ''))).toEqual([
        { sk: 'a', v: 1 },
        { sk: 'b', v: 2 },
      ]);
      store.close();
    });

    it('skips blank lines', async () => {
      // Prepare
      await writeFile(journal, `${line('p', 'a', { v: 'a' })}\n\n${line('p', 'b', { v: 'b' })}`);

      // Act
      const store = new EmbeddedStateStore({ file });

      // Assess
      expect((await collect(store.query('p', ''))).map((item) => item.sk)).toEqual(['a', 'b']);
      store.close();
    });

    it('reports corruption before the last line, naming the file and line, and imports nothing', async () => {
      // Prepare
      await writeFile(journal, `${line('p', 'a', { v: 1 })}{not json\n${line('p', 'b', { v: 1 })}${line('p', 'c', { v: 1 })}`);

      // Act & Assess
      expect(() => new EmbeddedStateStore({ file })).toThrow(`state journal ${journal} is corrupt at line 2`);
      expect(existsSync(journal)).toBe(true);
      const store = new EmbeddedStateStore({ file, legacyJournal: null });
      expect(await collect(store.query('p', ''))).toEqual([]);
      store.close();
    });
  });
});
