import { createServer, type Server } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { parseJob } from '../shared/job/load.js';
import { LocalRuntime } from '../shared/local/runtime.js';
import type { Log } from '../shared/ports.js';
import { closeServer, listenOnLoopback } from './fixtures/http-fixture.js';
import { tempDirEach } from './fixtures/temp-dir.js';

const SECRET_BODY = 'BODY-SECRET-7f3a9c';
const SECRET_COOKIE = 'session=COOKIE-SECRET-51d2e0';

describe('What the pipeline logs', () => {
  let server: Server | undefined;
  const dataDir = tempDirEach('logs');

  afterAll(async () => {
    if (server) await closeServer(server);
  });

  it('never writes page bodies or cookies to the log, even for pages that fail', async () => {
    // Prepare: pages that set cookies and carry a secret in their body; one fails extraction, one answers 500.
    server = createServer((request, response) => {
      const headers = { 'content-type': 'text/html', 'set-cookie': SECRET_COOKIE };
      if (request.url === '/robots.txt') return response.writeHead(404).end();
      if (request.url === '/broken') return response.writeHead(500, headers).end(`<p>${SECRET_BODY}</p>`);
      response.writeHead(200, headers);
      response.end(`<html><body><p class="x">${SECRET_BODY}</p><a href="/broken">b</a><a href="/boom">c</a></body></html>`);
    });
    const base = await listenOnLoopback(server);
    const job = parseJob(
      {
        name: 'secrets',
        start: { urls: [`${base}/`], template: 'page' },
        follow: [{ selector: 'a', template: 'page' }],
        templates: {
          page: {
            key: 'x',
            fields: { x: '.x' },
            extractor: (page: { url: string; $: (selector: string) => { text(): string } }) => {
              if (page.url.endsWith('/boom')) throw new Error('extractor refused the page');
              return [{ x: page.$('.x').text() }];
            },
          },
        },
        fetch: { retries: 1 },
      },
      'secrets.ts',
    );
    const lines: string[] = [];
    const record = (level: string) => (message: string, attributes?: Record<string, unknown>) =>
      void lines.push(JSON.stringify({ level, message, ...attributes }));
    const log: Log = { debug: record('DEBUG'), info: record('INFO'), warn: record('WARN'), error: record('ERROR') };
    const runtime = new LocalRuntime(
      { jobs: [job], log, settings: { retryBaseMs: 5 }, ssrf: { allow: ['127.0.0.1'] } },
      { dataDir: dataDir.path },
    );

    // Act
    try {
      const { outcome } = await runtime.run('secrets');
      expect(outcome.kind).toBe('finished');
    } finally {
      await runtime.close();
    }

    // Assess: the failures were logged, with URL and run, but no body or cookie.
    const text = lines.join('\n');
    expect(text).toContain('fetch failed');
    expect(text).toContain('extraction failed');
    expect(text).toContain(`${base}/broken`);
    expect(text).not.toContain('BODY-SECRET');
    expect(text).not.toContain('COOKIE-SECRET');
  });
});
