import { GetItemCommand, type QueryCommandInput } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildUpdate, DynamoStateStore } from '../../shared/aws/dynamo-state-store.js';
import { StateWriteError, TransactionConflictError } from '../../shared/aws/errors.js';
import type { StateItem } from '../../shared/ports.js';
import { collect } from '../fixtures/iterables.js';
import { type AwsPeers, startAwsPeers } from '../support/aws-peers.js';

describe('Class: DynamoStateStore', () => {
  let peers: AwsPeers;
  let store: DynamoStateStore;
  let partition = 0;
  /** A fresh partition key per test. */
  const pk = () => `p${++partition}`;

  beforeAll(async () => {
    peers = await startAwsPeers();
    store = new DynamoStateStore({ client: peers.clients.dynamodb, tableName: peers.tableName });
  });
  afterAll(async () => {
    await peers?.stop();
  });

  describe('Method: tryWrite', () => {
    it('returns the item after a write, and the item as it is when the condition fails', async () => {
      const key = pk();
      const created = await store.tryWrite({ pk: key, sk: 'a', set: { owner: 'x' }, condition: { kind: 'absent' } });
      const refused = await store.tryWrite({ pk: key, sk: 'a', set: { owner: 'y' }, condition: { kind: 'absent' } });
      const missing = await store.tryWrite({ pk: key, sk: 'b', set: { owner: 'y' }, condition: { kind: 'exists' } });

      expect(created).toEqual({ ok: true, item: { pk: key, sk: 'a', owner: 'x' } });
      expect(refused).toEqual({ ok: false, current: { pk: key, sk: 'a', owner: 'x' } });
      expect(missing).toEqual({ ok: false, current: undefined });
      expect(await store.get(key, 'b')).toBeUndefined();
    });
  });

  describe('Method: reportingCapacity', () => {
    it('reports the units each request consumed, by item size, failed conditions and transactions included', async () => {
      const key = pk();
      const consumed: { readUnits: number; writeUnits: number }[] = [];
      const reporting = store.reportingCapacity((units) => consumed.push(units));
      const large = 'x'.repeat(1500);

      await reporting.write({ pk: key, sk: 'a', set: { body: large } });
      await reporting.tryWrite({ pk: key, sk: 'a', set: { body: 'y' }, condition: { kind: 'absent' } });
      await reporting.transact([{ pk: key, sk: 'b', set: { v: 1 } }]);
      await reporting.get(key, 'a');
      await reporting.getMany([{ pk: key, sk: 'a' }]);

      // 1.5 KB: two write units; the refused write is billed by the item it found; a transaction doubles; a
      // consistent read of up to 4 KB is one unit, an eventually consistent one half.
      expect(consumed).toEqual([
        { readUnits: 0, writeUnits: 2 },
        { readUnits: 0, writeUnits: 2 },
        { readUnits: 0, writeUnits: 2 },
        { readUnits: 1, writeUnits: 0 },
        { readUnits: 0.5, writeUnits: 0 },
      ]);
      // The store itself reports nothing and asks for nothing.
      await store.write({ pk: key, sk: 'c', set: { v: 1 } });
      expect(consumed).toHaveLength(5);
    });
  });

  describe('Method: getMany', () => {
    it('returns items in the order of the keys, undefined where there is none, repeated keys included', async () => {
      const key = pk();
      for (const sk of ['a', 'b', 'c']) await store.write({ pk: key, sk, set: { v: sk } });
      const keys = ['c', 'x', 'a', 'c'].map((sk) => ({ pk: key, sk }));

      const items = await store.getMany(keys);

      expect(items).toEqual([
        { pk: key, sk: 'c', v: 'c' },
        undefined,
        { pk: key, sk: 'a', v: 'a' },
        { pk: key, sk: 'c', v: 'c' },
      ]);
    });

    it('refuses more than 100 keys', async () => {
      const keys = Array.from({ length: 101 }, (_, index) => ({ pk: 'p', sk: String(index) }));
      await expect(store.getMany(keys)).rejects.toThrow('getMany takes at most 100 keys, got 101');
    });
  });

  describe('Method: write', () => {
    it('upserts: sets attributes, adds counters from 0, sets expiresAt, and returns the item after', async () => {
      const key = pk();

      const first = await store.write({
        pk: key,
        sk: 'a',
        set: { name: 'x', flag: true },
        add: { count: 2 },
        expiresAt: 1_900_000_000,
      });
      const second = await store.write({ pk: key, sk: 'a', set: { name: 'y' }, add: { count: 3, other: -1 } });

      expect(first).toEqual({ pk: key, sk: 'a', name: 'x', flag: true, count: 2, expiresAt: 1_900_000_000 });
      expect(second).toEqual({ pk: key, sk: 'a', name: 'y', flag: true, count: 5, other: -1, expiresAt: 1_900_000_000 });
      expect(await store.get(key, 'a')).toEqual(second);
    });

    it('stores null as a NULL attribute and reads it back as null', async () => {
      const key = pk();
      await store.write({ pk: key, sk: 'n', set: { reason: null, text: '', zero: 0 } });

      const raw = await peers.clients.dynamodb.send(
        new GetItemCommand({ TableName: peers.tableName, Key: { pk: { S: key }, sk: { S: 'n' } } }),
      );
      expect(raw.Item?.reason).toEqual({ NULL: true });
      expect(await store.get(key, 'n')).toMatchObject({ reason: null, text: '', zero: 0 });
    });

    it('condition absent: writes only a new item', async () => {
      const key = pk();
      expect(await store.write({ pk: key, sk: 'a', set: { v: 1 }, condition: { kind: 'absent' } })).toMatchObject({ v: 1 });
      expect(await store.write({ pk: key, sk: 'a', set: { v: 2 }, condition: { kind: 'absent' } })).toBeUndefined();
      expect(await store.get(key, 'a')).toMatchObject({ v: 1 });
    });

    it('condition exists: writes only an existing item', async () => {
      const key = pk();
      expect(await store.write({ pk: key, sk: 'a', set: { v: 1 }, condition: { kind: 'exists' } })).toBeUndefined();
      expect(await store.get(key, 'a')).toBeUndefined();
      await store.write({ pk: key, sk: 'a', set: { v: 1 } });
      expect(await store.write({ pk: key, sk: 'a', set: { v: 2 }, condition: { kind: 'exists' } })).toMatchObject({ v: 2 });
    });

    it('condition equals: compares strings, numbers, booleans and null', async () => {
      const key = pk();
      await store.write({ pk: key, sk: 'a', set: { s: 'running', n: 3, b: false, z: null } });
      const equals = (attribute: string, value: string | number | boolean | null) =>
        store.write({ pk: key, sk: 'a', add: { hits: 1 }, condition: { kind: 'equals', attribute, value } });

      expect(await equals('s', 'running')).toBeDefined();
      expect(await equals('s', 'finished')).toBeUndefined();
      expect(await equals('n', 3)).toBeDefined();
      expect(await equals('n', '3')).toBeUndefined();
      expect(await equals('b', false)).toBeDefined();
      expect(await equals('z', null)).toBeDefined();
      expect(await equals('s', null)).toBeUndefined();
      expect(await equals('missing', null)).toBeUndefined();
      expect(await equals('missing', 'x')).toBeUndefined();
      expect(await store.get(key, 'a')).toMatchObject({ hits: 4 });
      // On a missing item the condition fails and nothing is created.
      expect(
        await store.write({ pk: key, sk: 'nope', set: { v: 1 }, condition: { kind: 'equals', attribute: 's', value: 'x' } }),
      ).toBeUndefined();
      expect(await store.get(key, 'nope')).toBeUndefined();
    });

    it('condition lessThan: holds below the value only, and never for a missing attribute', async () => {
      const key = pk();
      await store.write({ pk: key, sk: 'a', add: { admitted: 0 } });
      const admit = () =>
        store.write({ pk: key, sk: 'a', add: { admitted: 1 }, condition: { kind: 'lessThan', attribute: 'admitted', value: 2 } });

      expect(await admit()).toMatchObject({ admitted: 1 });
      expect(await admit()).toMatchObject({ admitted: 2 });
      expect(await admit()).toBeUndefined();
      expect(
        await store.write({ pk: key, sk: 'a', set: { x: 1 }, condition: { kind: 'lessThan', attribute: 'missing', value: 10 } }),
      ).toBeUndefined();
    });

    it('adds concurrently without losing an increment', async () => {
      const key = pk();
      await Promise.all(Array.from({ length: 40 }, () => store.write({ pk: key, sk: 'counter', add: { n: 1 } })));
      expect(await store.get(key, 'counter')).toMatchObject({ n: 40 });
    });

    it('never splices names or values into the expression', async () => {
      const key = pk();
      const hostile = 'a = :v0 REMOVE #n0';
      const written = await store.write({
        pk: key,
        sk: 'x',
        set: { [hostile]: "') OR 1=1 --" },
        add: { 'weird name.with dots': 1 },
      });
      expect(written).toMatchObject({ [hostile]: "') OR 1=1 --", 'weird name.with dots': 1 });
      const update = buildUpdate({
        pk: key,
        sk: 'x',
        set: { [hostile]: 'v' },
        condition: { kind: 'equals', attribute: hostile, value: 'v' },
      });
      expect(update.UpdateExpression).toBe('SET #n0 = :v0');
      expect(update.ConditionExpression).toBe('#n0 = :v1');
      expect(update.ExpressionAttributeNames).toEqual({ '#n0': hostile });
    });

    it('refuses writes to key attributes, an attribute written twice, and non-finite numbers', async () => {
      await expect(store.write({ pk: 'k', sk: 's', set: { pk: 'other' } })).rejects.toThrow(/"pk" is part of the key/);
      await expect(store.write({ pk: 'k', sk: 's', set: { n: 1 }, add: { n: 1 } })).rejects.toThrow(/"n" is written twice/);
      await expect(store.write({ pk: 'k', sk: 's', add: { n: Number.NaN } })).rejects.toBeInstanceOf(StateWriteError);
    });
  });

  describe('Method: transact', () => {
    it('writes all items when every condition holds', async () => {
      const key = pk();
      await store.write({ pk: key, sk: 'meta', add: { accepted: 0, admitted: 0 } });

      const result = await store.transact([
        { pk: key, sk: 'url#1', set: { status: 'accepted', template: null }, condition: { kind: 'absent' }, expiresAt: 123 },
        {
          pk: key,
          sk: 'meta',
          add: { accepted: 1, admitted: 1 },
          condition: { kind: 'lessThan', attribute: 'admitted', value: 5 },
        },
      ]);

      expect(result).toEqual({ ok: true });
      expect(await store.get(key, 'url#1')).toEqual({ pk: key, sk: 'url#1', status: 'accepted', template: null, expiresAt: 123 });
      expect(await store.get(key, 'meta')).toMatchObject({ accepted: 1, admitted: 1 });
    });

    it('writes nothing when a condition fails, and names the failed indexes', async () => {
      // Prepare
      const key = pk();
      await store.write({ pk: key, sk: 'exists', set: { status: 'parsed' } });
      await store.write({ pk: key, sk: 'meta', add: { admitted: 5 } });
      const before = await store.get(key, 'meta');

      // Act
      const result = await store.transact([
        { pk: key, sk: 'new', set: { v: 1 }, condition: { kind: 'absent' } },
        {
          pk: key,
          sk: 'exists',
          set: { status: 'failed' },
          condition: { kind: 'equals', attribute: 'status', value: 'accepted' },
        },
        { pk: key, sk: 'other', add: { n: 1 } },
        { pk: key, sk: 'meta', add: { admitted: 1 }, condition: { kind: 'lessThan', attribute: 'admitted', value: 5 } },
      ]);

      // Assess
      expect(result).toEqual({ ok: false, failed: [1, 3] });
      expect(await store.get(key, 'new')).toBeUndefined();
      expect(await store.get(key, 'other')).toBeUndefined();
      expect(await store.get(key, 'exists')).toMatchObject({ status: 'parsed' });
      expect(await store.get(key, 'meta')).toEqual(before);
    });

    it('keeps counters exact under concurrent transactions on a hot item', async () => {
      const key = pk();
      const results = await Promise.all(
        Array.from({ length: 30 }, (_, index) =>
          store.transact([
            { pk: key, sk: `url#${index % 20}`, set: { status: 'accepted' }, condition: { kind: 'absent' } },
            { pk: key, sk: 'meta', add: { accepted: 1 } },
          ]),
        ),
      );
      expect(results.filter((result) => result.ok)).toHaveLength(20);
      expect(results.filter((result) => !result.ok)).toEqual(Array.from({ length: 10 }, () => ({ ok: false, failed: [0] })));
      expect(await store.get(key, 'meta')).toMatchObject({ accepted: 20 });
    });

    it('retries a transaction cancelled by a conflict', async () => {
      const key = pk();
      const before = peers.dynamo.transactions;
      peers.dynamo.injectTransactionConflicts(2);

      const result = await store.transact([{ pk: key, sk: 'meta', add: { n: 1 } }]);

      expect(result).toEqual({ ok: true });
      expect(peers.dynamo.transactions - before).toBe(3);
      expect(await store.get(key, 'meta')).toMatchObject({ n: 1 });
    });

    it('retries an UpdateItem refused because a transaction holds the item (TransactionConflictException)', async () => {
      const key = pk();
      const before = peers.dynamo.operations.get('UpdateItem') ?? 0;
      peers.dynamo.injectUpdateConflicts(2);

      const item = await store.write({ pk: key, sk: 'meta', add: { n: 1 } });

      expect(item).toMatchObject({ n: 1 });
      expect((peers.dynamo.operations.get('UpdateItem') ?? 0) - before).toBe(3);
    });

    it('gives up on conflicts after maxTransactAttempts with a retryable error', async () => {
      const impatient = new DynamoStateStore({
        client: peers.clients.dynamodb,
        tableName: peers.tableName,
        maxTransactAttempts: 3,
        conflictBaseMs: 1,
      });
      peers.dynamo.injectTransactionConflicts(5);
      const transacting = impatient.transact([{ pk: pk(), sk: 'meta', add: { n: 1 } }]);
      await expect(transacting).rejects.toBeInstanceOf(TransactionConflictError);
      await expect(transacting).rejects.toMatchObject({ retryable: true, reason: 'transaction-conflict' });
      peers.dynamo.injectTransactionConflicts(0);
    });

    it('refuses two writes to one item, an empty write, and more than 100 writes', async () => {
      const key = pk();
      await expect(
        store.transact([
          { pk: key, sk: 'a', add: { n: 1 } },
          { pk: key, sk: 'a', add: { n: 1 } },
        ]),
      ).rejects.toThrow(/writes 0 and 1 of a transaction touch the same item/);
      await expect(store.transact([{ pk: key, sk: 'a', condition: { kind: 'absent' } }])).rejects.toThrow(
        /sets and adds nothing/,
      );
      await expect(
        store.transact(Array.from({ length: 101 }, (_, index) => ({ pk: key, sk: `${index}`, add: { n: 1 } }))),
      ).rejects.toThrow(/at most 100 writes, got 101/);
      expect(await store.transact([])).toEqual({ ok: true });
    });
  });

  describe('Method: query', () => {
    it('returns the items of a partition whose sort key starts with the prefix, in ascending order, across pages', async () => {
      // Prepare: a page size of 7 makes 25 items take 4 pages
      const key = pk();
      const recorded: QueryCommandInput[] = [];
      const paged = new DynamoStateStore({ client: peers.clients.dynamodb, tableName: peers.tableName, queryPageSize: 7 });
      peers.clients.dynamodb.middlewareStack.add(
        (next, context) => async (args) => {
          if (context.commandName === 'QueryCommand') recorded.push(args.input as QueryCommandInput);
          return next(args);
        },
        { step: 'initialize', name: 'recordQueries' },
      );
      const urls = Array.from({ length: 25 }, (_, index) => `url#${String(index).padStart(3, '0')}`).reverse();
      await Promise.all(urls.map((sk, index) => store.write({ pk: key, sk, set: { index } })));
      await store.write({ pk: key, sk: 'meta', set: { state: 'running' } });
      await store.write({ pk: key, sk: 'url', set: { short: true } });
      await store.write({ pk: `${key}x`, sk: 'url#000', set: { other: true } });

      // Act
      const items = await collect(paged.query(key, 'url#'));
      peers.clients.dynamodb.middlewareStack.remove('recordQueries');

      // Assess
      expect(items.map((item) => item.sk)).toEqual([...urls].reverse());
      expect(items[0]).toEqual({ pk: key, sk: 'url#000', index: 24 } satisfies StateItem);
      expect(recorded.length).toBe(4);
      expect(recorded.every((input) => input.ConsistentRead === true)).toBe(true);
      expect(await collect(store.query(key, ''))).toHaveLength(27);
      expect(await collect(store.query(key, 'nothing#'))).toEqual([]);
    });
  });

  describe('Method: get', () => {
    it('returns undefined for a missing item', async () => {
      expect(await store.get('none', 'none')).toBeUndefined();
    });
  });
});
