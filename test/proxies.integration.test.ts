import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseJob } from '../shared/job/load.js';
import type { Job } from '../shared/job/schema.js';
import { layout } from '../shared/layout.js';
import { LocalSecretSource, secretVariable } from '../shared/local/secrets.js';
import type { RunManifest } from '../shared/pipeline/finalize.js';
import { type FixtureServer, startFixtureServer } from './fixtures/http-fixture.js';
import { closedPort, type ForwardProxy, startForwardProxy } from './support/forward-proxy.js';
import { tempRuntime } from './support/local-run.js';
import { expectManifestInvariant } from './support/manifest.js';

const PASSWORD = 'pp-3b1e9f0c77a2';
const AUTHORIZATION = `Basic ${Buffer.from(`crawler:${PASSWORD}`).toString('base64')}`;

describe('Proxies', () => {
  let server: FixtureServer;
  let good: ForwardProxy;
  let other: ForwardProxy;
  let down: string;
  /** The client port of every request the site received. */
  const remotePorts: number[] = [];

  const page =
    (body: string, status = 200) =>
    (request: IncomingMessage, response: ServerResponse) => {
      remotePorts.push(request.socket.remotePort ?? 0);
      response.writeHead(status, { 'content-type': 'text/html' }).end(body);
    };

  beforeAll(async () => {
    server = await startFixtureServer();
    server.route('/robots.txt', page('User-agent: *\nAllow: /\n'));
    server.route('/', page('<h1>Home</h1><a href="/a">a</a><a href="/b">b</a><a href="/c">c</a><a href="/broken">x</a>'));
    for (const name of ['a', 'b', 'c']) server.route(`/${name}`, page(`<h1>${name}</h1>`));
    server.route('/broken', page('<h1>oops</h1>', 500));
    good = await startForwardProxy({ authorization: AUTHORIZATION });
    other = await startForwardProxy();
    down = `http://127.0.0.1:${await closedPort()}`;
  });

  afterAll(async () => {
    await Promise.all([server?.close(), good?.close(), other?.close()]);
  });

  function job(name: string, proxy: Record<string, unknown>, start = `${server.origin}/`): Job {
    return parseJob(
      {
        name,
        start: { urls: [start], template: 'page' },
        follow: [{ selector: 'a', template: 'page' }],
        templates: { page: { key: 'title', fields: { title: 'h1' } } },
        fetch: { proxy, retries: 1 },
      },
      `${name}.yaml`,
    );
  }

  async function run(one: Job, env: Record<string, string> = {}) {
    const local = await tempRuntime([one], {}, undefined, { secrets: new LocalSecretSource({ env }) });
    try {
      const manifest: RunManifest = await local.run(one.name);
      expectManifestInvariant(manifest);
      const text = Buffer.from((await local.runtime.store.get(layout.failures(one.name, manifest.runId))) ?? []).toString('utf8');
      const failures = text
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as { url: string; reason: string; message?: string });
      return { manifest, rows: await local.rows(manifest), failures };
    } finally {
      await local.dispose();
    }
  }

  it('rotates through the proxies, leaving one that is down for the next; robots.txt and pages all go through the proxy', async () => {
    // Prepare: the working proxy's URL, with its credentials, is a secret
    remotePorts.length = 0;
    const rotating = job('rotating', { urls: [down, { secret: 'proxy/good' }], rotate: 'request' });
    const env = { [secretVariable('proxy/good')]: `http://crawler:${PASSWORD}@127.0.0.1:${good.port}` };

    // Act
    const { manifest, rows, failures } = await run(rotating, env);

    // Assess: every page through the working proxy, which was asked with its credentials; the target's 500 is the target's
    expect(rows.map((row) => row.title).sort()).toEqual(['Home', 'a', 'b', 'c']);
    expect(manifest.urls).toMatchObject({ accepted: 5, parsed: 4, failed: 1 });
    expect(failures.map(({ url, reason }) => ({ url, reason }))).toEqual([
      { url: `${server.origin}/broken`, reason: 'http-500' },
    ]);
    expect(good.requests.length).toBeGreaterThan(0);
    expect(good.requests.every((request) => request.method === 'CONNECT' && request.authorization === AUTHORIZATION)).toBe(true);
    // robots.txt, 5 pages and the retry of the broken one, each from a connection the proxy opened.
    expect(remotePorts).toHaveLength(7);
    expect(remotePorts.every((port) => good.upstreamPorts.has(port))).toBe(true);
  });

  it('pins a run to one proxy with rotate: session', async () => {
    // Prepare
    const before = { good: good.requests.length, other: other.requests.length };
    const pinned = job('pinned', { urls: [other.url, { secret: 'proxy/good' }], rotate: 'session' });
    const env = { [secretVariable('proxy/good')]: `http://crawler:${PASSWORD}@127.0.0.1:${good.port}` };

    // Act
    const { rows } = await run(pinned, env);

    // Assess: one proxy had the whole run
    expect(rows).toHaveLength(4);
    const used = [good.requests.length - before.good, other.requests.length - before.other];
    expect(used.filter((count) => count > 0)).toHaveLength(1);
  });

  it('fails a page whose every proxy is down as proxy-down after its retries, naming the proxies without credentials', async () => {
    // Prepare: robots.txt ignored, so that the page's own fetch meets the proxies
    const second = `http://127.0.0.1:${await closedPort()}`;
    const dead = parseJob(
      {
        name: 'dead',
        start: { urls: [`${server.origin}/a`] },
        politeness: { robotsTxt: 'ignore' },
        fetch: { proxy: { urls: [down, { secret: 'proxy/dead' }] }, retries: 1 },
      },
      'dead.yaml',
    );

    // Act
    const { manifest, failures } = await run(dead, {
      [secretVariable('proxy/dead')]: `http://crawler:${PASSWORD}@${second.slice(7)}`,
    });

    // Assess
    expect(manifest.state).toBe('failed');
    expect(failures.map(({ reason }) => reason)).toEqual(['proxy-down']);
    expect(failures[0]?.message).toMatch(/^every proxy is down for 127\.0\.0\.1:\d+: /);
    expect(failures[0]?.message).toContain(`${second} down (ECONNREFUSED)`);
    expect(JSON.stringify(failures)).not.toContain(PASSWORD);
  });

  it('classifies proxy failures and lets the SSRF guard judge the target asked of the proxy', async () => {
    // Prepare: no robots.txt to fetch, so the page's own fetch meets the proxies
    const { UndiciHttpClient } = await import('../shared/fetch/http.js');
    const client = new UndiciHttpClient({ ssrf: { allow: ['127.0.0.1'] } });
    const refusing = await startForwardProxy({ refuseWith: 502 });
    const options = (proxies: string[]) => ({
      timeoutMs: 5000,
      maxBytes: 1 << 20,
      maxRedirects: 0,
      userAgent: 'test',
      request: { method: 'GET' as const, headers: {}, query: [], retryable: true, proxies },
    });
    const credentialed = `http://crawler:${PASSWORD}@${down.slice(7)}`;

    try {
      // Act
      const allDown = await client.fetchPage(`${server.origin}/a`, options([down, credentialed])).catch((error) => error);
      const tunnelRefused = await client.fetchPage(`${server.origin}/a`, options([down, refusing.url])).catch((error) => error);
      const badAuth = await client
        .fetchPage(`${server.origin}/a`, options([`http://127.0.0.1:${good.port}`]))
        .catch((error) => error);
      const blocked = await client.fetchPage('http://127.0.0.2:9/', options([other.url])).catch((error) => error);
      const viaRefusedThenGood = await client.fetchPage(`${server.origin}/a`, options([refusing.url, other.url]));

      // Assess
      expect(allDown).toMatchObject({ name: 'ProxyError', reason: 'proxy-down', retryable: true });
      expect(allDown.message).toContain(`${down} down (ECONNREFUSED)`);
      expect(allDown.message).not.toContain(PASSWORD);
      expect(tunnelRefused).toMatchObject({ reason: 'proxy-tunnel', retryable: true });
      expect(tunnelRefused.message).toContain(`${refusing.url} tunnel (502)`);
      expect(badAuth).toMatchObject({ reason: 'proxy-auth', retryable: false });
      expect(blocked).toMatchObject({ name: 'BlockedAddressError', reason: 'ssrf-blocked' });
      expect(other.requests.some((request) => request.target.startsWith('127.0.0.2'))).toBe(false);
      expect(viaRefusedThenGood.body.toString()).toBe('<h1>a</h1>');
    } finally {
      await client.close();
      await refusing.close();
    }
  });

  it('refuses proxy URLs with credentials, other schemes, paths, and an empty list', () => {
    // Act
    let problems: string[] = [];
    try {
      parseJob(
        {
          name: 'bad-proxies',
          start: { urls: ['https://shop.example/'] },
          fetch: {
            proxy: { urls: ['http://user:pw@proxy.example:8080', 'socks5://proxy.example:1080', 'http://proxy.example/x'] },
          },
        },
        'bad.yaml',
      );
    } catch (error) {
      problems = (error as { problems: { path: string; message: string }[] }).problems.map((p) => `${p.path}: ${p.message}`);
    }
    const empty = () =>
      parseJob({ name: 'empty', start: { urls: ['https://shop.example/'] }, fetch: { proxy: { urls: [] } } }, 'empty.yaml');

    // Assess
    expect(problems).toEqual([
      'fetch.proxy.urls[0]: a proxy URL with credentials belongs in a secret: { secret: name }',
      'fetch.proxy.urls[1]: must be an http: or https: proxy URL, not socks5:',
      'fetch.proxy.urls[2]: a proxy URL is scheme, host and port only',
    ]);
    expect(empty).toThrow(/fetch\.proxy\.urls: /);
  });
});
