import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScrapelineError } from '../../../shared/errors.js';
import { UndiciHttpClient } from '../../../shared/fetch/http.js';
import { closeServer, listenOnLoopback } from '../../fixtures/http-fixture.js';

const OPTIONS = { timeoutMs: 2000, maxBytes: 1_000_000, maxRedirects: 5, userAgent: 'test' };

describe('Class: UndiciHttpClient (refusals that must not be retried)', () => {
  let server: Server;
  let base: string;
  const client = new UndiciHttpClient({ ssrf: { allow: ['127.0.0.1'] } });

  beforeAll(async () => {
    server = createServer((request, response) => {
      if (request.url === '/to-credentials') {
        response.writeHead(302, { location: `http://user:secret@127.0.0.1:${(server.address() as AddressInfo).port}/ok` });
        return response.end();
      }
      if (request.url === '/huge-headers') {
        response.writeHead(200, { 'content-type': 'text/html', 'x-padding': 'x'.repeat(100_000) });
        return response.end('<p>hi</p>');
      }
      response.writeHead(200, { 'content-type': 'text/html' });
      response.end('<p>ok</p>');
    });
    base = await listenOnLoopback(server);
  });

  afterAll(async () => {
    await client.close();
    await closeServer(server);
  });

  it('refuses a redirect that brings credentials into the URL', async () => {
    const error = await client.fetchPage(`${base}/to-credentials`, OPTIONS).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ScrapelineError);
    expect(error).toMatchObject({ reason: 'bad-redirect', retryable: false });
  });

  it('fails oversized response headers for good instead of retrying them', async () => {
    const error = await client.fetchPage(`${base}/huge-headers`, OPTIONS).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ reason: 'headers-too-large', retryable: false });
  });
});
