import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NonRetryableError, RetryableError, type ScrapelineError } from '../../../shared/errors.js';
import { type RequestOptions, UndiciHttpClient } from '../../../shared/fetch/http.js';
import { type FixtureServer, type StreamOutcome, startFixtureServer, streamBytes, trickle } from '../../fixtures/http-fixture.js';
import type { ProbeOutcome } from '../../fixtures/http-probe.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));

const MiB = 1024 * 1024;
const HTML = '<!doctype html><html><body><h1>Hello</h1></body></html>';

const OPTIONS: RequestOptions = { timeoutMs: 2000, maxBytes: 5 * MiB, maxRedirects: 5, userAgent: 'scrapeline-test/1.0' };

async function failure(promise: Promise<unknown>): Promise<ScrapelineError> {
  try {
    await promise;
  } catch (error) {
    return error as ScrapelineError;
  }
  throw new Error('expected the fetch to fail');
}

describe('Class: UndiciHttpClient', () => {
  let server: FixtureServer;
  let client: UndiciHttpClient;

  beforeAll(async () => {
    server = await startFixtureServer();
    client = new UndiciHttpClient({ ssrf: { allow: ['127.0.0.1'] } });
  });

  afterAll(async () => {
    await client.close();
    await server.close();
  });

  describe('Method: fetchPage (pages)', () => {
    it('fetches an HTML page with lowercased headers and timings', async () => {
      // Prepare
      server.route('/page', (_request, response) => {
        response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'X-Custom': 'yes' }).end(HTML);
      });
      const before = Date.now();

      // Act
      const page = await client.fetchPage(`${server.origin}/page`, OPTIONS);

      // Assess
      expect(page).toMatchObject({
        url: `${server.origin}/page`,
        finalUrl: `${server.origin}/page`,
        status: 200,
        redirects: [],
        wireBytes: Buffer.byteLength(HTML),
      });
      expect(page.body.toString()).toBe(HTML);
      expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(page.headers['x-custom']).toBe('yes');
      expect(page.startedAt).toBeGreaterThanOrEqual(before);
      expect(page.durationMs).toBeGreaterThanOrEqual(0);
    });

    it('sends the user agent, accepted types and encodings', async () => {
      // Prepare
      server.route('/ua', (_request, response) => {
        response.writeHead(200, { 'content-type': 'text/html' }).end(HTML);
      });

      // Act
      await client.fetchPage(`${server.origin}/ua`, { ...OPTIONS, userAgent: 'MyBot/2.0 (+https://bot.example)' });

      // Assess
      const request = server.requests.findLast((seen) => seen.path === '/ua');
      expect(request?.method).toBe('GET');
      expect(request?.headers['user-agent']).toBe('MyBot/2.0 (+https://bot.example)');
      expect(request?.headers['accept-encoding']).toBe('gzip, deflate, br');
      expect(request?.headers.accept).toContain('text/html');
    });

    it.each([
      ['gzip', gzipSync],
      ['x-gzip', gzipSync],
      ['deflate', deflateSync],
      ['br', brotliCompressSync],
      ['GZIP ', gzipSync],
    ])('decompresses a %s body and counts the wire bytes', async (encoding, compress) => {
      // Prepare
      const body = `${HTML}${'<p>repeated text</p>'.repeat(5000)}`;
      const wire = compress(Buffer.from(body));
      const path = `/enc-${encoding.trim()}`;
      server.route(path, (_request, response) => {
        response.writeHead(200, { 'content-type': 'text/html', 'content-encoding': encoding }).end(wire);
      });

      // Act
      const page = await client.fetchPage(`${server.origin}${path}`, OPTIONS);

      // Assess
      expect(page.body.toString()).toBe(body);
      expect(page.wireBytes).toBe(wire.byteLength);
    });

    it.each([
      ['text/html', true],
      ['application/xhtml+xml', true],
      ['application/xml', true],
      ['text/xml', true],
      ['application/rss+xml', true],
      ['TEXT/HTML; charset=ISO-8859-1', true],
      ['application/json', false],
      ['image/png', false],
      ['text/plain', false],
      ['application/octet-stream', false],
    ])('treats content type %s as a document: %s', async (type, accepted) => {
      // Prepare
      const path = `/type/${encodeURIComponent(type)}`;
      server.route(path, (_request, response) => {
        response.writeHead(200, { 'content-type': type }).end('<x/>');
      });

      // Act
      const outcome = await client.fetchPage(`${server.origin}${path}`, OPTIONS).then(
        (page) => page.status,
        (error: ScrapelineError) => error,
      );

      // Assess
      if (accepted) expect(outcome).toBe(200);
      else expect(outcome).toMatchObject({ name: 'ContentTypeError', reason: 'content-type', retryable: false });
    });

    it('treats a response without content type as HTML', async () => {
      // Prepare
      server.route('/untyped', (_request, response) => {
        response.removeHeader('content-type');
        response.end(HTML);
      });

      // Act
      const page = await client.fetchPage(`${server.origin}/untyped`, OPTIONS);

      // Assess
      expect(page.body.toString()).toBe(HTML);
    });

    it('accepts a body of exactly maxBytes', async () => {
      // Prepare
      server.route('/exact', (_request, response) => {
        response.writeHead(200, { 'content-type': 'text/html' }).end(Buffer.alloc(2048, 0x61));
      });

      // Act
      const page = await client.fetchPage(`${server.origin}/exact`, { ...OPTIONS, maxBytes: 2048 });

      // Assess
      expect(page.body.byteLength).toBe(2048);
    });

    it('sends validators and returns a 304 with an empty body', async () => {
      // Prepare
      server.route('/cached', (request, response) => {
        if (request.headers['if-none-match'] === '"v1"') response.writeHead(304, { etag: '"v1"' }).end();
        else response.writeHead(200, { 'content-type': 'text/html', etag: '"v1"' }).end(HTML);
      });

      // Act
      const page = await client.fetchPage(`${server.origin}/cached`, {
        ...OPTIONS,
        validators: { etag: '"v1"', lastModified: 'Wed, 01 May 2024 00:00:00 GMT' },
      });

      // Assess
      expect(page).toMatchObject({ status: 304, wireBytes: 0 });
      expect(page.body.byteLength).toBe(0);
      const request = server.requests.findLast((seen) => seen.path === '/cached');
      expect(request?.headers['if-modified-since']).toBe('Wed, 01 May 2024 00:00:00 GMT');
    });
  });

  describe('Method: fetchPage (statuses)', () => {
    it.each([404, 410, 403, 400])('refuses %i for good', async (status) => {
      // Prepare
      server.route(`/status/${status}`, (_request, response) => {
        response.writeHead(status, { 'content-type': 'text/html' }).end('<p>no</p>');
      });

      // Act
      const error = await failure(client.fetchPage(`${server.origin}/status/${status}`, OPTIONS));

      // Assess
      expect(error).toBeInstanceOf(NonRetryableError);
      expect(error).toMatchObject({
        reason: `http-${status}`,
        retryable: false,
        message: `HTTP ${status} from ${server.origin}/status/${status}`,
      });
    });

    it('refuses a 304 when no validators were sent', async () => {
      // Prepare
      server.route('/unasked-304', (_request, response) => {
        response.writeHead(304).end();
      });

      // Act
      const error = await failure(client.fetchPage(`${server.origin}/unasked-304`, OPTIONS));

      // Assess
      expect(error).toMatchObject({ reason: 'http-304', retryable: false });
    });

    it('retries a 503 after its Retry-After seconds', async () => {
      // Prepare
      server.route('/busy', (_request, response) => {
        response.writeHead(503, { 'retry-after': '7', 'content-type': 'text/html' }).end('busy');
      });

      // Act
      const error = await failure(client.fetchPage(`${server.origin}/busy`, OPTIONS));

      // Assess
      expect(error).toBeInstanceOf(RetryableError);
      expect(error).toMatchObject({ reason: 'http-503', retryable: true, retryAfterMs: 7000 });
    });

    it('retries a 429 after its Retry-After date', async () => {
      // Prepare
      const at = new Date(Date.now() + 60_000).toUTCString();
      server.route('/slow-down', (_request, response) => {
        response.writeHead(429, { 'retry-after': at }).end();
      });

      // Act
      const error = (await failure(client.fetchPage(`${server.origin}/slow-down`, OPTIONS))) as RetryableError;

      // Assess
      expect(error).toMatchObject({ reason: 'http-429', retryable: true });
      expect(error.retryAfterMs).toBeGreaterThan(55_000);
      expect(error.retryAfterMs).toBeLessThanOrEqual(60_000);
    });

    it.each([500, 502, 504, 408])('retries %i without a delay when there is no Retry-After', async (status) => {
      // Prepare
      server.route(`/retry/${status}`, (_request, response) => {
        response.writeHead(status).end();
      });

      // Act
      const error = (await failure(client.fetchPage(`${server.origin}/retry/${status}`, OPTIONS))) as RetryableError;

      // Assess
      expect(error).toMatchObject({ reason: `http-${status}`, retryable: true });
      expect(error.retryAfterMs).toBeUndefined();
    });
  });

  describe('Method: fetchPage (redirects)', () => {
    it('follows a redirect chain, relative and absolute, and reports every hop', async () => {
      // Prepare
      server.route('/r/start', (_request, response) => {
        response.writeHead(301, { location: '/r/second?x=1' }).end();
      });
      server.route('/r/second?x=1', (_request, response) => {
        response.writeHead(302, { location: `${server.origin}/r/third` }).end('moved');
      });
      server.route('/r/third', (_request, response) => {
        response.writeHead(303, { location: 'final' }).end();
      });
      server.route('/r/final', (_request, response) => {
        response.writeHead(200, { 'content-type': 'text/html' }).end(HTML);
      });

      // Act
      const page = await client.fetchPage(`${server.origin}/r/start`, OPTIONS);

      // Assess
      expect(page.url).toBe(`${server.origin}/r/start`);
      expect(page.finalUrl).toBe(`${server.origin}/r/final`);
      expect(page.redirects).toEqual([`${server.origin}/r/second?x=1`, `${server.origin}/r/third`, `${server.origin}/r/final`]);
      expect(page.body.toString()).toBe(HTML);
    });

    it.each([307, 308])('follows a %i redirect', async (status) => {
      // Prepare
      server.route(`/r${status}`, (_request, response) => {
        response.writeHead(status, { location: '/r/final' }).end();
      });

      // Act
      const page = await client.fetchPage(`${server.origin}/r${status}`, OPTIONS);

      // Assess
      expect(page.finalUrl).toBe(`${server.origin}/r/final`);
    });

    it('refuses a redirect loop', async () => {
      // Prepare
      server.route('/loop/a', (_request, response) => {
        response.writeHead(302, { location: '/loop/b' }).end();
      });
      server.route('/loop/b', (_request, response) => {
        response.writeHead(302, { location: '/loop/a' }).end();
      });

      // Act
      const error = await failure(client.fetchPage(`${server.origin}/loop/a`, OPTIONS));

      // Assess
      expect(error).toMatchObject({ name: 'RedirectError', reason: 'redirect-loop', retryable: false });
    });

    it('refuses a page redirecting to itself', async () => {
      // Prepare
      server.route('/loop/self', (_request, response) => {
        response.writeHead(301, { location: '/loop/self' }).end();
      });

      // Act & Assess
      expect(await failure(client.fetchPage(`${server.origin}/loop/self`, OPTIONS))).toMatchObject({ reason: 'redirect-loop' });
    });

    it('refuses more redirects than maxRedirects', async () => {
      // Prepare
      for (let hop = 0; hop < 4; hop++) {
        server.route(`/hops/${hop}`, (_request, response) => {
          response.writeHead(302, { location: `/hops/${hop + 1}` }).end();
        });
      }
      server.route('/hops/4', (_request, response) => {
        response.writeHead(200, { 'content-type': 'text/html' }).end(HTML);
      });

      // Act
      const tooMany = await failure(client.fetchPage(`${server.origin}/hops/0`, { ...OPTIONS, maxRedirects: 3 }));
      const none = await failure(client.fetchPage(`${server.origin}/hops/3`, { ...OPTIONS, maxRedirects: 0 }));
      const enough = await client.fetchPage(`${server.origin}/hops/0`, { ...OPTIONS, maxRedirects: 4 });

      // Assess
      expect(tooMany).toMatchObject({ name: 'RedirectError', reason: 'too-many-redirects', retryable: false });
      expect(none).toMatchObject({ reason: 'too-many-redirects' });
      expect(enough.redirects).toHaveLength(4);
    });

    it.each([
      ['without Location', {}],
      ['to a non-http URL', { location: 'ftp://files.example/x' }],
      ['to a javascript: URL', { location: 'javascript:alert(1)' }],
      ['to an invalid URL', { location: 'http://[bad' }],
    ])('refuses a redirect %s', async (what, headers) => {
      // Prepare
      const path = `/bad-redirect/${encodeURIComponent(what)}`;
      server.route(path, (_request, response) => {
        response.writeHead(302, headers).end();
      });

      // Act & Assess
      expect(await failure(client.fetchPage(`${server.origin}${path}`, OPTIONS))).toMatchObject({
        name: 'RedirectError',
        reason: 'bad-redirect',
      });
    });
  });

  describe('Method: fetchPage (limits)', () => {
    it('refuses a 50 MB body announced by Content-Length without reading it', async () => {
      // Prepare
      let sent: Promise<StreamOutcome> | undefined;
      server.route('/huge-declared', (_request, response) => {
        response.writeHead(200, { 'content-type': 'text/html', 'content-length': String(50 * MiB) });
        sent = streamBytes(response, 50 * MiB);
      });
      const started = Date.now();

      // Act
      const error = await failure(client.fetchPage(`${server.origin}/huge-declared`, OPTIONS));

      // Assess
      expect(error).toMatchObject({ name: 'ResponseTooLargeError', reason: 'too-large', retryable: false });
      const outcome = await sent;
      expect(outcome?.aborted).toBe(true);
      expect(outcome?.written).toBeLessThan(20 * MiB);
      expect(Date.now() - started).toBeLessThan(5000);
    });

    it('stops reading a 50 MB chunked body without Content-Length soon after the limit', async () => {
      // Prepare
      let sent: Promise<StreamOutcome> | undefined;
      server.route('/huge-chunked', (_request, response) => {
        response.writeHead(200, { 'content-type': 'text/html' });
        sent = streamBytes(response, 50 * MiB);
      });

      // Act
      const error = await failure(client.fetchPage(`${server.origin}/huge-chunked`, OPTIONS));

      // Assess
      expect(error).toMatchObject({ reason: 'too-large', retryable: false });
      const outcome = await sent;
      expect(outcome?.aborted).toBe(true);
      expect(outcome?.written).toBeLessThan(20 * MiB);
    });

    it('stops inflating a gzip bomb at the limit', async () => {
      // Prepare
      const bomb = gzipSync(Buffer.alloc(60 * MiB), { level: 9 });
      server.route('/bomb', (_request, response) => {
        response.writeHead(200, { 'content-type': 'text/html', 'content-encoding': 'gzip' }).end(bomb);
      });

      // Act
      const error = await failure(client.fetchPage(`${server.origin}/bomb`, OPTIONS));

      // Assess
      expect(bomb.byteLength).toBeLessThan(OPTIONS.maxBytes / 10);
      expect(error).toMatchObject({ reason: 'too-large', retryable: false });
    });

    it.each([
      ['invalid gzip', 'gzip', Buffer.from('this is not gzip at all, just text pretending to be')],
      ['truncated gzip', 'gzip', gzipSync(Buffer.from(HTML.repeat(100))).subarray(0, 40)],
      ['invalid deflate', 'deflate', Buffer.from('nope nope nope')],
    ])('refuses %s as bad-encoding', async (_what, encoding, body) => {
      // Prepare
      const path = `/bad-encoding/${encodeURIComponent(_what)}`;
      server.route(path, (_request, response) => {
        response.writeHead(200, { 'content-type': 'text/html', 'content-encoding': encoding }).end(body);
      });

      // Act
      const error = await failure(client.fetchPage(`${server.origin}${path}`, OPTIONS));

      // Assess
      expect(error).toMatchObject({ name: 'DecodingError', reason: 'bad-encoding', retryable: false });
    });
  });

  it('refuses an invalid brotli body as bad-encoding', async () => {
    // Prepare
    server.route('/bad-brotli', (_request, response) => {
      response
        .writeHead(200, { 'content-type': 'text/html', 'content-encoding': 'br' })
        .end(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00, 0x01]));
    });

    // Act
    const error = await failure(client.fetchPage(`${server.origin}/bad-brotli`, OPTIONS));

    // Assess
    expect(error).toMatchObject({ name: 'DecodingError', reason: 'bad-encoding', retryable: false });
  });

  describe('Method: fetchPage (time and network)', () => {
    it('gives up waiting for headers at the deadline, with a retryable error', async () => {
      // Prepare
      server.route('/no-headers', () => {
        // Never answers.
      });
      const started = Date.now();

      // Act
      const error = await failure(client.fetchPage(`${server.origin}/no-headers`, { ...OPTIONS, timeoutMs: 200 }));

      // Assess
      expect(error).toBeInstanceOf(RetryableError);
      expect(error.retryable).toBe(true);
      expect(Date.now() - started).toBeLessThan(1500);
    });

    it('reports a header timeout with reason timeout', async () => {
      // Prepare
      server.route('/no-headers-reason', () => {
        // Never answers.
      });

      // Act
      const error = await failure(client.fetchPage(`${server.origin}/no-headers-reason`, { ...OPTIONS, timeoutMs: 200 }));

      // Assess
      expect(error).toMatchObject({ name: 'NetworkError', reason: 'timeout', retryable: true });
    });

    it('times out a body trickling past the deadline, as a retryable timeout', async () => {
      // Prepare
      server.route('/trickle', async (_request, response) => {
        response.writeHead(200, { 'content-type': 'text/html' });
        await trickle(
          response,
          Array.from({ length: 40 }, () => '<p>drip</p>'),
          50,
        );
      });
      const started = Date.now();

      // Act
      const error = await failure(client.fetchPage(`${server.origin}/trickle`, { ...OPTIONS, timeoutMs: 300 }));

      // Assess
      expect(Date.now() - started).toBeLessThan(1500);
      expect(error).toBeInstanceOf(RetryableError);
      expect(error).toMatchObject({ reason: 'timeout', retryable: true });
    });

    it('stops a body trickling past the deadline', async () => {
      // Prepare
      server.route('/trickle-stop', async (_request, response) => {
        response.writeHead(200, { 'content-type': 'text/html' });
        await trickle(
          response,
          Array.from({ length: 40 }, () => '<p>drip</p>'),
          50,
        );
      });
      const started = Date.now();

      // Act
      await failure(client.fetchPage(`${server.origin}/trickle-stop`, { ...OPTIONS, timeoutMs: 300 }));

      // Assess
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
      expect(Date.now() - started).toBeLessThan(1500);
    });

    it('reports a connection reset before the response as a retryable network error', async () => {
      // Prepare
      server.route('/reset', (request) => {
        request.socket.destroy();
      });

      // Act
      const error = await failure(client.fetchPage(`${server.origin}/reset`, OPTIONS));

      // Assess
      expect(error).toBeInstanceOf(RetryableError);
      expect(error).toMatchObject({ name: 'NetworkError', retryable: true });
      expect(error.reason).toMatch(/^network-/);
    });

    it('reports a connection reset in the middle of the body as a retryable network error', async () => {
      // Prepare
      server.route('/reset-body', (request, response) => {
        response.writeHead(200, { 'content-type': 'text/html', 'content-length': '100000' });
        response.write('<p>partial');
        setTimeout(() => request.socket.destroy(), 20);
      });

      // Act
      const error = await failure(client.fetchPage(`${server.origin}/reset-body`, OPTIONS));

      // Assess
      expect(error).toMatchObject({ retryable: true });
      expect(error.reason).toMatch(/^network-/);
    });

    it('reports a refused connection as a retryable network error', async () => {
      // Prepare
      const closed = await startFixtureServer();
      await closed.close();

      // Act
      const error = await failure(client.fetchPage(`${closed.origin}/`, OPTIONS));

      // Assess
      expect(error).toMatchObject({ name: 'NetworkError', retryable: true, reason: 'network-ECONNREFUSED' });
    });
  });
  describe('Method: fetchPage (address guard)', () => {
    it('refuses loopback addresses unless the policy allows them', async () => {
      // Prepare
      const guarded = new UndiciHttpClient();
      server.route('/guarded', (_request, response) => {
        response.writeHead(200, { 'content-type': 'text/html' }).end(HTML);
      });

      // Act
      const error = await failure(guarded.fetchPage(`${server.origin}/guarded`, OPTIONS));
      await guarded.close();

      // Assess
      expect(error).toMatchObject({ reason: 'ssrf-blocked', retryable: false });
      expect(server.requests.some((seen) => seen.path === '/guarded')).toBe(false);
    });
  });
});

describe('Class: UndiciHttpClient (in a child process)', () => {
  let outcomes: Record<string, ProbeOutcome>;

  beforeAll(async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'test/fixtures/http-probe.ts'], {
      cwd: REPO,
      timeout: 20_000,
    });
    outcomes = JSON.parse(stdout) as Record<string, ProbeOutcome>;
  });

  it('refuses a corrupt gzip body still streaming as bad-encoding, without uncaught errors', () => {
    // Assess
    expect(outcomes['corrupt-gzip-streaming']).toEqual({
      error: { name: 'DecodingError', reason: 'bad-encoding', retryable: false },
      uncaught: [],
    });
  });

  it('refuses a body declared too large without uncaught errors', () => {
    // Assess
    expect(outcomes['declared-too-large']).toEqual({
      error: { name: 'ResponseTooLargeError', reason: 'too-large', retryable: false },
      uncaught: [],
    });
  });

  it.each(['unknown-encoding', 'zstd-encoding'])('refuses %s as bad-encoding without uncaught errors', (scenario) => {
    // Assess
    expect(outcomes[scenario]).toEqual({
      error: { name: 'DecodingError', reason: 'bad-encoding', retryable: false },
      uncaught: [],
    });
  });
});
