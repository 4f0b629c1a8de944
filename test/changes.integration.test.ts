import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoServer, startDemoServer } from '../demo/server.js';
import { generateSite, type Site, type SiteEdits, type SiteOptions } from '../demo/site.js';
import { loadJobFile, parseJob } from '../shared/job/load.js';
import type { Job, JobInput } from '../shared/job/schema.js';
import type { ChangeRecord } from '../shared/pipeline/changes.js';
import type { RunManifest } from '../shared/pipeline/finalize.js';
import { currentRows, readSnapshot, runChanges } from '../shared/query.js';
import { FAST_RETRIES, tempRuntime } from './support/local-run.js';
import { expectManifestInvariant } from './support/manifest.js';

/**
 * A smaller site without permanent 500s, so unreached pages count as evidence of removal. Seed 4: the author
 * EDITS remove has quotes (checked in run 3), so their removal is seen through a redirect to a 404.
 */
const BASE: SiteOptions = { seed: 4, books: 120, perPage: 20, brokenServerError: 0 };
/** The next version of BASE: books changed, added and removed; an author changed, one gone (its link redirects to a 404), quotes dropped. */
const EDITS: SiteEdits = { change: 6, add: 4, remove: 5, changeAuthors: 1, removeAuthors: 1, removeQuotes: 2 };

/** Every item of a site's ground truth, keyed as the books job keys it. */
function truthOf(site: Site): Map<string, Record<string, unknown>> {
  return new Map<string, Record<string, unknown>>([
    ...site.books.map((book) => [book.upc, { ...book }] as const),
    ...site.authors.map((author) => [author.name, { ...author }] as const),
    ...site.quotes.map((quote) => [quote.id, { ...quote }] as const),
  ]);
}

/** Finalization's evidence held in memory (the default for runs up to 200,000 item keys), and spilled to scratch objects in buckets. */
const EVIDENCE_MODES = [
  { mode: 'in memory', settings: FAST_RETRIES },
  { mode: 'spilled to scratch objects', settings: { ...FAST_RETRIES, finalizeMemoryKeys: 10 } },
] as const;

describe.each(EVIDENCE_MODES)('Change detection and data quality across runs (evidence $mode)', ({ mode, settings }) => {
  let server: DemoServer;
  /** Scratch objects each finalization had written when it discarded them. */
  const scratch: number[] = [];
  let job: Job;
  let local: Awaited<ReturnType<typeof tempRuntime>>;
  let start: string[];
  const manifests: RunManifest[] = [];

  async function changesOf(manifest: RunManifest): Promise<ChangeRecord[]> {
    const records: ChangeRecord[] = [];
    for await (const row of runChanges(local.runtime.store, manifest)) records.push(row as unknown as ChangeRecord);
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
    local = await tempRuntime([job], {}, settings);
    const store = local.runtime.store;
    const discard = store.discard.bind(store);
    store.discard = async (folder: string) => {
      let objects = 0;
      for await (const _object of store.list(folder)) objects++;
      if (objects > 0) scratch.push(objects);
      await discard(folder);
    };
  });

  afterAll(async () => {
    await local?.dispose();
    await server?.close();
  });

  it('run 1: every item of every template is new', async () => {
    const manifest = await run();
    const truth = truthOf(generateSite(BASE));
    expect(manifest.changes).toEqual({ new: truth.size, changed: 0, removed: 0, removalsInferred: true });
    const changes = await changesOf(manifest);
    expect(changes.map((change) => change.type)).toEqual(Array(truth.size).fill('new'));
    expect(changes.map((change) => change.key).sort()).toEqual([...truth.keys()].sort());
    expect(manifest.state).toBe('partial');
    expect(manifest.quality?.templates.book?.fillRates.price).toBe(1);
  });

  it('run 2 on the unchanged site: no changes', async () => {
    const manifest = await run();
    expect(manifest.changes).toEqual({ new: 0, changed: 0, removed: 0, removalsInferred: true });
    expect(await changesOf(manifest)).toEqual([]);
    expect(manifest.urls.unchanged).toBe(manifest.urls.accepted - manifest.urls.failed);
  });

  it('run 3 after edits: exactly the added, changed and removed items of every template, with field-level diffs', async () => {
    const next = generateSite({ ...BASE, edits: EDITS });
    const old = truthOf(generateSite(BASE));
    const current = truthOf(next);
    server.setSite(next);
    const manifest = await run();
    const added = [...current.keys()].filter((key) => !old.has(key));
    const removed = [...old.keys()].filter((key) => !current.has(key));
    const changed = [...current.keys()].filter(
      (key) => old.has(key) && JSON.stringify(old.get(key)) !== JSON.stringify(current.get(key)),
    );
    // The edits reach every template: books added, changed and removed; an author changed and one removed with
    // its quotes; quotes dropped from pages that stay.
    const base = generateSite(BASE);
    const goneAuthors = base.authors.filter((author) => !current.has(author.name)).map((author) => author.name);
    const quotesOfGone = base.quotes.filter((quote) => goneAuthors.includes(quote.author));
    expect(goneAuthors).toHaveLength(1);
    expect(quotesOfGone.length).toBeGreaterThan(0);
    expect(added).toHaveLength(4);
    expect(changed).toHaveLength(6 + 1);
    expect(removed).toHaveLength(5 + 1 + quotesOfGone.length + 2);
    expect(manifest.changes).toEqual({
      new: added.length,
      changed: changed.length,
      removed: removed.length,
      removalsInferred: true,
    });
    expect(manifest.reasons['http-404']).toBe(next.broken.filter((broken) => broken.status === 404).length);
    const changes = await changesOf(manifest);
    const keysOf = (type: ChangeRecord['type']) =>
      changes
        .filter((change) => change.type === type)
        .map((change) => change.key)
        .sort();
    expect(keysOf('new')).toEqual(added.sort());
    expect(keysOf('removed')).toEqual(removed.sort());
    expect(keysOf('changed')).toEqual(changed.sort());
    // The current state holds exactly the site's items now.
    const snapshot = await readSnapshot(local.runtime.store, 'books');
    const keys: string[] = [];
    if (!snapshot) expect.fail('no current snapshot');
    for await (const row of currentRows(local.runtime.store, snapshot)) keys.push(String(row._key));
    expect(keys.sort()).toEqual([...current.keys()].sort());
    // The spilled mode wrote its evidence to scratch objects (64 buckets at most per run), discarded when done.
    if (mode === 'in memory') expect(scratch).toEqual([]);
    else expect(scratch.length).toBe(3);
    for await (const object of local.runtime.store.list('scratch/')) expect.fail(`scratch left behind: ${object.key}`);
    for (const key of changed) {
      const previous = old.get(key) as Record<string, unknown>;
      const now = current.get(key) as Record<string, unknown>;
      const expected: Record<string, { before: unknown; after: unknown }> = {};
      for (const field of new Set([...Object.keys(previous), ...Object.keys(now)])) {
        if (JSON.stringify(previous[field]) !== JSON.stringify(now[field]))
          expected[field] = { before: previous[field] ?? null, after: now[field] ?? null };
      }
      const change = changes.find((record) => record.key === key && record.type === 'changed');
      expect(change?.diff, `diff of ${key}`).toEqual(expected);
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
    server.setSite(generateSite({ ...BASE, edits: { ...EDITS, breakSelector: 'price' } }));
    const manifest = await run();
    expect(manifest.state).toBe('degraded');
    expect(manifest.quality?.templates.book?.fillRates.price).toBe(0);
    expect(
      manifest.quality?.problems.some((problem) =>
        problem.startsWith('template "book", field "price": fill rate fell from 100% to 0%'),
      ),
    ).toBe(true);
    expect(manifest.items.invalid).toBeGreaterThan(0);
    expect(manifest.changes).toMatchObject({ removed: 0, removalsInferred: false });
  });
});
