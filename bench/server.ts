/**
 * A fast static server for the fixture: node:http, keep-alive, responses pre-rendered into buffers with their
 * headers (no compression, so every tool receives the same bytes). Run as a child process of the harness
 * (`node --import tsx bench/server.ts <json options>`): it prints one `READY {"url":...}` line on stdout and
 * serves until stdin closes or it gets SIGTERM.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { createFixture, type Fixture, type FixtureOptions } from './site.js';

export interface FixtureServerOptions {
  readonly fixture: FixtureOptions;
  /** Render every page before listening (the 10,000-page crawl); otherwise render on first request. @default true */
  readonly prerender?: boolean;
  /** Keep rendered pages after serving them. @default true */
  readonly cache?: boolean;
}

interface Prepared {
  readonly body: Buffer;
  readonly headers: string[];
}

function prepare(status: number, contentType: string, text: string): Prepared & { status: number } {
  const body = Buffer.from(text, 'utf8');
  return {
    status,
    body,
    headers: ['Content-Type', contentType, 'Content-Length', String(body.length), 'Cache-Control', 'max-age=60'],
  };
}

export interface RunningServer {
  readonly url: string;
  readonly fixture: Fixture;
  readonly bytes: number;
  close(): Promise<void>;
}

export async function startFixtureServer(options: FixtureServerOptions): Promise<RunningServer> {
  const fixture = createFixture(options.fixture);
  const prerender = options.prerender ?? true;
  const keep = options.cache ?? true;
  const pages = new Map<string, Prepared & { status: number }>();
  let bytes = 0;
  const render = (path: string) => {
    const html = fixture.render(path);
    if (html === undefined) return undefined;
    return prepare(200, path.endsWith('.txt') ? 'text/plain; charset=utf-8' : 'text/html; charset=utf-8', html);
  };
  if (prerender) {
    for (const path of ['/', '/robots.txt', ...fixture.paths]) {
      const page = render(path);
      if (page) {
        pages.set(path, page);
        bytes += page.body.length;
      }
    }
  }
  const notFound = prepare(404, 'text/html; charset=utf-8', '<!DOCTYPE html><title>Not found</title><h1>404</h1>');
  const server: Server = createServer({ keepAlive: true }, (req, res) => {
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const path = q < 0 ? raw : raw.slice(0, q);
    let page = pages.get(path);
    if (!page && !prerender) {
      page = render(path);
      if (page && keep) pages.set(path, page);
    }
    const chosen = page ?? notFound;
    res.writeHead(chosen.status, chosen.headers);
    res.end(req.method === 'HEAD' ? undefined : chosen.body);
  });
  server.keepAliveTimeout = 60_000;
  server.headersTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    fixture,
    bytes,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

// Child-process entry point.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const options = JSON.parse(process.argv[2] ?? '{}') as FixtureServerOptions;
  const started = performance.now();
  const server = await startFixtureServer(options);
  process.stdout.write(
    `READY ${JSON.stringify({ url: server.url, bytes: server.bytes, paths: server.fixture.paths.length, renderMs: Math.round(performance.now() - started) })}\n`,
  );
  const stop = () => {
    void server.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.stdin.on('end', stop);
  process.stdin.resume();
}
