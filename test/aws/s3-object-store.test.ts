import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3ObjectStore } from '../../shared/aws/s3-object-store.js';
import { ObjectNotFoundError } from '../../shared/errors.js';
import { collect } from '../fixtures/iterables.js';
import { type AwsPeers, startAwsPeers } from '../support/aws-peers.js';

async function concat(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

describe('Class: S3ObjectStore', () => {
  let peers: AwsPeers;
  let store: S3ObjectStore;

  beforeAll(async () => {
    peers = await startAwsPeers({ bucket: 'objects' });
    store = new S3ObjectStore({ client: peers.clients.s3, bucket: peers.bucket });
  });
  afterAll(async () => {
    await peers?.stop();
  });

  describe('Method: put / get', () => {
    it('stores bytes and strings and reads them back whole', async () => {
      // Prepare
      const bytes = new Uint8Array(300_000).map((_, index) => index % 251);

      // Act
      await store.put('a/bytes.bin', bytes);
      await store.put('a/text.json', '{"ünïcode":"✓"}', { contentType: 'application/json' });

      // Assess
      expect(Buffer.from((await store.get('a/bytes.bin')) ?? [])).toEqual(Buffer.from(bytes));
      expect(Buffer.from((await store.get('a/text.json')) ?? []).toString('utf8')).toBe('{"ünïcode":"✓"}');
    });

    it('stores the content type, application/octet-stream by default', async () => {
      await store.put('types/default', 'x');
      await store.put('types/json', '{}', { contentType: 'application/json' });
      const { GetObjectCommand } = await import('@aws-sdk/client-s3');
      const typeOf = async (key: string) =>
        (await peers.clients.s3.send(new GetObjectCommand({ Bucket: peers.bucket, Key: key }))).ContentType;
      expect(await typeOf('types/default')).toBe('application/octet-stream');
      expect(await typeOf('types/json')).toBe('application/json');
    });

    it('returns undefined for a missing key', async () => {
      expect(await store.get('no/such/key')).toBeUndefined();
    });

    it('overwrites an object whole', async () => {
      await store.put('over/write', 'first, longer body');
      await store.put('over/write', 'second');
      expect(Buffer.from((await store.get('over/write')) ?? []).toString()).toBe('second');
    });
  });

  describe('Method: getRange', () => {
    it('reads length bytes from offset', async () => {
      await store.put('range/obj', '0123456789abcdef');
      expect(Buffer.from(await store.getRange('range/obj', 0, 4)).toString()).toBe('0123');
      expect(Buffer.from(await store.getRange('range/obj', 10, 6)).toString()).toBe('abcdef');
    });

    it('returns what there is when the range runs past the end', async () => {
      await store.put('range/short', 'abc');
      expect(Buffer.from(await store.getRange('range/short', 1, 100)).toString()).toBe('bc');
    });

    it('throws ObjectNotFoundError for a missing key', async () => {
      await expect(store.getRange('range/missing', 0, 10)).rejects.toBeInstanceOf(ObjectNotFoundError);
      await expect(store.getRange('range/missing', 0, 10)).rejects.toMatchObject({ key: 'range/missing', retryable: false });
    });
  });

  describe('Method: getStream', () => {
    it('streams the object', async () => {
      const body = Buffer.alloc(1_000_000, 'z');
      await store.put('stream/big', body);
      const stream = await store.getStream('stream/big');
      expect(stream).toBeDefined();
      expect((await concat(stream ?? (async function* () {})())).equals(body)).toBe(true);
    });

    it('returns undefined for a missing key', async () => {
      expect(await store.getStream('stream/missing')).toBeUndefined();
    });
  });

  describe('Method: list', () => {
    it('lists a prefix in ascending key order with sizes', async () => {
      // Prepare: written out of order. (s3rver walks folders, so unlike S3 it lists `a/1` before `a-z`: the keys
      // here avoid that case.)
      await store.put('list/b', 'bb');
      await store.put('list/a/2', '22');
      await store.put('list/a/1', '1');
      await store.put('list/ab', 'az');
      await store.put('listing-other', 'x');

      // Act
      const listed = await collect(store.list('list/'));

      // Assess
      expect(listed).toEqual([
        { key: 'list/a/1', size: 1 },
        { key: 'list/a/2', size: 2 },
        { key: 'list/ab', size: 2 },
        { key: 'list/b', size: 2 },
      ]);
      expect(await collect(store.list('nothing/here/'))).toEqual([]);
    });

    it('follows continuation tokens across pages (page size 7: 25 keys in 4 pages)', async () => {
      // Prepare
      const paged = new S3ObjectStore({ client: peers.clients.s3, bucket: peers.bucket, listPageSize: 7 });
      const keys = Array.from({ length: 25 }, (_, index) => `paged/${String(index).padStart(2, '0')}`);
      await Promise.all(keys.map((key) => store.put(key, key)));
      const firstPage = await peers.clients.s3.send(
        new ListObjectsV2Command({ Bucket: peers.bucket, Prefix: 'paged/', MaxKeys: 7 }),
      );
      expect(firstPage.IsTruncated).toBe(true);

      // Act
      const listed = await collect(paged.list('paged/'));

      // Assess
      expect(listed.map((info) => info.key)).toEqual(keys);
      expect(listed.every((info, index) => info.size === (keys[index]?.length ?? -1))).toBe(true);
    });
  });

  describe('Constructor', () => {
    it('refuses a page size outside 1–1000', () => {
      expect(() => new S3ObjectStore({ client: peers.clients.s3, bucket: 'b', listPageSize: 0 })).toThrow(/listPageSize.*got 0/);
      expect(() => new S3ObjectStore({ client: peers.clients.s3, bucket: 'b', listPageSize: 1001 })).toThrow(/1 to 1000/);
    });
  });
});
