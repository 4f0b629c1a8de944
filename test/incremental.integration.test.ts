import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { EXIT } from '../cli/common.js';
import { main } from '../cli/main.js';
import { parseJob } from '../shared/job/load.js';
import { FileSystemObjectStore } from '../shared/local/object-store.js';
import type { ChangeRecord } from '../shared/pipeline/changes.js';
import type { RunManifest } from '../shared/pipeline/finalize.js';
import { currentRows, latestFinishedRun, listManifests, type Row, readSnapshot, runChanges } from '../shared/query.js';
import { isoDate } from './fixtures/dates.js';
import {
  generateQuotesSite,
  QUOTES_JOB_YAML,
  type QuotesServer,
  type QuotesSite,
  startQuotesServer,
} from './fixtures/quotes-site.js';
import { tempDirAll } from './fixtures/temp-dir.js';
import { capture } from './support/cli-io.js';
import { tempRuntime } from './support/local-run.js';
import { expectManifestInvariant } from './support/manifest.js';

/**
 * One job run four times over a site that changes between runs: the shapes of real sites (two templates, ten items
 * per listing page, author pages reached through a 301 to a trailing slash), and each kind of edit: a field changes,
 * a key changes, a page is deleted, a page is added. Every run's changes, the current state after it, its state and
 * the CLI's exit code are asserted exactly.
 */
describe('Incremental runs over a site with redirects, two templates and several items per page', () => {
  let server: QuotesServer;
  const jobsDir = tempDirAll('quotes-jobs');
  const dataDir = tempDirAll('quotes-data');
  let store: FileSystemObjectStore;

  const quoteKey = (text: string) => `\u201c${text}\u201d`;
  const clone = (site: QuotesSite): QuotesSite => structuredClone(site);

  async function run(): Promise<{ code: number; manifest: RunManifest; changes: ChangeRecord[]; current: Row[] }> {
    const io = capture();
    const code = await main(
      [
        'run',
        'quotes',
        '--jobs',
        jobsDir.path,
        '--data-dir',
        dataDir.path,
        '--start-url',
        `${server.origin}/`,
        '--allow-address',
        '127.0.0.1',
      ],
      io.io,
    );
    const manifest = await latestFinishedRun(store, 'quotes');
    if (!manifest) throw new Error(`no finished run: ${io.stdout()} ${io.stderr()}`);
    expectManifestInvariant(manifest);
    const changes: ChangeRecord[] = [];
    for await (const row of runChanges(store, manifest)) changes.push(row as unknown as ChangeRecord);
    const current: Row[] = [];
    const snapshot = await readSnapshot(store, 'quotes');
    if (snapshot) for await (const row of currentRows(store, snapshot)) current.push(row);
    return { code, manifest, changes, current };
  }

  const keys = (changes: readonly ChangeRecord[], type: ChangeRecord['type']) =>
    changes
      .filter((change) => change.type === type)
      .map((change) => change.key)
      .sort();

  /** The items the site holds, as the current state should show them. */
  function expectedCurrent(site: QuotesSite): Map<string, Record<string, unknown>> {
    const expected = new Map<string, Record<string, unknown>>();
    const slugOf = new Map(site.authors.map((author) => [author.name, author.slug]));
    for (const quote of site.quotes) {
      expected.set(quoteKey(quote.text), {
        text: quoteKey(quote.text),
        author: quote.author,
        tags: quote.tags,
        authorUrl: `${server.origin}/author/${slugOf.get(quote.author)}`,
      });
    }
    for (const author of site.authors) {
      if (site.deleted.has(author.slug)) continue;
      expected.set(author.name, {
        name: author.name,
        born: isoDate(author.born),
        bio: author.bio.replace(/\s+/g, ' '),
        // The page's identity after the redirect: the trailing-slash URL.
        url: `${server.origin}/author/${author.slug}/`,
      });
    }
    return expected;
  }

  function expectCurrentState(current: readonly Row[], site: QuotesSite): void {
    const expected = expectedCurrent(site);
    expect(current.map((row) => row._key).sort()).toEqual([...expected.keys()].sort());
    for (const row of current) {
      const { _key, _url, _changedIn, ...data } = row;
      expect(data, `current state of ${String(_key)}`).toEqual(expected.get(String(_key)));
    }
  }

  beforeAll(async () => {
    server = await startQuotesServer(generateQuotesSite(10));
    store = new FileSystemObjectStore({ root: join(dataDir.path, 'store') });
    await writeFile(join(jobsDir.path, 'quotes.yaml'), QUOTES_JOB_YAML);
  });

  afterAll(async () => {
    await server?.close();
  });

  it('run 1: 100 quotes and 50 authors, all new, none removed, all in the current state', async () => {
    const { code, manifest, changes, current } = await run();
    expect(code).toBe(EXIT.ok);
    expect(manifest.state).toBe('succeeded');
    // 10 listing pages and 50 author pages, each one URL of the run although it was redirected.
    expect(manifest.urls).toEqual({ accepted: 60, parsed: 60, unchanged: 0, skipped: 0, failed: 0 });
    expect(manifest.items).toMatchObject({ written: 150, invalid: 0, duplicates: 0 });
    expect(manifest.changes).toEqual({ new: 150, changed: 0, removed: 0, removalsInferred: true });
    expect(keys(changes, 'removed')).toEqual([]);
    expect(keys(changes, 'new')).toHaveLength(150);
    expectCurrentState(current, server.site);
    const author = current.find((row) => row._key === 'Author 7');
    expect(author?._url).toBe(`${server.origin}/author/author-07/`);
  });

  it('run 2 after editing a field and a key on 3 pages: exact changes, the old key removed, not degraded', async () => {
    const site = clone(server.site);
    const edited = site.quotes[25] as QuotesSite['quotes'][number];
    const oldKey = quoteKey(edited.text);
    edited.text = 'An edited quote: its key is new.';
    (site.quotes[42] as QuotesSite['quotes'][number]).tags = ['edited'];
    const author = site.authors[3] as QuotesSite['authors'][number];
    author.born = 'July 4, 1900';
    server.site = site;
    const { code, manifest, changes, current } = await run();
    expect(manifest.quality?.problems).toEqual([]);
    expect(manifest.state).toBe('succeeded');
    expect(code).toBe(EXIT.ok);
    // Pages 3 and 5 and one author page changed; 57 pages answer 304.
    expect(manifest.urls).toEqual({ accepted: 60, parsed: 3, unchanged: 57, skipped: 0, failed: 0 });
    expect(keys(changes, 'new')).toEqual([quoteKey(edited.text)]);
    expect(keys(changes, 'changed')).toEqual(
      [author.name, quoteKey((site.quotes[42] as QuotesSite['quotes'][number]).text)].sort(),
    );
    expect(keys(changes, 'removed')).toEqual([oldKey]);
    const diff = changes.find((change) => change.key === author.name)?.diff;
    expect(diff).toEqual({ born: { before: '1803-03-04', after: '1900-07-04' } });
    expect(manifest.changes).toEqual({ new: 1, changed: 2, removed: 1, removalsInferred: true });
    expectCurrentState(current, site);
    // Fill rates are per template and count unchanged pages with the fields they had.
    expect(manifest.quality?.templates.quote?.fillRates.tags).toBeCloseTo(67 / 100, 3);
    expect(manifest.quality?.templates.author?.items).toBe(50);
    expect(manifest.quality?.templates.quote?.items).toBe(100);
  });

  it('run 3 after deleting an author page: exactly that author removed, the run partial', async () => {
    const site = clone(server.site);
    site.deleted.add('author-12');
    server.site = site;
    const { code, manifest, changes, current } = await run();
    expect(manifest.state).toBe('partial');
    expect(code).toBe(EXIT.partial);
    expect(manifest.urls).toEqual({ accepted: 60, parsed: 0, unchanged: 59, skipped: 0, failed: 1 });
    expect(manifest.reasons).toEqual({ 'http-404': 1 });
    expect(keys(changes, 'removed')).toEqual(['Author 12']);
    expect(keys(changes, 'new')).toEqual([]);
    expect(keys(changes, 'changed')).toEqual([]);
    expectCurrentState(current, site);
  });

  it('run 4 after adding a listing page: its quotes and author are new, nothing else changes', async () => {
    const site = clone(server.site);
    site.authors.push({ slug: 'author-51', name: 'Author 51', born: 'May 1, 1950', bio: 'New here.' });
    for (let index = 0; index < 10; index++) {
      site.quotes.push({ text: `A new quote ${index + 1}.`, author: 'Author 51', tags: ['new'] });
    }
    server.site = site;
    const { code, manifest, changes, current } = await run();
    // Page 10 gained a "next" link, page 11 is new, and so is the author page; the deleted author still 404s.
    expect(manifest.urls).toEqual({ accepted: 62, parsed: 3, unchanged: 58, skipped: 0, failed: 1 });
    expect(manifest.state).toBe('partial');
    expect(code).toBe(EXIT.partial);
    expect(keys(changes, 'new')).toEqual(
      ['Author 51', ...Array.from({ length: 10 }, (_, index) => quoteKey(`A new quote ${index + 1}.`))].sort(),
    );
    expect(keys(changes, 'changed')).toEqual([]);
    expect(keys(changes, 'removed')).toEqual([]);
    expectCurrentState(current, site);
  });

  it('reparse of run 1 from the CLI says what it did and leaves the current state as run 4 left it', async () => {
    const manifests = [];
    for await (const manifest of listManifests(store, 'quotes')) manifests.push(manifest);
    const first = manifests.sort((a, b) => Date.parse(a.startedAt) - Date.parse(b.startedAt))[0] as RunManifest;
    const requests = server.requests.length;
    const io = capture();
    const code = await main(
      ['reparse', 'quotes', '--run', first.runId, '--jobs', jobsDir.path, '--data-dir', dataDir.path],
      io.io,
    );
    expect(server.requests.length).toBe(requests);
    // Against today's state, run 1's pages hold two items since removed (the quote whose key was edited, the deleted
    // author: new again) and two older versions (the edited tags and birth date: changed).
    expect(code, io.stderr()).toBe(EXIT.ok);
    expect(io.stdout()).toMatch(new RegExp(`Reparsed  [\\d.]+ MB of pages archived by run ${first.runId}; nothing fetched`));
    expect(io.stdout()).toContain('Changes   2 new, 2 changed, 0 removed (removals not inferred)');
    expect(io.stdout()).toContain('Current   unchanged: changes are against the current state, which this run did not move');
    expect(io.stdout()).not.toContain('on the wire');
    const snapshot = await readSnapshot(store, 'quotes');
    const current: Row[] = [];
    if (snapshot) for await (const row of currentRows(store, snapshot)) current.push(row);
    expectCurrentState(current, server.site);
  });
});

describe('A key that changed during a run that could not infer removals', () => {
  let server: QuotesServer;
  let local: Awaited<ReturnType<typeof tempRuntime>>;

  beforeAll(async () => {
    server = await startQuotesServer(generateQuotesSite(4));
    const job = parseJob(YAML.parse(QUOTES_JOB_YAML.replace('http://127.0.0.1:1/', `${server.origin}/`)), 'quotes.yaml');
    local = await tempRuntime([job]);
  });

  afterAll(async () => {
    await local?.dispose();
    await server?.close();
  });

  async function removedKeys(manifest: RunManifest): Promise<string[]> {
    const removed: string[] = [];
    for await (const row of runChanges(local.runtime.store, manifest)) if (row.type === 'removed') removed.push(String(row.key));
    return removed.sort();
  }

  it('is removed by the next good run, although its page is unchanged by then', async () => {
    const first = await local.run('quotes');
    expect(first.state).toBe('succeeded');
    expect(first.changes.new).toBe(60);

    // Run 2: a quote's text (its key) is edited while most author pages are down: the author count falls below half
    // of the baseline, so the run is degraded and infers no removals.
    const site = structuredClone(server.site);
    const edited = site.quotes[5] as QuotesSite['quotes'][number];
    const oldKey = `\u201c${edited.text}\u201d`;
    edited.text = 'Edited while the authors were down.';
    for (const author of site.authors.slice(0, 15)) site.unavailable.add(author.slug);
    server.site = site;
    const second = await local.run('quotes');
    expect(second.state).toBe('degraded');
    expect(second.quality?.problems).toEqual([
      `template "author": item count fell from 20 to 5 (below 50% of run ${first.runId})`,
    ]);
    expect(second.changes).toMatchObject({ new: 1, removed: 0, removalsInferred: false });

    // Run 3: the authors are back (their pages unchanged since run 1), the edited page is unchanged since run 2.
    const recovered = structuredClone(site);
    recovered.unavailable.clear();
    server.site = recovered;
    const third = await local.run('quotes');
    expect(third.state).toBe('succeeded');
    expect(third.urls).toMatchObject({ accepted: 24, parsed: 0, unchanged: 24 });
    expect(await removedKeys(third)).toEqual([oldKey]);
    const snapshot = await readSnapshot(local.runtime.store, 'quotes');
    const current: string[] = [];
    if (snapshot) for await (const row of currentRows(local.runtime.store, snapshot)) current.push(String(row._key));
    expect(current).toHaveLength(60);
    expect(current).not.toContain(oldKey);
    expect(current).toContain('\u201cEdited while the authors were down.\u201d');
  });
});

describe('Reparse of an older run', () => {
  let server: QuotesServer;
  let local: Awaited<ReturnType<typeof tempRuntime>>;

  beforeAll(async () => {
    server = await startQuotesServer(generateQuotesSite(2));
    const job = parseJob(YAML.parse(QUOTES_JOB_YAML.replace('http://127.0.0.1:1/', `${server.origin}/`)), 'quotes.yaml');
    local = await tempRuntime([job]);
  });

  afterAll(async () => {
    await local?.dispose();
    await server?.close();
  });

  async function currentState(): Promise<{ runId: string | undefined; rows: Map<string, Row> }> {
    const snapshot = await readSnapshot(local.runtime.store, 'quotes');
    const rows = new Map<string, Row>();
    if (snapshot) for await (const row of currentRows(local.runtime.store, snapshot)) rows.set(String(row._key), row);
    return { runId: snapshot?.runId, rows };
  }

  async function reparse(sourceRunId: string, asLatest: boolean): Promise<RunManifest> {
    const runId = await local.runtime.startReparse('quotes', sourceRunId, { asLatest });
    const outcome = await local.runtime.waitForRun('quotes', runId);
    if (outcome.kind !== 'finished') throw new Error('reparse stalled');
    expectManifestInvariant(outcome.manifest);
    return outcome.manifest;
  }

  it('never moves the current state backwards, unless asked with asLatest', async () => {
    const first = await local.run('quotes');
    const site = structuredClone(server.site);
    (site.authors[0] as QuotesSite['authors'][number]).bio = 'A newer biography.';
    server.site = site;
    const second = await local.run('quotes');
    expect(second.changes).toMatchObject({ changed: 1, removed: 0 });
    const before = await currentState();
    expect(before.runId).toBe(second.runId);
    expect(before.rows.get('Author 1')?.bio).toBe('A newer biography.');

    const requests = server.requests.length;
    const reparsed = await reparse(first.runId, false);
    expect(server.requests.length).toBe(requests);
    expect(reparsed.reparse).toEqual({ sourceRunId: first.runId, asLatest: false });
    expect(reparsed.urls).toEqual({ accepted: 12, parsed: 12, unchanged: 0, skipped: 0, failed: 0 });
    // Nothing was fetched: no transfer is counted, and nothing is inferred removed.
    expect(reparsed.bytes.wire).toBe(0);
    expect(reparsed.changes).toEqual({ new: 0, changed: 1, removed: 0, removalsInferred: false });
    expect(await currentState()).toEqual(before);
    // The job's memory did not move either: the next crawl sees no change.
    const third = await local.run('quotes');
    expect(third.changes).toEqual({ new: 0, changed: 0, removed: 0, removalsInferred: true });
    expect(third.urls).toMatchObject({ parsed: 0, unchanged: 12 });
    const afterThird = await currentState();

    const latest = await reparse(first.runId, true);
    expect(latest.reparse).toEqual({ sourceRunId: first.runId, asLatest: true });
    expect(latest.changes).toMatchObject({ changed: 1, removed: 0, removalsInferred: false });
    const after = await currentState();
    expect(after.runId).toBe(latest.runId);
    expect(after.rows.get('Author 1')?.bio).toBe('Author 1 wrote many things.');
    expect([...after.rows.keys()].sort()).toEqual([...afterThird.rows.keys()].sort());
  });
});

describe('An item key twice on one page', () => {
  it('is written once, the second counted as a duplicate', async () => {
    const site = generateQuotesSite(1);
    site.quotes[1] = structuredClone(site.quotes[0] as QuotesSite['quotes'][number]);
    const server = await startQuotesServer(site);
    const job = parseJob(YAML.parse(QUOTES_JOB_YAML.replace('http://127.0.0.1:1/', `${server.origin}/`)), 'quotes.yaml');
    const local = await tempRuntime([job]);
    try {
      const manifest = await local.run('quotes');
      const rows = await local.rows(manifest);
      const keys = rows.map((row) => String(row._key));
      expect(keys).toHaveLength(new Set(keys).size);
      expect(manifest.items).toMatchObject({ written: 14, duplicates: 1 });
    } finally {
      await local.dispose();
      await server.close();
    }
  });
});
