import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BUNDLE_ALIASES,
  BUNDLE_FORMAT,
  ESBUILD_OPTIONS,
  nodeOptionsFor,
  OMITTED_MODULES,
  RUNTIME_MODULES,
} from '../../cdk/bundling/options.js';
import { PROJECT_ROOT } from '../../cdk/paths.js';
import type { HttpClient } from '../../shared/ports.js';
import { closedPort, startForwardProxy } from '../support/forward-proxy.js';

/** Builds a module with the functions' bundling options (aliases included) and imports it. */
async function bundled<T>(name: string, contents: string): Promise<T> {
  const dir = join(PROJECT_ROOT, '.tmp', 'bundling-test');
  mkdirSync(dir, { recursive: true });
  const outfile = join(dir, `${name}.cjs`);
  await build({
    stdin: { contents, resolveDir: PROJECT_ROOT, loader: 'ts' },
    outfile,
    bundle: true,
    platform: 'node',
    format: BUNDLE_FORMAT,
    mainFields: ['module', 'main'],
    supported: { ...ESBUILD_OPTIONS.supported },
    logOverride: { ...ESBUILD_OPTIONS.logOverride },
    external: [...RUNTIME_MODULES, ...OMITTED_MODULES],
    alias: { ...BUNDLE_ALIASES },
    logLevel: 'silent',
  });
  return createRequire(import.meta.url)(outfile) as T;
}

describe('Bundle aliases (cdk/bundling)', () => {
  let server: Server;
  let origin: string;

  beforeAll(async () => {
    server = createServer((request, response) => {
      if (request.url === '/redirect') {
        response.writeHead(301, { location: '/page' }).end();
        return;
      }
      response.writeHead(200, { 'content-type': 'text/html', 'x-agent': String(request.headers['user-agent']) });
      response.end('<p>bundled &amp; served</p>');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('fetch through the SSRF guard with the bundled undici: redirects followed, loopback refused unless allowed', async () => {
    // Prepare
    const { UndiciHttpClient } = await bundled<{ UndiciHttpClient: new (options: unknown) => HttpClient }>(
      'http',
      "export { UndiciHttpClient } from './shared/fetch/http.ts';",
    );
    const allowed = new UndiciHttpClient({ ssrf: { allow: ['127.0.0.1'] } });
    const guarded = new UndiciHttpClient({});
    const options = { timeoutMs: 5_000, maxBytes: 1024 * 1024, maxRedirects: 2, userAgent: 'bundle-test' };

    try {
      // Act
      const page = await allowed.fetchPage(`${origin}/redirect`, options);
      const refused = await guarded.fetchPage(`${origin}/page`, options).catch((error: unknown) => error);

      // Assess
      expect(page).toMatchObject({ status: 200, finalUrl: `${origin}/page`, redirects: [`${origin}/page`] });
      expect(page.headers['x-agent']).toBe('bundle-test');
      expect(page.body.toString('utf8')).toBe('<p>bundled &amp; served</p>');
      expect(refused).toMatchObject({ name: 'BlockedAddressError', retryable: false });
    } finally {
      await allowed.close();
      await guarded.close();
    }
  });

  it('fetch through a forward proxy with the bundled undici, a proxy that is down skipped', async () => {
    // Prepare
    const { UndiciHttpClient } = await bundled<{ UndiciHttpClient: new (options: unknown) => HttpClient }>(
      'http-proxy',
      "export { UndiciHttpClient } from './shared/fetch/http.ts';",
    );
    const proxy = await startForwardProxy();
    const down = `http://127.0.0.1:${await closedPort()}`;
    const client = new UndiciHttpClient({ ssrf: { allow: ['127.0.0.1'] } });
    const request = { method: 'GET' as const, headers: {}, query: [], retryable: true, proxies: [down, proxy.url] };

    try {
      // Act
      const page = await client.fetchPage(`${origin}/page`, {
        timeoutMs: 5_000,
        maxBytes: 1024,
        maxRedirects: 0,
        userAgent: 'b',
        request,
      });

      // Assess
      expect(page.body.toString('utf8')).toBe('<p>bundled &amp; served</p>');
      expect(proxy.requests.map((one) => one.method)).toEqual(['CONNECT']);
    } finally {
      await client.close();
      await proxy.close();
    }
  });

  it('parses and serializes HTML with one entities version as the packages do with two (cheerio/slim, htmlparser2)', async () => {
    // Prepare
    const samples = [
      '<p title="a &quot;b&quot; &amp; c">x &lt; y &gt; z &nbsp;&copy;&#x1F600;&#169; é ü 漢</p>',
      "<div data-x='<>&\"'>&notin; &notit; &ampfoo &AMP; &#0; &#x110000;</div><br/>",
      '<svg><text>&lt;&gt;</text></svg><!-- &amp; --><script>if (a &lt; b) {}</script>',
    ];
    const script = `import { load } from 'cheerio/slim';
      export const render = (html: string) => { const $ = load(html); return [$.html(), $.text(), $('p,div').attr('title') ?? $('div').attr('data-x'), $.xml()]; };`;
    const bundledRender = await bundled<{ render: (html: string) => string[] }>('cheerio', script);
    const { load } = await import('cheerio/slim');
    const render = (html: string) => {
      const $ = load(html);
      return [$.html(), $.text(), $('p,div').attr('title') ?? $('div').attr('data-x'), $.xml()];
    };

    // Assess
    for (const sample of samples) expect(bundledRender.render(sample), sample).toEqual(render(sample));
  });

  it('reads source maps at cold start only at DEBUG and TRACE', () => {
    expect(nodeOptionsFor('INFO')).toBeUndefined();
    expect(nodeOptionsFor('ERROR')).toBeUndefined();
    expect(nodeOptionsFor('DEBUG')).toBe('--enable-source-maps');
    expect(nodeOptionsFor('TRACE')).toBe('--enable-source-maps');
  });
});
