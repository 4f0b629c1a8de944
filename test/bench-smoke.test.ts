/**
 * Smoke test of the benchmark harness (bench/): a few hundred fixture pages crawled by scrapeline's local runtime
 * through the same runner `npm run bench` uses, every item checked against the fixture's ground truth. Asserts
 * correctness, never speed, so the harness cannot rot.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crawlScrapeline } from '../bench/crawl-scrapeline.js';
import { type RunningServer, startFixtureServer } from '../bench/server.js';
import { createFixture } from '../bench/site.js';
import { verifyItems } from '../bench/verify.js';

const PRODUCTS = 200;

describe('bench harness (smoke)', () => {
  let server: RunningServer;
  let dir: string;

  beforeAll(async () => {
    server = await startFixtureServer({ fixture: { products: PRODUCTS, perPage: 20 } });
    dir = await mkdtemp(join(tmpdir(), 'scrapeline-bench-smoke-'));
  });

  afterAll(async () => {
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
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
    const itemsFile = join(dir, 'items.ndjson');
    const result = await crawlScrapeline({
      url: server.url,
      dataDir: join(dir, 'data'),
      itemsFile,
      runtime: { concurrency: { fetch: 2, parse: 2, postprocess: 1 }, batchSize: 10 },
    });
    expect(result.pages).toBe(PRODUCTS + PRODUCTS / 20);
    const verification = await verifyItems(itemsFile, server.fixture.products);
    expect(verification.samples).toEqual([]);
    expect(verification).toMatchObject({ items: PRODUCTS, exact: PRODUCTS, wrong: 0, missing: 0, complete: true });
  }, 15_000);
});
