import { writeFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../cli/common.js';
import { main } from '../cli/main.js';
import { pageRequest } from '../shared/fetch/request.js';
import { resolveBundledJobs } from '../shared/job/bundled.js';
import { parseJob } from '../shared/job/load.js';
import type { Job } from '../shared/job/schema.js';
import { type FixtureServer, requestBody, startFixtureServer } from './fixtures/http-fixture.js';
import { makeTempDir } from './fixtures/temp-dir.js';
import { capture } from './support/cli-io.js';
import { tempRuntime } from './support/local-run.js';
import { expectManifestInvariant } from './support/manifest.js';

interface Seen {
  readonly path: string;
  readonly method: string;
  readonly body: string;
  readonly headers: IncomingMessage['headers'];
}

/** A search job: the start URL is a form POST, its results lead to product pages fetched with GET. */
function searchJob(name: string, origin: string, idempotent: boolean): Job {
  return parseJob(
    {
      name,
      start: { urls: [`${origin}/${name}/search`], template: 'results' },
      fetch: {
        retries: 2,
        request: { form: { q: 'lamp' }, cookies: { session: 's-1' }, headers: { 'Accept-Language': 'en-GB' }, idempotent },
      },
      follow: [
        {
          selector: 'a.product',
          template: 'product',
          request: { method: 'GET', headers: { 'X-Detail': 'yes' }, query: { currency: 'EUR' } },
        },
      ],
      templates: {
        results: { key: 'count', fields: { count: { selector: 'p.count', type: 'integer' } } },
        product: { key: 'sku', fields: { sku: 'h1', url: { from: 'url' } } },
      },
    },
    `${name}.yaml`,
  );
}

describe('Request options through the pipeline (local runtime)', () => {
  let server: FixtureServer;
  const seen: Seen[] = [];
  const searches = new Map<string, number>();

  beforeAll(async () => {
    server = await startFixtureServer();
    server.route('/robots.txt', (_request, response) => {
      response.writeHead(200, { 'content-type': 'text/plain' }).end('User-agent: *\nDisallow: /robots/p/1?currency=\n');
    });
    for (const name of ['once', 'idempotent', 'robots']) {
      // The search answers 500 the first time it is asked.
      server.route(`/${name}/search`, async (request, response) => {
        seen.push({
          path: request.url ?? '',
          method: request.method ?? '',
          body: await requestBody(request),
          headers: request.headers,
        });
        const count = (searches.get(name) ?? 0) + 1;
        searches.set(name, count);
        if (count === 1) return void response.writeHead(500, { 'content-type': 'text/html' }).end('busy');
        response
          .writeHead(200, { 'content-type': 'text/html' })
          .end(`<p class="count">1</p><a class="product" href="/${name}/p/1">lamp</a>`);
      });
      server.route(`/${name}/p/1?currency=EUR`, async (request, response) => {
        seen.push({
          path: request.url ?? '',
          method: request.method ?? '',
          body: await requestBody(request),
          headers: request.headers,
        });
        response.writeHead(200, { 'content-type': 'text/html' }).end('<h1>L-1</h1>');
      });
    }
  });

  afterAll(async () => {
    await server?.close();
  });

  it('sends a form POST once: a failed search is not retried unless the job marks it idempotent', async () => {
    // Prepare
    const local = await tempRuntime([searchJob('once', server.origin, false)]);
    try {
      // Act
      const manifest = await local.run('once');

      // Assess
      expectManifestInvariant(manifest);
      expect(manifest.urls).toMatchObject({ accepted: 1, failed: 1 });
      expect(manifest.reasons).toEqual({ 'http-500': 1 });
      expect(searches.get('once')).toBe(1);
    } finally {
      await local.dispose();
    }
  });

  it("retries an idempotent search, then follows its links with the rule's GET, headers and query over the job's", async () => {
    // Prepare
    const local = await tempRuntime([searchJob('idempotent', server.origin, true)]);
    try {
      // Act
      const manifest = await local.run('idempotent');
      const rows = await local.rows(manifest);

      // Assess
      expectManifestInvariant(manifest);
      expect(manifest.urls).toMatchObject({ accepted: 2, parsed: 2, failed: 0 });
      expect(searches.get('idempotent')).toBe(2);
      const requests = seen.filter((one) => one.path.startsWith('/idempotent/'));
      expect(requests.map(({ path, method, body }) => [path, method, body])).toEqual([
        ['/idempotent/search', 'POST', 'q=lamp'],
        ['/idempotent/search', 'POST', 'q=lamp'],
        ['/idempotent/p/1?currency=EUR', 'GET', ''],
      ]);
      expect(requests[0]?.headers).toMatchObject({
        'content-type': 'application/x-www-form-urlencoded',
        cookie: 'session=s-1',
        'accept-language': 'en-GB',
      });
      expect(requests[2]?.headers).toMatchObject({ cookie: 'session=s-1', 'accept-language': 'en-GB', 'x-detail': 'yes' });
      expect(requests[2]?.headers['content-type']).toBeUndefined();
      // The page is known by the URL it was linked as; the item shows the URL fetched.
      expect(rows.find((row) => row.sku === 'L-1')?.url).toBe(`${server.origin}/idempotent/p/1?currency=EUR`);
    } finally {
      await local.dispose();
    }
  });

  it('asks robots.txt about the URL as fetched, with the query parameters of the request options', async () => {
    // Prepare
    const local = await tempRuntime([searchJob('robots', server.origin, true)]);
    try {
      // Act
      const manifest = await local.run('robots');

      // Assess: /robots/p/1 alone is allowed, /robots/p/1?currency=EUR is not
      expectManifestInvariant(manifest);
      expect(manifest.urls).toMatchObject({ accepted: 2, parsed: 1, skipped: 1 });
      expect(manifest.reasons).toEqual({ robots: 1 });
      expect(seen.filter((one) => one.path.startsWith('/robots/p/'))).toEqual([]);
    } finally {
      await local.dispose();
    }
  });

  it('resolves the same requests from the job as the Lambda functions embed it (JSON, validated at synth)', () => {
    // Prepare
    const job = searchJob('idempotent', server.origin, true);
    const [bundled] = resolveBundledJobs([{ source: 'idempotent.yaml', job: JSON.parse(JSON.stringify(job)) }]);
    if (!bundled) throw new Error('no bundled job');

    // Act and assess
    for (const page of [
      { template: 'results', depth: 0 },
      { template: 'product', depth: 1 },
    ]) {
      expect(pageRequest(bundled, page)).toEqual(pageRequest(job, page));
    }
  });

  it("previews a page with extract --url, requested with the options of its template's follow rule", async () => {
    // Prepare
    const jobsDir = await makeTempDir('request');
    await writeFile(join(jobsDir.path, 'idempotent.json'), JSON.stringify(searchJob('idempotent', server.origin, true)));
    const extract = capture();
    seen.length = 0;

    // Act
    const args = ['extract', 'idempotent', '--jobs', jobsDir.path, '--template', 'product', '--allow-address', '127.0.0.1'];
    const code = await main([...args, '--url', `${server.origin}/idempotent/p/1`], extract.io);
    await jobsDir.remove();

    // Assess
    expect(code, extract.stderr()).toBe(EXIT.ok);
    expect(JSON.parse(extract.stdout()).items[0].key).toBe('L-1');
    expect(seen.map(({ path, method }) => [path, method])).toEqual([['/idempotent/p/1?currency=EUR', 'GET']]);
    expect(seen[0]?.headers).toMatchObject({ cookie: 'session=s-1', 'x-detail': 'yes' });
  });
});
