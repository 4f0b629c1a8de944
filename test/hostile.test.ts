import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { parseJob } from '../shared/job/load.js';
import type { Job, JobInput } from '../shared/job/schema.js';
import type { LocalRuntimeOptions } from '../shared/local/runtime.js';
import { closeServer, htmlPage, listenOnLoopback } from './fixtures/http-fixture.js';
import { tempRuntime } from './support/local-run.js';
import { expectManifestInvariant, failuresByPath, runFailures } from './support/manifest.js';

type Route = (request: IncomingMessage, response: ServerResponse) => void;

/** A site on 127.0.0.1 answering its routes (HTML strings or handlers), 404 elsewhere. */
async function site(
  routes: Record<string, string | Route>,
): Promise<{ base: string; requests: string[]; close(): Promise<void> }> {
  const requests: string[] = [];
  const server: Server = createServer((request, response) => {
    requests.push(request.url ?? '/');
    const route = routes[request.url ?? '/'];
    if (typeof route === 'function') return route(request, response);
    response.writeHead(route === undefined ? 404 : 200, { 'content-type': 'text/html; charset=utf-8' });
    response.end(route ?? htmlPage('not found'));
  });
  return {
    base: await listenOnLoopback(server),
    requests,
    close: () => closeServer(server),
  };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setUp(
  routes: Record<string, string | Route>,
  job: (base: string) => JobInput,
  options: LocalRuntimeOptions = {},
  tamper?: (job: Job) => void,
) {
  const server = await site(routes);
  cleanups.push(() => server.close());
  const parsed = parseJob(job(server.base), 'hostile.ts');
  tamper?.(parsed);
  const local = await tempRuntime([parsed], options);
  cleanups.push(() => local.dispose());
  return { server, job: parsed, local };
}

describe('Hostile: a catastrophic regular expression', () => {
  it('fails the page with extract-timeout, replaces the worker and finishes the run', async () => {
    // Prepare: validation refuses '^(a+)+$'; it is put back behind its back, as anything validation cannot see
    const { local } = await setUp(
      {
        '/': htmlPage('<a href="/redos">r</a><a href="/ok">o</a>'),
        '/redos': htmlPage(`<b>${'a'.repeat(60)}!</b>`),
        '/ok': htmlPage('<b>aaaa</b>'),
      },
      (base) => ({
        name: 'redos',
        start: { urls: [`${base}/`] },
        follow: [{ selector: 'a', template: 't' }],
        templates: { t: { key: 'k', fields: { k: { selector: 'b', pattern: '^(a+)$' } } } },
      }),
      { parseThreads: 1, extractTimeoutMs: 2000 },
      (parsed) => Object.assign(parsed.templates.t?.fields.k ?? {}, { pattern: '^(a+)+$' }),
    );

    // Act
    const manifest = await local.run('redos');

    // Assess
    expectManifestInvariant(manifest);
    expect(manifest.urls).toMatchObject({ accepted: 3, parsed: 2, failed: 1 });
    const failed = failuresByPath(await runFailures(local.runtime.store, manifest));
    expect(failed.get('/redos')?.reason).toBe('extract-timeout');
    expect((await local.rows(manifest)).map((row) => row.k)).toEqual(['aaaa']);
  }, 60_000);
});

describe('Hostile: runaway links', () => {
  it('counts links past the page cap and the budget instead of recording each, and keeps the invariant', async () => {
    // Prepare: one page with 30,000 distinct links (the probe's had 160,000)
    const links = Array.from({ length: 30_000 }, (_, index) => `<a href="/p/${index}">${index}</a>`).join('');
    const { local } = await setUp(
      { '/': htmlPage(links), ...Object.fromEntries(Array.from({ length: 5 }, (_, index) => [`/p/${index}`, htmlPage('x')])) },
      (base) => ({
        name: 'runaway',
        start: { urls: [`${base}/`] },
        follow: [{ selector: 'a' }],
        limits: { maxPages: 5, maxLinksPerPage: 20_000 },
      }),
    );

    // Act
    const manifest = await local.run('runaway');

    // Assess: 5 pages admitted (the start page one of them), 1,000 skipped URLs recorded, the rest counted
    expectManifestInvariant(manifest);
    expect(manifest.urls).toMatchObject({ accepted: 5 + 1000, skipped: 1000 });
    expect(manifest.reasons['budget:maxPages']).toBe(1000);
    expect(manifest.budgetExhausted).toBe('maxPages');
    expect(manifest.notFollowed).toEqual({ 'cap:maxLinksPerPage': 10_000, 'budget:maxPages': 20_000 - 4 - 1000 });
  }, 60_000);

  it('caps the sitemaps of a run, nested indexes included, and follows none off the allowed hosts', async () => {
    // Prepare: an index of 300 indexes, each of 300 more; one entry leads to another host
    const elsewhere = await site({ '/robots.txt': 'User-agent: *\nAllow: /\n', '/sitemap.xml': '' });
    cleanups.push(() => elsewhere.close());
    const index = (base: string, prefix: string) =>
      `<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">${Array.from(
        { length: 300 },
        (_, n) => `<sitemap><loc>${base}/${prefix}-${n}.xml</loc></sitemap>`,
      ).join('')}<sitemap><loc>${elsewhere.base}/sitemap.xml</loc></sitemap></sitemapindex>`;
    const routes: Record<string, Route> = {};
    const { local } = await setUp(
      new Proxy(routes, {
        get: (_, path: string) => (request: IncomingMessage, response: ServerResponse) => {
          if (path === '/robots.txt') return response.end('User-agent: *\nAllow: /\n');
          response.writeHead(200, { 'content-type': 'application/xml' });
          response.end(index(`http://${request.headers.host}`, path.replace(/\.xml$/, '').slice(1)));
        },
      }),
      (base) => ({
        name: 'sitemap-flood',
        start: { sitemaps: [`${base}/sitemap.xml`] },
        limits: { maxPages: 100_000, maxSitemaps: 50 },
      }),
    );

    // Act
    const manifest = await local.run('sitemap-flood');

    // Assess
    expectManifestInvariant(manifest);
    expect(manifest.urls.accepted).toBe(50);
    expect(manifest.notFollowed['cap:maxSitemaps']).toBeGreaterThan(0);
    expect(elsewhere.requests).toEqual([]);
  }, 60_000);
});

describe('Hostile: robots.txt and reachability', () => {
  it('parses a robots.txt over 512 KiB up to the limit instead of blocking the site', async () => {
    // Prepare: the rules come first, then 600 KiB of comments
    const robots = `User-agent: *\nDisallow: /private\n${'# padding padding padding padding padding\n'.repeat(15_000)}`;
    expect(robots.length).toBeGreaterThan(600 * 1024);
    const { local } = await setUp(
      {
        '/': htmlPage('<a href="/ok">o</a><a href="/private">p</a>'),
        '/ok': htmlPage('<b>fine</b>'),
        '/private': htmlPage('<b>secret</b>'),
        '/robots.txt': (_request, response) => {
          response.writeHead(200, { 'content-type': 'text/plain' });
          response.end(robots);
        },
      },
      (base) => ({
        name: 'big-robots',
        start: { urls: [`${base}/`] },
        follow: [{ selector: 'a', template: 't' }],
        templates: { t: { key: 'k', fields: { k: 'b' } } },
      }),
    );

    // Act
    const manifest = await local.run('big-robots');

    // Assess
    expectManifestInvariant(manifest);
    expect(manifest.state).toBe('succeeded');
    expect(manifest.urls).toMatchObject({ accepted: 3, parsed: 2, skipped: 1 });
    expect(failuresByPath(await runFailures(local.runtime.store, manifest)).get('/private')?.reason).toBe('robots');
  }, 60_000);

  it('ends a run that could reach nothing failed, with the reason', async () => {
    // Prepare: a port nobody listens on, robots.txt not asked for
    const closed = await site({});
    await closed.close();
    const job = parseJob(
      {
        name: 'unreachable',
        start: { urls: [`${closed.base}/`] },
        politeness: { robotsTxt: 'ignore' },
        fetch: { retries: 1 },
      },
      'unreachable.ts',
    );
    const local = await tempRuntime([job]);
    cleanups.push(() => local.dispose());

    // Act
    const manifest = await local.run('unreachable');

    // Assess
    expectManifestInvariant(manifest);
    expect(manifest.state).toBe('failed');
    expect(manifest.urls).toMatchObject({ accepted: 1, failed: 1 });
    expect(Object.keys(manifest.reasons)).toHaveLength(1);
  }, 60_000);
});

describe('Hostile: encodings', () => {
  it('parses a UTF-16LE page without a byte-order mark when its Content-Type declares the charset', async () => {
    const utf16 = (html: string) => (_request: IncomingMessage, response: ServerResponse) => {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-16le' });
      response.end(Buffer.from(html, 'utf16le'));
    };
    const { local } = await setUp(
      {
        '/': htmlPage('<a href="/wide">w</a><a href="/wide-binary">b</a>'),
        '/wide': utf16(htmlPage('<b>日本語 ünïcödé</b>')),
        '/wide-binary': utf16('\u0001\u0002\u0003 binary'),
      },
      (base) => ({
        name: 'utf16',
        start: { urls: [`${base}/`] },
        follow: [{ selector: 'a', template: 't' }],
        templates: { t: { key: 'k', fields: { k: { selector: 'b', required: true } } } },
      }),
    );

    const manifest = await local.run('utf16');

    expectManifestInvariant(manifest);
    expect((await local.rows(manifest)).map((row) => row.k)).toEqual(['日本語 ünïcödé']);
    expect(failuresByPath(await runFailures(local.runtime.store, manifest)).get('/wide-binary')?.reason).toBe('unparseable');
  }, 60_000);
});
