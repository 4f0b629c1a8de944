import { afterAll, describe, expect, it } from 'vitest';
import { generateSite } from '../../../demo/site.js';
import { NonRetryableError, RetryableError } from '../../../shared/errors.js';
import { MAX_NESTING_DEPTH } from '../../../shared/extract/dom.js';
import { extractPage } from '../../../shared/extract/page.js';
import { ExtractTimeoutError, WorkerPoolExtractor } from '../../../shared/extract/pool.js';
import { loadJobFile, parseJob } from '../../../shared/job/load.js';
import { silentLog } from '../../../shared/ports.js';

describe('Class: WorkerPoolExtractor', () => {
  const pools: WorkerPoolExtractor[] = [];
  afterAll(async () => {
    await Promise.all(pools.map((pool) => pool.close()));
  });

  it('extracts in worker threads exactly what the calling thread extracts', async () => {
    // Prepare
    const job = await loadJobFile('jobs/books.ts');
    const pool = new WorkerPoolExtractor([job], { threads: 2 });
    pools.push(pool);
    const site = generateSite({ books: 12 });
    const pages = [...site.books.map((book) => book.url), '/catalogue/page-1.html'].map((path) => ({
      html: site.page(path).body,
      source: {
        url: `http://127.0.0.1:8321${path}`,
        finalUrl: `http://127.0.0.1:8321${path}`,
        template: path.includes('/page-') ? undefined : 'book',
        hosts: ['127.0.0.1:8321'],
      },
    }));

    // Act
    const inWorkers = await Promise.all(pages.map((page) => pool.extract(page.html, job, page.source)));
    const inProcess = await Promise.all(pages.map((page) => extractPage(page.html, job, page.source)));

    // Assess
    expect(inWorkers).toEqual(inProcess);
    expect(inWorkers.slice(0, 12).map((page) => page.items[0]?.key)).toEqual(site.books.map((book) => book.upc));
  });

  it('keeps the reason and retry class of a failure in a worker', async () => {
    const job = parseJob(
      { name: 'deep', start: { urls: ['https://deep.example/'] }, templates: { t: { key: 'k', fields: { k: 'b' } } } },
      'deep.ts',
    );
    const pool = new WorkerPoolExtractor([job], { threads: 1 });
    pools.push(pool);
    const bomb = '<div>'.repeat(MAX_NESTING_DEPTH + 10);
    const error = await pool
      .extract(bomb, job, {
        url: 'https://deep.example/',
        finalUrl: 'https://deep.example/',
        template: 't',
        hosts: ['deep.example'],
      })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(NonRetryableError);
    expect((error as NonRetryableError).reason).toBe('unparseable');
  });

  it('extracts jobs with a code extractor on the calling thread (functions cannot cross threads)', async () => {
    const job = parseJob(
      {
        name: 'code',
        start: { urls: ['https://code.example/'] },
        templates: { t: { key: 'k', fields: { k: 'b' }, extractor: () => [{ k: 'from-code' }] } },
      },
      'code.ts',
    );
    const pool = new WorkerPoolExtractor([job], { threads: 1 });
    pools.push(pool);
    const result = await pool.extract('<b>x</b>', job, {
      url: 'https://code.example/',
      finalUrl: 'https://code.example/',
      template: 't',
      hosts: ['code.example'],
    });
    expect(result.items[0]?.key).toBe('from-code');
  });

  it('fails a page past the deadline with reason extract-timeout and replaces the stuck worker', async () => {
    // Prepare: a catastrophic pattern the job validation refuses, put back behind its back (a worker could hang
    // the same way on anything validation cannot see)
    const job = parseJob(
      { name: 'redos', start: { urls: ['https://redos.example/'] }, templates: { t: { key: 'k', fields: { k: 'b' } } } },
      'redos.ts',
    );
    const field = job.templates.t?.fields.k;
    if (!field) throw new Error('no field');
    Object.assign(field, { pattern: '^(a+)+$' });
    const pool = new WorkerPoolExtractor([job], { threads: 1, pageTimeoutMs: 1000 });
    pools.push(pool);
    const source = { url: 'https://redos.example/', finalUrl: 'https://redos.example/', template: 't', hosts: ['redos.example'] };

    // Act: a 60-character text that almost matches would take hours; then a page that matches at once
    const stuck = await pool.extract(`<b>${'a'.repeat(60)}!</b>`, job, source).catch((caught: unknown) => caught);
    const next = await pool.extract('<b>aaaa</b>', job, { ...source, url: 'https://redos.example/next' });

    // Assess
    expect(stuck).toBeInstanceOf(ExtractTimeoutError);
    expect((stuck as ExtractTimeoutError).reason).toBe('extract-timeout');
    expect((stuck as ExtractTimeoutError).retryable).toBe(false);
    expect(next.items[0]?.key).toBe('aaaa');
  });

  it('extracts queued pages one at a time per worker, each under its own deadline', async () => {
    const job = parseJob(
      { name: 'queue', start: { urls: ['https://queue.example/'] }, templates: { t: { key: 'k', fields: { k: 'b' } } } },
      'queue.ts',
    );
    const pool = new WorkerPoolExtractor([job], { threads: 1, pageTimeoutMs: 5_000 });
    pools.push(pool);
    const pages = Array.from({ length: 50 }, (_, index) => ({
      url: `https://queue.example/${index}`,
      finalUrl: `https://queue.example/${index}`,
      template: 't',
      hosts: ['queue.example'],
    }));
    const results = await Promise.all(pages.map((page, index) => pool.extract(`<b>${index}</b>`, job, page)));
    expect(results.map((result) => result.items[0]?.key)).toEqual(pages.map((_, index) => String(index)));
  });
});

describe('Class: WorkerPoolExtractor, when workers die', () => {
  const pools: WorkerPoolExtractor[] = [];
  afterAll(async () => {
    await Promise.all(pools.map((pool) => pool.close()));
  });
  const job = parseJob(
    { name: 'crash', start: { urls: ['https://crash.example/'] }, templates: { t: { key: 'k', fields: { k: 'b' } } } },
    'crash.ts',
  );
  const page = (index: number) => ({
    url: `https://crash.example/${index}`,
    finalUrl: `https://crash.example/${index}`,
    template: 't',
    hosts: ['crash.example'],
  });
  const fixture = (name: string) => new URL(`../../fixtures/pool/${name}`, import.meta.url);
  const errors = () => {
    const logged: string[] = [];
    const log = { ...silentLog, error: (message: string) => logged.push(message) };
    return { logged, log };
  };

  it('fails only the page of a worker killed mid-batch; the other pages are extracted, the dead worker replaced', async () => {
    // Prepare
    const pool = new WorkerPoolExtractor([job], { threads: 2, entry: fixture('crashing-worker.mjs') });
    pools.push(pool);
    const pages = Array.from({ length: 40 }, (_, index) => `<b>${index}</b>${index === 7 ? '<crash/>' : ''}`);

    // Act
    const results = await Promise.allSettled(pages.map((html, index) => pool.extract(html, job, page(index))));

    // Assess: one rejection, the crashed page's, retryable
    const rejected = results.flatMap((result, index) => (result.status === 'rejected' ? [{ index, error: result.reason }] : []));
    expect(rejected.map((failure) => failure.index)).toEqual([7]);
    expect(rejected[0]?.error).toBeInstanceOf(RetryableError);
    expect(rejected[0]?.error).toMatchObject({ reason: 'worker-failed' });
    const keys = results.map((result) => (result.status === 'fulfilled' ? result.value.items[0]?.key : undefined));
    expect(keys.filter((key) => key !== undefined)).toEqual(pages.map((_, index) => String(index)).filter((key) => key !== '7'));
    expect(pool.workers).toBe(2);
  });

  it('keeps both places of the rotation after workers die, so the next batch is spread over two workers again', async () => {
    // Prepare: a worker crashes in each of two batches
    const pool = new WorkerPoolExtractor([job], { threads: 2, entry: fixture('crashing-worker.mjs') });
    pools.push(pool);
    for (const crash of [0, 1]) {
      await Promise.allSettled([pool.extract('<crash/>', job, page(crash)), pool.extract('<b>x</b>', job, page(10 + crash))]);
    }

    // Act: 30 pages after the crashes
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, index) => pool.extract(`<b>${index}</b>`, job, page(index))),
    );

    // Assess
    expect(results.map((result) => result.items[0]?.key)).toEqual(Array.from({ length: 30 }, (_, index) => String(index)));
    expect(pool.workers).toBe(2);
  });

  it('does not fail pages waiting for the pool when one worker cannot start and another can', async () => {
    // Prepare: of two workers started one after the other, one has an odd thread id and cannot load its modules
    const { logged, log } = errors();
    const pool = new WorkerPoolExtractor([job], { threads: 2, entry: fixture('odd-worker.mjs'), log });
    pools.push(pool);

    // Act: pages queued before any worker is ready
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, index) => pool.extract(`<b>${index}</b>`, job, page(index))),
    );

    // Assess
    expect(results.map((result) => result.items[0]?.key)).toEqual(Array.from({ length: 30 }, (_, index) => String(index)));
    expect(logged).toContain('parse worker failed');
  });

  it('gives up a place whose workers keep failing to start, and fails pages retryably once no worker is left', async () => {
    // Prepare
    const { logged, log } = errors();
    const pool = new WorkerPoolExtractor([job], { threads: 2, maxStartFailures: 3, entry: fixture('broken-worker.mjs'), log });
    pools.push(pool);

    // Act
    const queued = await pool.extract('<b>1</b>', job, page(1)).catch((caught: unknown) => caught);
    const later = await pool.extract('<b>2</b>', job, page(2)).catch((caught: unknown) => caught);
    await new Promise((resolve) => setTimeout(resolve, 300));

    // Assess: three workers started and failed in each of the two places, then none
    expect(queued).toBeInstanceOf(RetryableError);
    expect((queued as RetryableError).reason).toBe('worker-failed');
    expect((later as RetryableError).reason).toBe('worker-failed');
    expect(logged.filter((message) => message === 'parse worker failed')).toHaveLength(6);
    expect(pool.workers).toBe(0);
  });
});
