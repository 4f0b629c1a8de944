import { afterAll, describe, expect, it } from 'vitest';
import { generateSite } from '../../../demo/site.js';
import { NonRetryableError } from '../../../shared/errors.js';
import { MAX_NESTING_DEPTH } from '../../../shared/extract/dom.js';
import { extractPage } from '../../../shared/extract/page.js';
import { ExtractTimeoutError, WorkerPoolExtractor } from '../../../shared/extract/pool.js';
import { loadJobFile, parseJob } from '../../../shared/job/load.js';

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
