import { createServer, type Server } from 'node:http';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseJob } from '../shared/job/load.js';
import type { RunManifest } from '../shared/pipeline/finalize.js';
import { closeServer, htmlPage, listenOnLoopback } from './fixtures/http-fixture.js';
import { FAST_RETRIES, tempRuntime } from './support/local-run.js';
import { expectManifestInvariant, type FailureLine, failuresByPath, runFailures } from './support/manifest.js';

/** A site whose pages each break the pipeline in one way. */
function hostileSite(): Server {
  return createServer((request, response) => {
    const path = request.url ?? '/';
    const html = (status: number, body: string) => {
      response.writeHead(status, { 'content-type': 'text/html; charset=utf-8' });
      response.end(body);
    };
    switch (path) {
      case '/':
        return html(
          200,
          htmlPage(
            ['ok', 'throws', 'huge', 'loop-a', 'binary', 'bomb', 'image', 'missing']
              .map((name) => `<a href="/${name}">${name}</a>`)
              .join(''),
          ),
        );
      case '/ok':
        return html(200, htmlPage('<h1 id="title">Fine</h1>'));
      case '/throws':
        return html(200, htmlPage('<h1 id="title">Boom</h1><div id="boom"></div>'));
      case '/huge': {
        // 50 MB streamed without Content-Length; the fetcher must stop at its limit.
        response.writeHead(200, { 'content-type': 'text/html' });
        const chunk = Buffer.alloc(1024 * 1024, 'a');
        let sent = 0;
        const pump = () => {
          while (sent < 50) {
            sent++;
            if (!response.write(chunk)) return response.once('drain', pump);
          }
          response.end();
        };
        response.on('error', () => {});
        return pump();
      }
      case '/loop-a':
        response.writeHead(302, { location: '/loop-b' });
        return response.end();
      case '/loop-b':
        response.writeHead(302, { location: '/loop-a' });
        return response.end();
      case '/binary':
        response.writeHead(200, { 'content-type': 'text/html' });
        return response.end(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x01, 0x02]));
      case '/bomb':
        // 100 MB of zeros in a gzip of about 100 KB.
        response.writeHead(200, { 'content-type': 'text/html', 'content-encoding': 'gzip' });
        return response.end(gzipSync(Buffer.alloc(100 * 1024 * 1024)));
      case '/image':
        response.writeHead(200, { 'content-type': 'image/png' });
        return response.end(Buffer.alloc(100));
      default:
        return html(404, htmlPage('not found'));
    }
  });
}

describe('Local pipeline on hostile input', () => {
  let server: Server;
  let base: string;
  let local: Awaited<ReturnType<typeof tempRuntime>>;
  let manifest: RunManifest;
  let failures: Map<string, FailureLine>;

  beforeAll(async () => {
    server = hostileSite();
    base = await listenOnLoopback(server);
    const job = parseJob(
      {
        name: 'hostile',
        start: { urls: [`${base}/`] },
        follow: [{ selector: 'a', template: 'page' }],
        templates: {
          page: {
            key: 'title',
            fields: { title: { selector: '#title', required: true } },
            extractor: (context: { $: (selector: string) => { length: number; text(): string } }) => {
              if (context.$('#boom').length > 0) throw new Error('the extractor met #boom');
              return [{ title: context.$('#title').text() }];
            },
          },
        },
        fetch: { maxBytes: 5 * 1024 * 1024, retries: 1 },
      },
      'hostile.ts',
    );
    // Failures files of 3 lines: the 7 failures are written in 3 parts, as a run of millions is.
    local = await tempRuntime([job], {}, { ...FAST_RETRIES, failuresPartLines: 3 });
    manifest = await local.run('hostile');
    failures = failuresByPath(await runFailures(local.runtime.store, manifest));
  });

  afterAll(async () => {
    await local?.dispose();
    if (server) await closeServer(server);
  });

  it('finishes the run with every URL accounted for', () => {
    expect(manifest.urls).toEqual({ accepted: 9, parsed: 2, unchanged: 0, skipped: 0, failed: 7 });
    expectManifestInvariant(manifest);
  });

  it.each([
    ['/throws', 'extractor-error', /the extractor met #boom/],
    ['/huge', 'too-large', /larger than 5242880 bytes/],
    ['/loop-a', 'redirect-loop', /redirect loop/],
    ['/binary', 'unparseable', /binary data/],
    ['/bomb', 'too-large', /larger than/],
    ['/image', 'content-type', /image\/png/],
    ['/missing', 'http-404', /HTTP 404/],
  ])('records %s as failed with reason %s', (path, reason, message) => {
    const failure = failures.get(path);
    expect(failure?.reason).toBe(reason);
    expect(failure?.message).toMatch(message);
  });

  it('writes the failures file in parts named by the manifest, each URL once', async () => {
    expect(manifest.failuresKeys).toHaveLength(3);
    expect(manifest.failuresKey).toBe(manifest.failuresKeys[0]);
    expect(manifest.failuresKeys[2]).toMatch(/\/failures-2\.ndjson$/);
    const lines = await runFailures(local.runtime.store, manifest);
    expect(lines.map((line) => new URL(line.url).pathname).sort()).toEqual([...failures.keys()].sort());
    expect(lines).toHaveLength(7);
  });

  it('keeps the good page', async () => {
    const rows = await local.rows(manifest);
    expect(rows.map((row) => row.title)).toEqual(['Fine']);
  });
});
