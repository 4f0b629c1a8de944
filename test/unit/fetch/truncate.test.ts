import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RequestOptions, UndiciHttpClient } from '../../../shared/fetch/http.js';
import { type FixtureServer, startFixtureServer } from '../../fixtures/http-fixture.js';

const OPTIONS: RequestOptions = {
  timeoutMs: 5000,
  maxBytes: 1000,
  maxRedirects: 5,
  userAgent: 'scrapeline-test/1.0',
  resource: true,
  truncate: true,
};

describe('Class: UndiciHttpClient (truncate)', () => {
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

  const body = Buffer.from(Array.from({ length: 500 }, (_, index) => `line ${index}\n`).join(''));

  it.each([
    ['plain, with Content-Length', false],
    ['gzip', true],
  ])('keeps the first maxBytes of a larger body (%s) instead of failing', async (_name, gzip) => {
    server.route('/big.txt', (_request, response) => {
      response.writeHead(200, {
        'content-type': 'text/plain',
        ...(gzip ? { 'content-encoding': 'gzip' } : { 'content-length': String(body.byteLength) }),
      });
      response.end(gzip ? gzipSync(body) : body);
    });

    const page = await client.fetchPage(`${server.origin}/big.txt`, OPTIONS);

    expect(page.status).toBe(200);
    expect(page.body.equals(body.subarray(0, 1000))).toBe(true);
  });

  it('fails with too-large without truncate', async () => {
    server.route('/big2.txt', (_request, response) => {
      response.writeHead(200, { 'content-type': 'text/plain' });
      response.end(body);
    });

    const error = await client.fetchPage(`${server.origin}/big2.txt`, { ...OPTIONS, truncate: false }).catch((caught) => caught);

    expect(error).toMatchObject({ reason: 'too-large' });
  });
});
