import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { layout } from '../../shared/layout.js';
import { FileSystemObjectStore } from '../../shared/local/object-store.js';
import { listManifests, readManifest } from '../../shared/query.js';
import { collect } from '../fixtures/iterables.js';

const JOB = 'books';

describe('Function: readManifest, listManifests', () => {
  let dir: string;
  let store: FileSystemObjectStore;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'scrapeline-manifests-'));
    store = new FileSystemObjectStore({ root: dir });
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Stores a manifest as a version before failures parts wrote it: `failuresKey` and no `failuresKeys`. */
  async function storeEarlierManifest(runId: string, failuresKey: string | null): Promise<void> {
    const manifest = { job: JOB, runId, state: 'partial', startedAt: '2026-11-30T06:00:00.000Z', failuresKey };
    await store.put(layout.manifest(JOB, runId), JSON.stringify(manifest));
  }

  it('gives a manifest written before failures parts the list of its one failures file', async () => {
    // Prepare
    const failures = layout.failures(JOB, '20261130T060000Z-aaaaaa');
    await storeEarlierManifest('20261130T060000Z-aaaaaa', failures);
    await storeEarlierManifest('20261130T070000Z-bbbbbb', null);

    // Act
    const read = await readManifest(store, JOB, '20261130T060000Z-aaaaaa');
    const listed = await collect(listManifests(store, JOB));

    // Assess
    expect(read?.failuresKeys).toEqual([failures]);
    expect(listed.map((manifest) => manifest.failuresKeys)).toEqual([[failures], []]);
  });

  it('keeps the parts a current manifest lists', async () => {
    // Prepare
    const runId = '20261202T060000Z-cccccc';
    const parts = [layout.failures(JOB, runId), layout.failures(JOB, runId, 1)];
    await store.put(layout.manifest(JOB, runId), JSON.stringify({ job: JOB, runId, failuresKey: parts[0], failuresKeys: parts }));

    // Assess
    expect((await readManifest(store, JOB, runId))?.failuresKeys).toEqual(parts);
  });
});
