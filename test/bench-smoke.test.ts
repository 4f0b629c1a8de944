import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crawlScrapeline } from '../bench/crawl-scrapeline.js';
import { type RunningServer, startFixtureServer } from '../bench/server.js';
import { createFixture } from '../bench/site.js';
import { verifyItems } from '../bench/verify.js';
import { tempDirAll } from './fixtures/temp-dir.js';

const PRODUCTS = 200;

describe('bench harness (smoke)', () => {
  let server: RunningServer;
  const dir = tempDirAll('bench-smoke');

  beforeAll(async () => {
    server = await startFixtureServer({ fixture: { products: PRODUCTS, perPage: 20 } });
  });

  afterAll(async () => {
    await server?.close();
  });

  it('the fixture is deterministic and sized like a real store', () => {
    const a = createFixture({ products: 50 });
    const b = createFixture({ products: 50 });
    const path = a.products[7]?.path ?? '';
    expect(a.render(path)).toBe(b.render(path));
    const sizes = a.products.map((product) => Buffer.byteLength(a.render(product.path) ?? ''));
    expect(Math.min(...sizes)).toBeGreaterThanOrEqual(30_000);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(60_000);
    expect(a.listingPages).toBe(3);
    expect(a.render('/nope')).toBeUndefined();
  });

  it('scrapeline crawls every page and extracts every item exactly', async () => {
    const itemsFile = join(dir.path, 'items.ndjson');
    const result = await crawlScrapeline({
      url: server.url,
      dataDir: join(dir.path, 'data'),
      itemsFile,
      runtime: { concurrency: { fetch: 2, parse: 2, postprocess: 1 }, batchSize: 10 },
    });
    expect(result.pages).toBe(PRODUCTS + PRODUCTS / 20);
    const verification = await verifyItems(itemsFile, server.fixture.products);
    expect(verification.samples).toEqual([]);
    expect(verification).toMatchObject({ items: PRODUCTS, exact: PRODUCTS, wrong: 0, missing: 0, complete: true });
  }, 15_000);
});
