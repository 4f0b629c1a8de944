import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoServer, startDemoServer } from '../demo/server.js';
import { generateSite, type Site } from '../demo/site.js';
import { loadJobFile } from '../shared/job/load.js';
import type { Job } from '../shared/job/schema.js';
import type { RunManifest } from '../shared/pipeline/finalize.js';
import { currentRows, type Row, readSnapshot } from '../shared/query.js';
import { tempRuntime } from './support/local-run.js';
import { expectManifestInvariant, runFailures } from './support/manifest.js';

describe('Local pipeline on the demo site', () => {
  let site: Site;
  let server: DemoServer;
  let job: Job;
  let local: Awaited<ReturnType<typeof tempRuntime>>;
  let first: RunManifest;
  let rows: Row[];

  beforeAll(async () => {
    site = generateSite();
    server = await startDemoServer({ site });
    job = await loadJobFile('jobs/books.ts');
    local = await tempRuntime([job]);
    first = await local.run('books', [`${server.url}/catalogue/page-1.html`]);
    rows = await local.rows(first);
  });

  afterAll(async () => {
    await local?.dispose();
    await server?.close();
  });

  /** Every item of every template in the current state: its key mapped to the path of the URL it lives at. */
  async function currentState(): Promise<Map<string, string>> {
    const snapshot = await readSnapshot(local.runtime.store, 'books');
    const state = new Map<string, string>();
    if (!snapshot) return state;
    for await (const row of currentRows(local.runtime.store, snapshot)) {
      expect(state.has(String(row._key)), `${String(row._key)} once in the current state`).toBe(false);
      state.set(String(row._key), new URL(String(row._url)).pathname);
    }
    return state;
  }

  /** What the current state must be: every item of the ground truth, at its final URL. */
  function expectedState(): Map<string, string> {
    return new Map([
      ...site.books.map((book) => [book.upc, book.url] as const),
      ...site.authors.map((author) => [author.name, author.url] as const),
      ...site.quotes.map((quote) => [quote.id, quote.url] as const),
    ]);
  }

  /** Every page the job parses: listing, book, author (each redirected author link is one URL) and quote pages. */
  const parsedPages = () => site.listingPaths.length + site.books.length + site.authors.length + site.quotePaths.length;

  it('accounts for every URL: listing, book, author and quote pages parsed, broken links failed with their reasons', () => {
    expect(site.redirects).toHaveLength(site.authors.length);
    expect(first.urls).toEqual({
      accepted: parsedPages() + site.broken.length,
      parsed: parsedPages(),
      unchanged: 0,
      skipped: 0,
      failed: site.broken.length,
    });
    expect(first.reasons).toEqual({ 'http-404': 5, 'http-500': 2 });
    expect(first.state).toBe('partial');
    expectManifestInvariant(first);
  });

  it('lists each broken URL in the failures file with its reason', async () => {
    const failures = await runFailures(local.runtime.store, first);
    const expected = site.broken.map((broken) => ({ path: broken.path, reason: `http-${broken.status}` }));
    expect(
      failures
        .map((failure) => ({ path: new URL(failure.url).pathname, reason: failure.reason }))
        .sort((a, b) => a.path.localeCompare(b.path)),
    ).toEqual(expected.sort((a, b) => a.path.localeCompare(b.path)));
    expect(failures.every((failure) => failure.state === 'failed')).toBe(true);
  });

  it('extracts exactly the ground truth: one item per book, author and quote, every field equal', () => {
    const truth = [
      ...site.books.map((book) => ({ key: book.upc, item: book })),
      ...site.authors.map((author) => ({ key: author.name, item: author })),
      ...site.quotes.map((quote) => ({ key: quote.id, item: quote })),
    ];
    expect(site.authors.length).toBeGreaterThan(0);
    expect(site.quotes.length).toBeGreaterThan(site.quotePaths.length);
    expect(first.items).toEqual({ written: truth.length, invalid: 0, duplicates: 0, onUnchangedPages: 0 });
    expect(first.changes).toEqual({ new: truth.length, changed: 0, removed: 0, removalsInferred: true });
    expect(rows).toHaveLength(truth.length);
    const byKey = new Map(rows.map((row) => [row._key, row]));
    expect(byKey.size).toBe(truth.length);
    for (const { key, item } of truth) {
      const row = byKey.get(key);
      expect(row, `item ${key}`).toBeDefined();
      const { _key, _url, _runId, _fetchedAt, url, ...fields } = row as Row;
      const { url: path, ...expected } = item;
      expect(fields, `item ${key}`).toEqual(expected);
      // A redirected author page: the item's url and _url are the final URL, with the trailing slash.
      expect(new URL(String(url)).pathname, `url of ${key}`).toBe(path);
      expect(new URL(String(_url)).pathname, `_url of ${key}`).toBe(path);
      expect(_runId).toBe(first.runId);
    }
  });

  it('holds every item of every template in the current state, redirected author pages included', async () => {
    expect(await currentState()).toEqual(expectedState());
  });

  it('runs the same job again with conditional GETs: every page unchanged, nothing parsed, no changes', async () => {
    const requestsBefore = server.requests.length;
    const second = await local.run('books', [`${server.url}/catalogue/page-1.html`]);
    expect(second.runId).not.toBe(first.runId);
    expectManifestInvariant(second);
    expect(second.urls).toEqual({ ...first.urls, parsed: 0, unchanged: first.urls.parsed });
    expect(second.items).toEqual({
      written: 0,
      invalid: 0,
      duplicates: 0,
      onUnchangedPages: site.books.length + site.authors.length + site.quotes.length,
    });
    expect(second.changes).toEqual({ new: 0, changed: 0, removed: 0, removalsInferred: true });
    expect(await local.rows(second)).toEqual([]);
    // One conditional request per page parsed in the first run, at its final URL (a redirect hop is no page).
    const redirecting = new Set(site.redirects.map((redirect) => redirect.path));
    const conditional = server.requests
      .slice(requestsBefore)
      .filter((request) => request.headers['if-none-match'] !== undefined && !redirecting.has(request.path));
    expect(conditional).toHaveLength(first.urls.parsed);
    expect(second.state).toBe('partial');
    expect(second.quality?.problems).toEqual([]);
    expect(await currentState()).toEqual(expectedState());
  });
});
