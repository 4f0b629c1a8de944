import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseJob } from '../shared/job/load.js';
import { SITEMAP_PART_ENTRIES, splitIntoParts } from '../shared/pipeline/sitemaps.js';
import { tempRuntime } from './support/local-run.js';
import { expectManifestInvariant } from './support/manifest.js';

const ENTRIES = 2_345;

/** A site whose one sitemap lists more URLs than one invocation offers (three parts). */
function bigSitemapSite(): { server: Server; paths: string[] } {
  const paths: string[] = [];
  const server = createServer((request, response) => {
    const path = request.url ?? '/';
    paths.push(path);
    const origin = `http://${request.headers.host}`;
    if (path === '/sitemap.xml') {
      const urls = Array.from({ length: ENTRIES }, (_, index) => `<url><loc>${origin}/p/${index}</loc></url>`).join('');
      response.writeHead(200, { 'content-type': 'application/xml' });
      return response.end(`<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">${urls}</urlset>`);
    }
    if (path === '/') return response.end('<html><body><h1>Shop</h1></body></html>');
    const product = /^\/p\/(\d+)$/.exec(path);
    if (product) {
      response.writeHead(200, { 'content-type': 'text/html' });
      return response.end(`<html><body><span class="sku">${product[1]}</span></body></html>`);
    }
    response.writeHead(404);
    response.end();
  });
  return { server, paths };
}

function sitemapJob(base: string, maxPages: number) {
  return parseJob(
    {
      name: 'big-sitemap',
      start: { urls: [`${base}/`], sitemaps: [`${base}/sitemap.xml`], sitemapTemplate: 'product' },
      follow: [],
      templates: { product: { key: 'sku', fields: { sku: '.sku' } } },
      politeness: { perHostConcurrency: 16 },
      limits: { maxPages },
    },
    'big-sitemap.ts',
  );
}

describe('splitting sitemap entries into parts', () => {
  it('cuts at the entry count, and earlier when the URLs are long, never leaving an empty part', () => {
    const short = Array.from({ length: 2_001 }, (_, index) => `https://a.example/${index}`);
    expect(splitIntoParts(short).map((part) => part.length)).toEqual([SITEMAP_PART_ENTRIES, SITEMAP_PART_ENTRIES, 1]);
    const long = Array.from({ length: 100 }, (_, index) => `https://a.example/${'x'.repeat(2_000)}/${index}`);
    const parts = splitIntoParts(long);
    expect(parts.length).toBeGreaterThan(2);
    expect(parts.flat()).toEqual(long);
    for (const part of parts) expect(Buffer.byteLength(JSON.stringify(part))).toBeLessThan(100 * 1024);
    expect(splitIntoParts([])).toEqual([]);
  });
});

describe('a sitemap of 2,345 URLs', () => {
  let site: ReturnType<typeof bigSitemapSite>;
  let base: string;

  beforeAll(async () => {
    site = bigSitemapSite();
    await new Promise<void>((resolve) => site.server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(site.server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => site.server.close(resolve));
  });

  it('is offered in three parts, each a URL of the run ending parsed, and every entry is scraped once', async () => {
    const local = await tempRuntime([sitemapJob(base, 10_000)]);
    try {
      const before = site.paths.length;
      const manifest = await local.run('big-sitemap');
      expectManifestInvariant(manifest);
      // The start page, the sitemap, its three parts, the entries.
      const urls = 1 + 1 + 3 + ENTRIES;
      expect(manifest.urls).toEqual({ accepted: urls, parsed: urls, unchanged: 0, skipped: 0, failed: 0 });
      expect(manifest.items.written).toBe(ENTRIES);
      expect(manifest.notFollowed).toEqual({});
      const requested = site.paths.slice(before);
      expect(requested.filter((path) => path === '/sitemap.xml')).toHaveLength(1);
      expect(new Set(requested.filter((path) => path.startsWith('/p/'))).size).toBe(ENTRIES);
      // Parts are never requested.
      expect(requested.filter((path) => path.includes('part'))).toEqual([]);
      const rows = await local.rows(manifest);
      expect(new Set(rows.map((row) => row.sku)).size).toBe(ENTRIES);
    } finally {
      await local.dispose();
    }
  });

  it('accounts for every entry when the page budget refuses parts: counted as not followed, never lost', async () => {
    // The start page, the sitemap and one part fit the budget; the other two parts, and the first part's entries, do not.
    const local = await tempRuntime([sitemapJob(base, 3)]);
    try {
      const manifest = await local.run('big-sitemap');
      expectManifestInvariant(manifest);
      expect(manifest.budgetExhausted).toBe('maxPages');
      expect(manifest.urls.parsed).toBe(3);
      const skipped = manifest.reasons['budget:maxPages'] ?? 0;
      const counted = manifest.notFollowed['budget:maxPages'] ?? 0;
      // Two parts were recorded skipped; each entry is recorded skipped or counted, exactly once.
      expect(skipped - 2 + counted).toBe(ENTRIES);
    } finally {
      await local.dispose();
    }
  });
});
