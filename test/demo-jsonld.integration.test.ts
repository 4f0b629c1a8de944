import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoServer, startDemoServer } from '../demo/server.js';
import { generateSite, type Site } from '../demo/site.js';
import { parseJob } from '../shared/job/load.js';
import type { RunManifest } from '../shared/pipeline/finalize.js';
import type { Row } from '../shared/query.js';
import { tempRuntime } from './support/local-run.js';
import { expectManifestInvariant } from './support/manifest.js';

/**
 * The demo's book pages publish JSON-LD (schema.org Book and Product): the ready-made Product template, with two
 * fields of its own, must read every book exactly as the generator made it, hostile titles included.
 */
describe('Demo site: JSON-LD on book pages against the ground truth', () => {
  let site: Site;
  let server: DemoServer;
  let local: Awaited<ReturnType<typeof tempRuntime>>;
  let manifest: RunManifest;
  let rows: Row[];

  beforeAll(async () => {
    site = generateSite({ books: 200, perPage: 20, brokenNotFound: 0, brokenServerError: 0 });
    server = await startDemoServer({ site });
    const job = parseJob(
      {
        name: 'books-jsonld',
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
      },
      'books-jsonld.yaml',
    );
    local = await tempRuntime([job]);
    manifest = await local.run('books-jsonld');
    rows = await local.rows(manifest);
  }, 60_000);

  afterAll(async () => {
    await local?.dispose();
    await server?.close();
  });

  it('reads every book from its JSON-LD exactly as generated', () => {
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
