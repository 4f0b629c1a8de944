import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { InvalidInputError, ObjectNotFoundError } from '../../../shared/errors.js';
import { FileSystemObjectStore } from '../../../shared/local/object-store.js';
import type { ObjectInfo } from '../../../shared/ports.js';
import { collect } from '../../fixtures/iterables.js';
import { tempDirEach } from '../../fixtures/temp-dir.js';

async function keys(store: FileSystemObjectStore, prefix: string): Promise<string[]> {
  return (await collect(store.list(prefix))).map((info: ObjectInfo) => info.key);
}

/** Every file under `dir`, relative to it. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
    .sort();
}

describe('Class: FileSystemObjectStore', () => {
  const temp = tempDirEach('objects');
  let root: string;
  let store: FileSystemObjectStore;

  beforeEach(async () => {
    root = join(temp.path, 'store');
    await mkdir(join(temp.path, 'outside'));
    await writeFile(join(temp.path, 'outside', 'keep.txt'), 'outside');
    store = new FileSystemObjectStore({ root });
  });

  describe('Method: put / get', () => {
    it('stores strings as UTF-8 and bytes as given, at <root>/<key>', async () => {
      // Prepare
      const bytes = new Uint8Array([0, 1, 2, 254, 255]);

      // Act
      await store.put('raw/a/b.bin', bytes);
      await store.put('text/ü.txt', 'héllo ✓');

      // Assess
      expect(await store.get('raw/a/b.bin')).toEqual(Buffer.from(bytes));
      expect(Buffer.from((await store.get('text/ü.txt')) ?? []).toString('utf8')).toBe('héllo ✓');
      expect(await readFile(join(root, 'raw', 'a', 'b.bin'))).toEqual(Buffer.from(bytes));
      expect(store.root).toBe(root);
    });

    it('replaces an object written again', async () => {
      // Prepare
      await store.put('k', 'first version, longer');

      // Act
      await store.put('k', 'second');

      // Assess
      expect(Buffer.from((await store.get('k')) ?? []).toString()).toBe('second');
    });

    it('stores an empty object', async () => {
      // Act
      await store.put('empty', new Uint8Array());

      // Assess
      expect(await store.get('empty')).toEqual(Buffer.alloc(0));
      expect(await collect(store.list('empty'))).toEqual([{ key: 'empty', size: 0 }]);
    });

    it('returns undefined for a missing key, and for a key that is only a prefix of others', async () => {
      // Prepare
      await store.put('a/b', 'x');

      // Act & Assess
      await expect(store.get('missing')).resolves.toBeUndefined();
      await expect(store.get('a/missing/deeper')).resolves.toBeUndefined();
      await expect(store.get('a')).resolves.toBeUndefined();
    });
  });

  describe('Method: getRange', () => {
    it('reads length bytes from offset, and fewer at the end of the object', async () => {
      // Prepare
      await store.put('r', '0123456789');

      // Act
      const middle = await store.getRange('r', 3, 4);
      const tail = await store.getRange('r', 8, 100);
      const beyond = await store.getRange('r', 50, 5);

      // Assess
      expect(Buffer.from(middle).toString()).toBe('3456');
      expect(Buffer.from(tail).toString()).toBe('89');
      expect(beyond.byteLength).toBe(0);
    });

    it('throws ObjectNotFoundError naming a missing key', async () => {
      // Act
      const promise = store.getRange('nope/x', 0, 10);

      // Assess
      await expect(promise).rejects.toBeInstanceOf(ObjectNotFoundError);
      await expect(promise).rejects.toMatchObject({ key: 'nope/x', reason: 'object-not-found', retryable: false });
    });

    it('throws ObjectNotFoundError for a key that is only a prefix of others', async () => {
      // Prepare
      await store.put('a/b', 'x');

      // Act & Assess
      await expect(store.getRange('a', 0, 1)).rejects.toBeInstanceOf(ObjectNotFoundError);
    });
  });

  describe('Method: getStream', () => {
    it('streams the whole object', async () => {
      // Prepare
      const body = Buffer.alloc(300_000, 7);
      await store.put('big', body);

      // Act
      const stream = await store.getStream('big');
      const chunks = stream ? await collect(stream) : [];

      // Assess
      expect(Buffer.concat(chunks)).toEqual(body);
    });

    it('returns undefined for a missing key', async () => {
      // Act & Assess
      await expect(store.getStream('missing')).resolves.toBeUndefined();
    });

    it('returns undefined for a key that is only a prefix of others', async () => {
      // Prepare
      await store.put('a/b', 'x');

      // Act
      const stream = await store.getStream('a');
      if (stream) await collect(stream).catch(() => undefined);

      // Assess
      expect(stream).toBeUndefined();
    });
  });

  describe('Method: list', () => {
    const KEYS = [
      'records/job/run-1/b.ndjson.gz',
      'records/job/run-1/a.ndjson.gz',
      'records/job/run-10/a.ndjson.gz',
      'records/job/run-2/a.ndjson.gz',
      'records/job-x/run/a',
      'records/job.x/run/a',
      'records/jobs',
      'raw/job/run/1.warc.gz',
      'runs/job/run/manifest.json',
      'a0',
      'a-b',
      'a.b',
      'a/z',
      'a/B',
      'a/\uff5a',
      'a/\u{1F600}',
      'a/é',
    ];

    beforeEach(async () => {
      for (const key of KEYS) await store.put(key, key);
    });

    it('lists every object in ascending UTF-8 byte order, with sizes', async () => {
      // Act
      const listed = await collect(store.list(''));

      // Assess
      const expected = [...KEYS].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      expect(listed.map((info) => info.key)).toEqual(expected);
      expect(listed.map((info) => info.size)).toEqual(expected.map((key) => Buffer.byteLength(key)));
    });

    it('orders "/" between "." and "0", and astral characters after other BMP ones, as S3 does', async () => {
      // Act
      const top = await keys(store, 'a');

      // Assess
      expect(top).toEqual(['a-b', 'a.b', 'a/B', 'a/z', 'a/é', 'a/\uff5a', 'a/\u{1F600}', 'a0']);
    });

    it('lists by a prefix that ends mid-segment', async () => {
      // Act & Assess
      expect(await keys(store, 'records/job/run-1')).toEqual([
        'records/job/run-1/a.ndjson.gz',
        'records/job/run-1/b.ndjson.gz',
        'records/job/run-10/a.ndjson.gz',
      ]);
      expect(await keys(store, 'records/job')).toEqual([
        'records/job-x/run/a',
        'records/job.x/run/a',
        'records/job/run-1/a.ndjson.gz',
        'records/job/run-1/b.ndjson.gz',
        'records/job/run-10/a.ndjson.gz',
        'records/job/run-2/a.ndjson.gz',
        'records/jobs',
      ]);
      expect(await keys(store, 'r')).toHaveLength(9);
    });

    it('lists by a prefix ending with "/" and by a whole key', async () => {
      // Act & Assess
      expect(await keys(store, 'records/job/')).toEqual([
        'records/job/run-1/a.ndjson.gz',
        'records/job/run-1/b.ndjson.gz',
        'records/job/run-10/a.ndjson.gz',
        'records/job/run-2/a.ndjson.gz',
      ]);
      expect(await keys(store, 'runs/job/run/manifest.json')).toEqual(['runs/job/run/manifest.json']);
    });

    it('lists nothing for a prefix without objects, and in a store never written', async () => {
      // Prepare
      const empty = new FileSystemObjectStore({ root: join(temp.path, 'never-created') });

      // Act & Assess
      expect(await keys(store, 'nothing/here')).toEqual([]);
      expect(await keys(store, 'records/job/run-3')).toEqual([]);
      expect(await keys(empty, '')).toEqual([]);
    });

    it('refuses a prefix whose folder part escapes the store', async () => {
      // Act & Assess
      await expect(keys(store, '../outside/')).rejects.toBeInstanceOf(InvalidInputError);
      await expect(keys(store, 'a/../../')).rejects.toBeInstanceOf(InvalidInputError);
    });
  });

  describe('Events and atomic writes', () => {
    it('calls every object-created listener with key and size once the object is readable', async () => {
      // Prepare
      const seen: string[] = [];
      store.onObjectCreated(async (key, size) => {
        const body = await store.get(key);
        seen.push(`first ${key} ${size} ${body?.byteLength}`);
      });
      store.onObjectCreated((key, size) => {
        seen.push(`second ${key} ${size}`);
      });

      // Act
      await store.put('records/a', 'héllo');
      await store.put('raw/b', new Uint8Array(3));

      // Assess
      expect(seen).toEqual(['first records/a 6 6', 'second records/a 6', 'first raw/b 3 3', 'second raw/b 3']);
    });

    it('does not call listeners for a refused key', async () => {
      // Prepare
      const seen: string[] = [];
      store.onObjectCreated((key) => {
        seen.push(key);
      });

      // Act
      await store.put('../x', 'x').catch(() => undefined);

      // Assess
      expect(seen).toEqual([]);
    });

    it('leaves no temporary files and never exposes a partly written object', async () => {
      // Prepare
      const size = 1024 * 1024;
      const versions = Array.from({ length: 8 }, (_, index) => Buffer.alloc(size, index + 1));
      const torn: string[] = [];
      let writing = true;
      const reader = (async () => {
        while (writing) {
          const body = await store.get('hot/key');
          if (body === undefined) continue;
          const first = body[0];
          if (body.byteLength !== size || !body.every((byte) => byte === first)) torn.push(`${body.byteLength}`);
        }
      })();

      // Act
      await Promise.all(versions.map((version) => store.put('hot/key', version)));
      writing = false;
      await reader;

      // Assess
      expect(torn).toEqual([]);
      const final = await store.get('hot/key');
      expect(final?.byteLength).toBe(size);
      expect(versions.some((version) => version.equals(Buffer.from(final ?? [])))).toBe(true);
      expect(await filesUnder(root)).toEqual([join('hot', 'key')]);
    });
  });

  describe('Hostile keys', () => {
    it.each([
      ['', 'object key is empty'],
      ['../x', 'object key has an empty, "." or ".." segment: "../x"'],
      ['a/../../etc/passwd', 'object key has an empty, "." or ".." segment: "a/../../etc/passwd"'],
      ['..', 'object key has an empty, "." or ".." segment: ".."'],
      ['.', 'object key has an empty, "." or ".." segment: "."'],
      ['/abs', 'object key has an empty, "." or ".." segment: "/abs"'],
      ['/etc/passwd', 'object key has an empty, "." or ".." segment: "/etc/passwd"'],
      ['a//b', 'object key has an empty, "." or ".." segment: "a//b"'],
      ['a/./b', 'object key has an empty, "." or ".." segment: "a/./b"'],
      ['a/', 'object key has an empty, "." or ".." segment: "a/"'],
      ['a\\b', 'object key has a control character or backslash: "a\\\\b"'],
      ['..\\..\\x', 'object key has a control character or backslash: "..\\\\..\\\\x"'],
      ['a\u0000b', 'object key has a control character or backslash: "a\\u0000b"'],
      ['a\nb', 'object key has a control character or backslash: "a\\nb"'],
      ['a\rb', 'object key has a control character or backslash: "a\\rb"'],
      ['a\u001fb', 'object key has a control character or backslash: "a\\u001fb"'],
      ['a\u007fb', 'object key has a control character or backslash: "a\u007fb"'],
      ['k'.repeat(2048), 'object key longer than 1024 bytes'],
      ['€'.repeat(342), 'object key longer than 1024 bytes'],
    ])('refuses the key %j on every operation', async (key, message) => {
      // Act & Assess
      await expect(store.put(key, 'x')).rejects.toThrow(new InvalidInputError(message));
      await expect(store.get(key)).rejects.toBeInstanceOf(InvalidInputError);
      await expect(store.getRange(key, 0, 1)).rejects.toBeInstanceOf(InvalidInputError);
      await expect(store.getStream(key)).rejects.toBeInstanceOf(InvalidInputError);
      expect(await filesUnder(temp.path)).toEqual([join('outside', 'keep.txt')]);
    });

    it.each([
      ['%2e%2e/x', ['%2e%2e', 'x']],
      ['%2e%2e%2f%2e%2e%2fx', ['%2e%2e%2f%2e%2e%2fx']],
      ['..%2f..%2fx', ['..%2f..%2fx']],
      ['.../x', ['...', 'x']],
      ['~/x', ['~', 'x']],
      ['a b/ c /d ', ['a b', ' c ', 'd ']],
      ['ü/日本/x', ['ü', '日本', 'x']],
      ['a:b/c?d#e', ['a:b', 'c?d#e']],
      ['-rf', ['-rf']],
      [`${'s'.repeat(200)}/${'t'.repeat(200)}`, ['s'.repeat(200), 't'.repeat(200)]],
    ])('keeps the key %j as literal segments inside the root', async (key, segments) => {
      // Act
      await store.put(key, 'inside');

      // Assess
      expect(await readFile(join(root, ...segments), 'utf8')).toBe('inside');
      expect(await filesUnder(root)).toEqual([segments.join(sep)]);
      expect(await filesUnder(join(temp.path, 'outside'))).toEqual(['keep.txt']);
      expect(await keys(store, '')).toEqual([key]);
      expect(Buffer.from((await store.get(key)) ?? []).toString()).toBe('inside');
    });

    it('accepts a key of exactly 1,024 bytes in several segments', async () => {
      // Prepare
      const key = `${'a'.repeat(200)}/${'b'.repeat(200)}/${'c'.repeat(200)}/${'d'.repeat(200)}/${'e'.repeat(220)}`;

      // Act
      await store.put(key, 'x');

      // Assess
      expect(Buffer.byteLength(key)).toBe(1024);
      expect(await keys(store, '')).toEqual([key]);
    });

    it('stores or cleanly refuses a 300-byte single-segment key', async () => {
      // Prepare
      const key = 'k'.repeat(300);

      // Act
      const outcome = await store.put(key, 'x').then(
        () => 'stored',
        (error: unknown) => (error instanceof InvalidInputError ? 'refused' : `raw ${(error as Error).message}`),
      );

      // Assess
      expect(['stored', 'refused']).toContain(outcome);
      if (outcome === 'stored') expect(await keys(store, '')).toEqual([key]);
    });

    it('lists an object whose key ends in .tmp', async () => {
      // Prepare
      await store.put('exports/report.tmp', 'x');

      // Act & Assess
      expect(await store.get('exports/report.tmp')).toBeDefined();
      expect(await keys(store, 'exports/')).toEqual(['exports/report.tmp']);
    });

    it('stores, reads and lists keys with over-long segments anywhere, in key order', async () => {
      // Prepare
      const long = 'k'.repeat(300);
      const written = [`${long}/a`, `x/${long}`, `x/${'é'.repeat(200)}`, 'x/a', `x/${long}0`];

      // Act
      for (const key of written) await store.put(key, key);

      // Assess
      const expected = [...written].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      expect(await keys(store, '')).toEqual(expected);
      expect(await keys(store, `x/${'k'.repeat(10)}`)).toEqual([`x/${long}`, `x/${long}0`]);
      expect(await keys(store, `${long}/`)).toEqual([`${long}/a`]);
      for (const key of written) expect(Buffer.from((await store.get(key)) ?? []).toString()).toBe(key);
      expect(Buffer.from(await store.getRange(`x/${long}`, 0, 3)).toString()).toBe('x/k');
    });

    it('keeps keys that look like the store files apart from them', async () => {
      // Prepare
      const written = ['.Scrapeline~', '.scrapeline~/tmp/1.1', '.scrapeline~/names/x', 'a/.scrapeline~'];

      // Act
      for (const key of written) await store.put(key, key);

      // Assess
      const expected = [...written].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      expect(await keys(store, '')).toEqual(expected);
      for (const key of written) expect(Buffer.from((await store.get(key)) ?? []).toString()).toBe(key);
    });

    it('finds no object below the key of another object', async () => {
      // Prepare
      await store.put('a', 'x');

      // Act & Assess
      await expect(store.get('a/b')).resolves.toBeUndefined();
      await expect(store.getStream('a/b')).resolves.toBeUndefined();
      await expect(store.getRange('a/b', 0, 1)).rejects.toBeInstanceOf(ObjectNotFoundError);
      expect(await keys(store, 'a/')).toEqual([]);
    });
  });
});
