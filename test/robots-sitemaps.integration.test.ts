import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../cli/common.js';
import { main } from '../cli/main.js';
import { parseJob } from '../shared/job/load.js';
import { FileSystemObjectStore } from '../shared/local/object-store.js';
import type { RunManifest } from '../shared/pipeline/finalize.js';
import { latestFinishedRun } from '../shared/query.js';
import { closeServer, listenOnLoopback } from './fixtures/http-fixture.js';
import { makeTempDir } from './fixtures/temp-dir.js';
import { capture } from './support/cli-io.js';
import { tempRuntime } from './support/local-run.js';
import { expectManifestInvariant } from './support/manifest.js';

interface Hit {
  readonly path: string;
  readonly at: number;
}

/** A shop that is found through robots.txt → sitemap index → sitemaps (one gzip), with a disallowed path. */
function sitemapShop(robotsStatus: () => number): { server: Server; hits: Hit[] } {
  const hits: Hit[] = [];
  const server = createServer((request, response) => {
    const path = request.url ?? '/';
    hits.push({ path, at: performance.now() });
    const origin = `http://${request.headers.host}`;
    const xml = (body: string) => {
      response.writeHead(200, { 'content-type': 'application/xml' });
      response.end(`<?xml version="1.0" encoding="UTF-8"?>\n${body}`);
    };
    const product = /^\/(p|private)\/(\d+)$/.exec(path);
    if (path === '/robots.txt') {
      const status = robotsStatus();
      response.writeHead(status, { 'content-type': 'text/plain' });
      return response.end(
        status === 200
          ? `User-agent: *\nDisallow: /private/\nCrawl-delay: 0.1\n\nSitemap: ${origin}/sitemap-index.xml\n`
          : 'oops',
      );
    }
    if (path === '/') return response.end('<html><body><h1>Shop</h1></body></html>');
    if (path === '/sitemap-index.xml') {
      return xml(
        `<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><sitemap><loc>${origin}/sitemap-a.xml</loc></sitemap><sitemap><loc>${origin}/sitemap-b.xml.gz</loc></sitemap><sitemap><loc>${origin}/sitemap-index.xml</loc></sitemap></sitemapindex>`,
      );
    }
    if (path === '/sitemap-a.xml') {
      return xml(
        `<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>${origin}/p/1</loc><lastmod>2020-01-01</lastmod></url><url><loc>${origin}/p/2</loc><lastmod>2100-01-01</lastmod></url><url><loc>${origin}/private/3</loc></url><url><loc>http://elsewhere.example/p/9</loc></url></urlset>`,
      );
    }
    if (path === '/sitemap-b.xml.gz') {
      response.writeHead(200, { 'content-type': 'application/gzip' });
      return response.end(
        gzipSync(
          `<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>${origin}/p/4</loc></url><url><loc>${origin}/p/5</loc></url></urlset>`,
        ),
      );
    }
    if (product) {
      response.writeHead(200, { 'content-type': 'text/html' });
      return response.end(
        `<html><body><h1 class="name">Product ${product[2]}</h1><span class="sku">${product[2]}</span></body></html>`,
      );
    }
    response.writeHead(404);
    response.end();
  });
  return { server, hits };
}

function shopJob(base: string, retries = 3) {
  return parseJob(
    {
      name: 'shop',
      start: { urls: [`${base}/`], sitemapsFromRobots: true, sitemapTemplate: 'product', onlyModifiedSinceLastRun: true },
      templates: { product: { key: 'sku', fields: { sku: '.sku', name: '.name' } } },
      fetch: { retries },
    },
    'shop.ts',
  );
}

describe('robots.txt and sitemaps on a fixture shop', () => {
  let shop: ReturnType<typeof sitemapShop>;
  let base: string;
  let local: Awaited<ReturnType<typeof tempRuntime>>;
  let first: RunManifest;

  beforeAll(async () => {
    shop = sitemapShop(() => 200);
    base = await listenOnLoopback(shop.server);
    local = await tempRuntime([shopJob(base)]);
    first = await local.run('shop');
  });

  afterAll(async () => {
    await local?.dispose();
    if (shop) await closeServer(shop.server);
  });

  it('starts from the sitemaps named in robots.txt, through an index and a gzip sitemap, refusing the loop', () => {
    expectManifestInvariant(first);
    // start page, index, 2 sitemaps, 4 products; the disallowed product is skipped; the off-host URL never enters.
    expect(first.urls).toEqual({ accepted: 9, parsed: 8, unchanged: 0, skipped: 1, failed: 0 });
    expect(first.items.written).toBe(4);
    expect(first.reasons).toEqual({ robots: 1 });
    expect(shop.hits.filter((hit) => hit.path === '/sitemap-index.xml')).toHaveLength(1);
  });

  it('never requests a path robots.txt disallows, and fetches robots.txt once per run', () => {
    expect(shop.hits.some((hit) => hit.path.startsWith('/private/'))).toBe(false);
    expect(shop.hits.filter((hit) => hit.path === '/robots.txt')).toHaveLength(1);
  });

  it('honours Crawl-delay: requests to the host are spaced by 100 ms', () => {
    const starts = shop.hits.filter((hit) => hit.path !== '/robots.txt').map((hit) => hit.at);
    // Connection and event-loop jitter aside (a few ms, more on a loaded machine), no two requests come closer than the delay, and none faster on average.
    const gaps = starts.slice(1).map((at, index) => at - (starts[index] ?? 0));
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(100 * 0.5);
    expect((starts.at(-1) ?? 0) - (starts[0] ?? 0)).toBeGreaterThanOrEqual((starts.length - 1) * 100 - 30);
  });

  it('takes only URLs modified since the last good run when asked (lastmod filter)', async () => {
    const before = shop.hits.length;
    const second = await local.run('shop');
    expectManifestInvariant(second);
    const products = shop.hits
      .slice(before)
      .filter((hit) => hit.path.startsWith('/p/'))
      .map((hit) => hit.path)
      .sort();
    expect(products).toEqual(['/p/2', '/p/4', '/p/5']);
    expect(second.urls.accepted).toBe(first.urls.accepted - 1);
  });
});

describe('an unreachable robots.txt (5xx)', () => {
  it('disallows the host for the run, retries later, then ends its URLs as failed with reason robots-unreachable: the run failed', async () => {
    let robotsRequests = 0;
    const shop = sitemapShop(() => {
      robotsRequests++;
      return 503;
    });
    const base = await listenOnLoopback(shop.server);
    const job = parseJob(
      { name: 'shop', start: { urls: [`${base}/`, `${base}/p/1`] }, templates: {}, fetch: { retries: 2 } },
      'shop.ts',
    );
    const local = await tempRuntime([job], {}, { retryBaseMs: 5, robotsRetryMs: 50 });
    try {
      const manifest = await local.run('shop');
      expectManifestInvariant(manifest);
      expect(manifest.urls).toEqual({ accepted: 2, parsed: 0, unchanged: 0, skipped: 0, failed: 2 });
      expect(manifest.reasons).toEqual({ 'robots-unreachable': 2 });
      expect(manifest.state).toBe('failed');
      expect(robotsRequests).toBeGreaterThan(1);
      expect(shop.hits.filter((hit) => hit.path !== '/robots.txt')).toEqual([]);
    } finally {
      await local.dispose();
      await closeServer(shop.server);
    }
  });
});

describe('a dead host', () => {
  it('ends the run failed (exit 4) with reason robots-unreachable, after a short robots wait', async () => {
    const closed = createServer();
    const origin = await listenOnLoopback(closed);
    await closeServer(closed);
    const dataDir = await makeTempDir('dead-host');
    try {
      const io = capture();
      const code = await main(
        ['run', 'books', '--data-dir', dataDir.path, '--start-url', `${origin}/`, '--allow-address', '127.0.0.1'],
        io.io,
      );
      expect(code, io.stdout() + io.stderr()).toBe(EXIT.runFailed);
      expect(io.stdout()).toMatch(/Run \S+ of books: failed/);
      expect(io.stdout()).toContain('robots-unreachable ×1');
      const manifest = await latestFinishedRun(new FileSystemObjectStore({ root: join(dataDir.path, 'store') }), 'books');
      expect(manifest?.urls).toEqual({ accepted: 1, parsed: 0, unchanged: 0, skipped: 0, failed: 1 });
      expect(manifest?.reasons).toEqual({ 'robots-unreachable': 1 });
    } finally {
      await dataDir.remove();
    }
  });
});
