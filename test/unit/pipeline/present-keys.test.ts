import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileSystemObjectStore } from '../../../shared/local/object-store.js';
import { PresentKeys } from '../../../shared/pipeline/current-state.js';
import { urlId } from '../../../shared/url.js';
import { tempDirEach } from '../../fixtures/temp-dir.js';

const scratch = (bucket: number, sequence: number) => `scratch/t/r/finalize-a/k${bucket}-${sequence}.gz`;

async function keysOf(present: PresentKeys): Promise<{ prefixes: string[]; keys: string[][] }> {
  const buckets = present.buckets();
  const keys: string[][] = [];
  for (const bucket of buckets) keys.push([...(await bucket.keys())].sort());
  return { prefixes: buckets.map((bucket) => bucket.itemPrefix), keys };
}

describe('PresentKeys: the item keys a run saw, in memory or spilled to scratch objects', () => {
  const dir = tempDirEach('present-keys');
  const ids = Array.from({ length: 500 }, (_, index) => urlId(`key ${index}`));

  it('keeps up to its limit in memory: one bucket of every key, no object written', async () => {
    const store = new FileSystemObjectStore({ root: join(dir.path, 'store') });
    const present = new PresentKeys(store, scratch, ids.length);
    await present.add(ids);
    await present.close();
    expect(present.spilled).toBe(false);
    const { prefixes, keys } = await keysOf(present);
    expect(prefixes).toEqual(['k#']);
    expect(keys).toEqual([[...new Set(ids)].sort()]);
    const written: string[] = [];
    for await (const object of store.list('scratch/')) written.push(object.key);
    expect(written).toEqual([]);
  });

  it('past its limit, writes every key to 64 buckets by the first character and reads each bucket back whole', async () => {
    const store = new FileSystemObjectStore({ root: join(dir.path, 'store') });
    const present = new PresentKeys(store, scratch, 100);
    await present.add(ids.slice(0, 250));
    await present.add(ids.slice(250));
    await present.close();
    expect(present.spilled).toBe(true);
    const { prefixes, keys } = await keysOf(present);
    expect(prefixes).toHaveLength(64);
    // Each bucket holds exactly the ids starting with its character, and the buckets together hold them all.
    for (const [index, prefix] of prefixes.entries()) {
      const character = prefix.slice('k#'.length);
      expect(keys[index]).toEqual([...new Set(ids.filter((id) => id.startsWith(character)))].sort());
    }
    expect(keys.flat().sort()).toEqual([...new Set(ids)].sort());
    let objects = 0;
    for await (const _object of store.list('scratch/')) objects++;
    expect(objects).toBeGreaterThan(0);
    expect(objects).toBeLessThanOrEqual(64);
  });

  it('names a missing scratch object instead of judging with half the evidence', async () => {
    const store = new FileSystemObjectStore({ root: join(dir.path, 'store') });
    const present = new PresentKeys(store, scratch, 10);
    await present.add(ids);
    await present.close();
    await store.discard('scratch/t/');
    const buckets = present.buckets();
    const nonEmpty = buckets.find((bucket) => ids.some((id) => id.startsWith(bucket.itemPrefix.slice('k#'.length))));
    await expect(nonEmpty?.keys()).rejects.toThrow(
      /finalization scratch object scratch\/t\/r\/finalize-a\/k\d+-0\.gz is missing/,
    );
  });

  it('refuses a key id that is not one (not base64url)', async () => {
    const store = new FileSystemObjectStore({ root: join(dir.path, 'store') });
    const present = new PresentKeys(store, scratch, 0);
    await expect(present.add(['#not-an-id'])).rejects.toThrow('not an item key id: "#not-an-id"');
  });
});
