import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoServer, startDemoServer } from '../demo/server.js';
import { type Book, generateSite, type SiteOptions } from '../demo/site.js';
import { loadJobFile, parseJob } from '../shared/job/load.js';
import type { Job, JobInput } from '../shared/job/schema.js';
import { layout, partitionDate } from '../shared/layout.js';
import type { ChangeRecord } from '../shared/pipeline/changes.js';
import type { RunManifest } from '../shared/pipeline/finalize.js';
import { tempRuntime } from './support/local-run.js';
import { expectManifestInvariant } from './support/manifest.js';

/** A smaller site without permanent 500s, so unreached pages count as evidence of removal. */
const BASE: SiteOptions = { books: 120, perPage: 20, brokenServerError: 0 };

describe('Change detection and data quality across runs', () => {
  let server: DemoServer;
  let job: Job;
  let local: Awaited<ReturnType<typeof tempRuntime>>;
  let start: string[];
  const manifests: RunManifest[] = [];

  async function changesOf(manifest: RunManifest): Promise<ChangeRecord[]> {
    const prefix = `${layout.changesPrefix('books', partitionDate(Date.parse(manifest.startedAt)))}${manifest.runId}-`;
    const records: ChangeRecord[] = [];
    for await (const object of local.runtime.store.list(prefix)) {
      const text = gunzipSync(await readFile(join(local.dataDir, 'store', object.key))).toString('utf8');
      for (const line of text.split('\n')) if (line.trim()) records.push(JSON.parse(line) as ChangeRecord);
    }
    return records;
  }

  async function run(): Promise<RunManifest> {
    const manifest = await local.run('books', start);
    expectManifestInvariant(manifest);
    manifests.push(manifest);
    return manifest;
  }

  beforeAll(async () => {
    server = await startDemoServer({ site: generateSite(BASE) });
    start = [`${server.url}/catalogue/page-1.html`];
    job = await loadJobFile('jobs/books.ts');
    local = await tempRuntime([job]);
  });

  afterAll(async () => {
    await local?.dispose();
    await server?.close();
  });

  it('run 1: every item is new', async () => {
    const manifest = await run();
    expect(manifest.changes).toEqual({ new: 120, changed: 0, removed: 0, removalsInferred: true });
    const changes = await changesOf(manifest);
    expect(changes.map((change) => change.type)).toEqual(Array(120).fill('new'));
    expect(manifest.state).toBe('partial');
    expect(manifest.quality?.fillRates.price).toBe(1);
  });

  it('run 2 on the unchanged site: no changes', async () => {
    const manifest = await run();
    expect(manifest.changes).toEqual({ new: 0, changed: 0, removed: 0, removalsInferred: true });
    expect(await changesOf(manifest)).toEqual([]);
    expect(manifest.urls.unchanged).toBe(manifest.urls.accepted - manifest.urls.failed);
  });

  it('run 3 after edits: exactly the added, changed and removed items, with field-level diffs', async () => {
    const before = generateSite(BASE).books;
    const after = generateSite({ ...BASE, edits: { change: 6, add: 4, remove: 5 } }).books;
    server.setSite(generateSite({ ...BASE, edits: { change: 6, add: 4, remove: 5 } }));
    const manifest = await run();
    const byKey = (books: Book[]) => new Map(books.map((book) => [book.upc, book]));
    const old = byKey(before);
    const current = byKey(after);
    const added = after.filter((book) => !old.has(book.upc)).map((book) => book.upc);
    const removed = before.filter((book) => !current.has(book.upc)).map((book) => book.upc);
    const changed = after.filter((book) => old.has(book.upc) && JSON.stringify(old.get(book.upc)) !== JSON.stringify(book));
    expect(manifest.changes).toEqual({ new: 4, changed: 6, removed: 5, removalsInferred: true });
    const changes = await changesOf(manifest);
    const keysOf = (type: ChangeRecord['type']) =>
      changes
        .filter((change) => change.type === type)
        .map((change) => change.key)
        .sort();
    expect(keysOf('new')).toEqual(added.sort());
    expect(keysOf('removed')).toEqual(removed.sort());
    expect(keysOf('changed')).toEqual(changed.map((book) => book.upc).sort());
    for (const book of changed) {
      const previous = old.get(book.upc) as Book;
      const expected: Record<string, { before: unknown; after: unknown }> = {};
      for (const field of ['title', 'price', 'tags'] as const) {
        if (JSON.stringify(previous[field]) !== JSON.stringify(book[field]))
          expected[field] = { before: previous[field], after: book[field] };
      }
      const change = changes.find((record) => record.key === book.upc && record.type === 'changed');
      expect(change?.diff, `diff of ${book.upc}`).toEqual(expected);
    }
  });

  it('a run cut by its page budget never reports removals', async () => {
    const input = { ...(job as unknown as JobInput), limits: { ...job.limits, maxPages: 10 } };
    const small = parseJob(input, 'books-budget.ts');
    const budget = await tempRuntime([small]);
    try {
      await budget.run('books', start);
      const manifest = await budget.run('books', start);
      expectManifestInvariant(manifest);
      expect(manifest.budgetExhausted).toBe('maxPages');
      expect(manifest.changes.removalsInferred).toBe(false);
      expect(manifest.changes.removed).toBe(0);
      expect(manifest.state).toBe('partial');
      expect(manifest.urls.skipped).toBeGreaterThan(0);
      expect(manifest.reasons['budget:maxPages']).toBe(manifest.urls.skipped);
    } finally {
      await budget.dispose();
    }
  });

  it('a selector that silently breaks makes the run degraded, naming the field', async () => {
    server.setSite(generateSite({ ...BASE, edits: { change: 6, add: 4, remove: 5, breakSelector: 'price' } }));
    const manifest = await run();
    expect(manifest.state).toBe('degraded');
    expect(manifest.quality?.fillRates.price).toBe(0);
    expect(
      manifest.quality?.problems.some((problem) => problem.startsWith('field "price": fill rate fell from 100% to 0%')),
    ).toBe(true);
    expect(manifest.items.invalid).toBeGreaterThan(0);
    expect(manifest.changes).toMatchObject({ removed: 0, removalsInferred: false });
  });
});
