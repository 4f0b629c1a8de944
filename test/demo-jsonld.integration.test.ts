import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoServer, startDemoServer } from '../demo/server.js';
import { generateSite, type Site } from '../demo/site.js';
import { parseJob } from '../shared/job/load.js';
import type { RunManifest } from '../shared/pipeline/finalize.js';
import type { Row } from '../shared/query.js';
import { tempRuntime } from './support/local-run.js';
import { expectManifestInvariant } from './support/manifest.js';

/** A generated demo site, served, and the one run of a job against it with the items it wrote. */
interface DemoRun {
  site: Site;
  server: DemoServer;
  manifest: RunManifest;
  rows: Row[];
}

/**
 * Serves a demo site of `books` books (20 a listing page, no broken links) and runs the job named `name`, made by
 * `jobOf` for that server and site, once before the suite's tests; the runtime and the server are closed after
 * them. The returned run is filled in by the suite's `beforeAll`.
 */
function runOnDemoSite(books: number, name: string, jobOf: (server: DemoServer, site: Site) => object): DemoRun {
  const run = {} as DemoRun;
  let server: DemoServer | undefined;
  let local: Awaited<ReturnType<typeof tempRuntime>> | undefined;
  beforeAll(async () => {
    const site = generateSite({ books, perPage: 20, brokenNotFound: 0, brokenServerError: 0 });
    server = await startDemoServer({ site });
    local = await tempRuntime([parseJob({ name, ...jobOf(server, site) }, `${name}.yaml`)]);
    const manifest = await local.run(name);
    Object.assign(run, { site, server, manifest, rows: await local.rows(manifest) });
  }, 60_000);
  afterAll(async () => {
    await local?.dispose();
    await server?.close();
  });
  return run;
}

/**
 * The demo's book pages publish JSON-LD (schema.org Book and Product): the ready-made Product template, with two
 * fields of its own, must read every book exactly as the generator made it, hostile titles included.
 */
describe('Demo site: JSON-LD on book pages against the ground truth', () => {
  const run = runOnDemoSite(200, 'books-jsonld', (server) => ({
    start: { urls: [`${server.url}/catalogue/page-1.html`] },
    follow: [{ selector: 'ul.pager li.next a' }, { selector: 'article.product_pod h3 a', template: 'book' }],
    templates: {
      book: {
        preset: 'Product',
        key: 'sku',
        fields: {
          author: { from: 'jsonld', itemType: 'Book', path: 'author.name' },
          published: { from: 'jsonld', itemType: 'Book', path: 'datePublished', type: 'date' },
        },
      },
    },
  }));

  it('reads every book from its JSON-LD exactly as generated', () => {
    const { site, server, manifest, rows } = run;
    // Assess
    expectManifestInvariant(manifest);
    expect(manifest.items).toMatchObject({ written: site.books.length, invalid: 0 });
    // Titles with markup characters travel through the JSON-LD (`<` escaped as \u003c) unharmed.
    expect(site.books.some((book) => /[<&"']/.test(book.title))).toBe(true);
    const byKey = new Map(rows.map((row) => [row.sku, row]));
    for (const book of site.books) {
      const row = byKey.get(book.upc);
      expect(row, book.upc).toBeDefined();
      expect({
        name: row?.name,
        price: row?.price,
        currency: row?.currency,
        availability: row?.availability,
        rating: row?.rating,
        reviewCount: row?.reviewCount,
        author: row?.author,
        published: row?.published,
        url: row?.url,
      }).toEqual({
        name: book.title.replace(/\s+/g, ' ').trim(),
        price: book.price,
        currency: 'GBP',
        availability: book.inStock ? 'InStock' : 'OutOfStock',
        rating: book.rating,
        reviewCount: book.reviews,
        author: book.author,
        published: book.published,
        url: `${server.url}${book.url}`,
      });
    }
  });
});

describe('Demo site: the JSON API against the ground truth', () => {
  const run = runOnDemoSite(95, 'books-api', (server, site) => ({
    start: { urls: [`${server.url}${site.apiPaths[0]}`], template: 'book' },
    follow: [{ query: 'next', template: 'book' }],
    templates: {
      book: {
        items: 'books',
        key: 'upc',
        fields: {
          upc: { from: 'json', query: 'upc', required: true },
          title: { from: 'json', query: 'title', trim: false },
          price: { from: 'json', query: 'price.amount', type: 'number' },
          inStock: { from: 'json', query: 'availability.inStock', type: 'boolean' },
          stock: { from: 'json', query: 'availability.stock', type: 'integer' },
          rating: { from: 'json', query: 'rating', type: 'integer' },
          tags: { from: 'json', query: 'tags', many: true, trim: false },
          url: { from: 'json', query: 'url', type: 'url' },
        },
      },
    },
  }));

  it('follows the next links through every page and reads every book exactly as generated', () => {
    const { site, server, manifest, rows } = run;
    // Assess
    expectManifestInvariant(manifest);
    expect(site.apiPaths).toHaveLength(5);
    expect(manifest.urls).toMatchObject({ accepted: 5, parsed: 5, failed: 0 });
    expect(manifest.items).toMatchObject({ written: site.books.length, invalid: 0 });
    const byKey = new Map(rows.map((row) => [row.upc, row]));
    for (const book of site.books) {
      const { _key, _url, _runId, _fetchedAt, _changedIn, ...row } = byKey.get(book.upc) ?? {};
      expect(row, book.upc).toEqual({
        upc: book.upc,
        title: book.title,
        price: book.price,
        inStock: book.inStock,
        stock: book.stock,
        rating: book.rating,
        tags: book.tags,
        url: `${server.url}${book.url}`,
      });
    }
  });
});
