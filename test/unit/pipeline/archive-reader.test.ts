import { describe, expect, it } from 'vitest';
import { ObjectNotFoundError } from '../../../shared/errors.js';
import { ArchiveReader } from '../../../shared/pipeline/parse.js';
import type { ObjectStore } from '../../../shared/ports.js';

/** An object store over a map that counts whole and ranged reads. */
function store(objects: Record<string, string>) {
  const reads = { get: 0, getRange: 0 };
  const bytes = (key: string) => (objects[key] === undefined ? undefined : new TextEncoder().encode(objects[key]));
  const port: ObjectStore = {
    put: async () => {},
    get: async (key) => {
      reads.get++;
      return bytes(key);
    },
    getRange: async (key, offset, length) => {
      reads.getRange++;
      const body = bytes(key);
      if (!body) throw new ObjectNotFoundError(key);
      return body.subarray(offset, offset + length);
    },
    getStream: async () => undefined,
    list: async function* () {},
  };
  return { port, reads };
}

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

describe('Class: ArchiveReader', () => {
  it('reads an object that holds several pages of the batch once, whole, and one that holds one page by range', async () => {
    const { port, reads } = store({ 'raw/a': 'AAAABBBBCCCC', 'raw/b': 'xyz' });
    const raws = [
      { key: 'raw/a', offset: 0, length: 4 },
      { key: 'raw/a', offset: 4, length: 4 },
      { key: 'raw/a', offset: 8, length: 4 },
      { key: 'raw/b', offset: 1, length: 2 },
    ];
    const reader = new ArchiveReader(raws);

    const pages = await Promise.all(raws.map((raw) => reader.read(port, raw)));

    expect(pages.map(text)).toEqual(['AAAA', 'BBBB', 'CCCC', 'yz']);
    expect(reads).toEqual({ get: 1, getRange: 1 });
  });

  it('says which object is missing, and which range lies beyond the object', async () => {
    const { port } = store({ 'raw/a': 'short' });
    const reader = new ArchiveReader([
      { key: 'raw/gone', offset: 0, length: 1 },
      { key: 'raw/gone', offset: 1, length: 1 },
      { key: 'raw/a', offset: 0, length: 1 },
      { key: 'raw/a', offset: 3, length: 10 },
    ]);

    await expect(reader.read(port, { key: 'raw/gone', offset: 0, length: 1 })).rejects.toBeInstanceOf(ObjectNotFoundError);
    await expect(reader.read(port, { key: 'raw/a', offset: 3, length: 10 })).rejects.toThrow('raw/a holds 5 bytes, not 13');
  });
});
