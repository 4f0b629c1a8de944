import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../cli/common.js';
import { main } from '../cli/main.js';
import { extractPage } from '../shared/extract/page.js';
import { resolveBundledJobs } from '../shared/job/bundled.js';
import { JobValidationError } from '../shared/job/errors.js';
import { parseJob } from '../shared/job/load.js';
import type { Job } from '../shared/job/schema.js';
import type { Row } from '../shared/query.js';
import { type FixtureServer, startFixtureServer } from './fixtures/http-fixture.js';
import { capture } from './support/cli-io.js';
import { tempRuntime } from './support/local-run.js';
import { expectManifestInvariant } from './support/manifest.js';

/** Products of the fixture API, 2 per page: pages 1 and 2 full, page 3 with one, page 4 empty. */
const PRODUCTS = [
  { sku: 'A', price: { amount: 10.5 }, tags: [{ name: 'x' }, { name: 'y' }] },
  { sku: 'B', price: { amount: 11 }, tags: [] },
  { sku: 'C', price: { amount: 12 }, tags: [{ name: 'z' }] },
  { sku: 'D', price: { amount: '13.25' }, tags: [] },
  { sku: 'E', price: { amount: 14 }, tags: [] },
];

function json(value: unknown, type = 'application/json; charset=utf-8') {
  return (_request: unknown, response: import('node:http').ServerResponse) => {
    response.writeHead(200, { 'content-type': type }).end(JSON.stringify(value));
  };
}

function job(input: Record<string, unknown>, origin: string): Job {
  return parseJob({ start: { urls: [`${origin}/`] }, ...input }, `${String(input.name)}.yaml`);
}

const PRODUCT_TEMPLATE = {
  items: 'products',
  key: 'sku',
  fields: {
    sku: { from: 'json', query: 'sku', required: true },
    price: { from: 'json', query: 'price.amount', type: 'number' },
    tags: { from: 'json', query: 'tags[*].name', many: true },
  },
};

describe('JSON APIs through the pipeline', () => {
  let server: FixtureServer;
  let rowsOf: (job: Job) => Promise<{ rows: Row[]; manifest: import('../shared/pipeline/finalize.js').RunManifest }>;

  beforeAll(async () => {
    server = await startFixtureServer();
    for (let page = 1; page <= 4; page++) {
      const products = PRODUCTS.slice((page - 1) * 2, page * 2);
      server.route(`/api/products?page=${page}`, json({ page, products }));
      if (page === 1) server.route('/api/products', json({ page, products }));
    }
    server.route('/api/cursor', json({ data: { items: PRODUCTS.slice(0, 3) }, links: { next: '/api/cursor?after=C' } }));
    server.route('/api/cursor?after=C', json({ data: { items: PRODUCTS.slice(3) }, links: { next: null } }));
    server.route('/api/plain', json({ products: PRODUCTS.slice(0, 1) }, 'text/plain'));
    server.route('/api/broken', (_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"products": [');
    });
    rowsOf = async (one) => {
      const local = await tempRuntime([one]);
      try {
        const manifest = await local.run(one.name);
        expectManifestInvariant(manifest);
        return { manifest, rows: await local.rows(manifest) };
      } finally {
        await local.dispose();
      }
    };
  });

  afterAll(async () => {
    await server?.close();
  });

  it('follows a page counter until the list is empty, several items per response', async () => {
    // Prepare
    const counter = job(
      {
        name: 'counter',
        start: { urls: [`${server.origin}/api/products`], template: 'product' },
        follow: [{ pageCounter: { param: 'page', untilEmpty: 'products' }, template: 'product' }],
        templates: { product: PRODUCT_TEMPLATE },
      },
      server.origin,
    );

    // Act
    const { manifest, rows } = await rowsOf(counter);

    // Assess: pages 1–4 fetched (the 4th is empty and ends it), every product once, typed
    expect(manifest.urls).toMatchObject({ accepted: 4, parsed: 4, failed: 0 });
    expect(
      rows.map(({ sku, price, tags }) => ({ sku, price, tags })).sort((a, b) => String(a.sku).localeCompare(String(b.sku))),
    ).toEqual([
      { sku: 'A', price: 10.5, tags: ['x', 'y'] },
      { sku: 'B', price: 11, tags: [] },
      { sku: 'C', price: 12, tags: ['z'] },
      { sku: 'D', price: 13.25, tags: [] },
      { sku: 'E', price: 14, tags: [] },
    ]);
  });

  it('follows a next link from a JSON value until it is null', async () => {
    // Prepare
    const cursor = job(
      {
        name: 'cursor',
        start: { urls: [`${server.origin}/api/cursor`], template: 'product' },
        follow: [{ query: 'links.next', template: 'product' }],
        templates: { product: { ...PRODUCT_TEMPLATE, items: 'data.items' } },
      },
      server.origin,
    );

    // Act
    const { manifest, rows } = await rowsOf(cursor);

    // Assess
    expect(manifest.urls).toMatchObject({ accepted: 2, parsed: 2 });
    expect(rows.map((row) => row.sku).sort()).toEqual(['A', 'B', 'C', 'D', 'E']);
  });

  it('reads a JSON body served as text/plain with format: json; fails invalid JSON and HTML templates on JSON pages', async () => {
    // Prepare
    const formats = job(
      {
        name: 'formats',
        start: { urls: [`${server.origin}/api/plain`, `${server.origin}/api/broken`, `${server.origin}/api/cursor?after=C`] },
        follow: [],
        templates: {},
      },
      server.origin,
    );
    const plain = job(
      {
        name: 'plain',
        start: { urls: [`${server.origin}/api/plain`], template: 'product' },
        templates: { product: { ...PRODUCT_TEMPLATE, format: 'json' } },
      },
      server.origin,
    );
    const mismatch = job(
      {
        name: 'mismatch',
        start: { urls: [`${server.origin}/api/broken`, `${server.origin}/api/cursor?after=C`], template: 'page' },
        follow: [{ query: 'links.next' }],
        templates: { page: { key: 'title', fields: { title: 'h1' } } },
      },
      server.origin,
    );

    // Act
    const results = await Promise.all([rowsOf(formats), rowsOf(plain), rowsOf(mismatch)]);

    // Assess: a job that reads no JSON refuses JSON and text/plain bodies, as before
    expect(results[0].manifest.reasons).toEqual({ 'content-type': 3 });
    expect(results[1].rows.map((row) => row.sku)).toEqual(['A']);
    expect(results[2].manifest.reasons).toEqual({ 'invalid-json': 1, 'format-mismatch': 1 });
  });

  it('extracts the same from the job as the Lambda functions embed it, and previews with extract --url', async () => {
    // Prepare
    const input = {
      name: 'preview',
      start: { urls: [`${server.origin}/api/products?page=1`], template: 'product' },
      follow: [{ pageCounter: { param: 'page', untilEmpty: 'products' }, template: 'product' }],
      templates: { product: PRODUCT_TEMPLATE },
    };
    const parsed = job(input, server.origin);
    const [bundled] = resolveBundledJobs([{ source: 'preview.json', job: JSON.parse(JSON.stringify(parsed)) }]);
    if (!bundled) throw new Error('no bundled job');
    const body = JSON.stringify({ products: PRODUCTS.slice(0, 2) });
    const page = {
      url: `${server.origin}/api/products?page=1`,
      finalUrl: `${server.origin}/api/products?page=1`,
      template: 'product',
      hosts: ['127.0.0.1'],
      contentType: 'application/json',
    };
    const jobsDir = await mkdtemp(join(tmpdir(), 'scrapeline-json-'));
    await writeFile(join(jobsDir, 'preview.json'), JSON.stringify(input));
    const extract = capture();

    // Act
    const fromBundle = await extractPage(body, bundled, page);
    const args = ['extract', 'preview', '--jobs', jobsDir, '--allow-address', '127.0.0.1'];
    const code = await main([...args, '--url', `${server.origin}/api/products?page=2`], extract.io);
    await rm(jobsDir, { recursive: true, force: true });

    // Assess
    expect(fromBundle).toEqual(await extractPage(body, parsed, page));
    expect(code, extract.stderr()).toBe(EXIT.ok);
    const output = JSON.parse(extract.stdout()) as { items: { key: string }[]; links: { url: string }[] };
    expect(output.items.map((item) => item.key)).toEqual(['C', 'D']);
    expect(output.links.map((link) => new URL(link.url).search)).toEqual(['?page=3']);
  });

  it('names invalid JMESPath queries and templates mixing JSON and HTML fields', () => {
    // Act
    let problems: string[] = [];
    try {
      job(
        {
          name: 'invalid',
          follow: [{ query: 'links.next[' }, { pageCounter: { param: 'page', untilEmpty: 'nope(items)' } }],
          templates: {
            product: { items: 'products[', key: 'sku', fields: { sku: { from: 'json', query: 'sku' }, title: 'h1' } },
          },
        },
        'https://api.example',
      );
    } catch (error) {
      if (!(error instanceof JobValidationError)) throw error;
      problems = error.problems.map((problem) => `${problem.path}: ${problem.message}`);
    }

    // Assess
    expect(problems).toEqual([
      expect.stringMatching(/^follow\[0\]\.query: invalid JMESPath query: /),
      'follow[1].pageCounter.untilEmpty: invalid JMESPath query: Unknown function: nope() in expression: nope(items)',
      'templates.product.fields.title.from: "selector" reads HTML, but this template reads JSON (a field reads from: "json"): use from: "json" or "url"',
      expect.stringMatching(/^templates\.product\.items: invalid JMESPath query: /),
    ]);
  });
});
