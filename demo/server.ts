/**
 * Tiny HTTP server for a generated {@link Site}, with the behaviour a polite crawler meets in
 * the wild: validators and 304s, gzip, keep-alive, plus a request log for assertions.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { ORIGIN_DEPENDENT_PATHS, ORIGIN_PLACEHOLDER, type Site, type SitePage } from './site.js';

/** One request as the server received it. */
export interface RecordedRequest {
  method: string;
  /** The request target as sent (path plus query, if any). */
  path: string;
  /** Epoch milliseconds. */
  at: number;
  headers: Record<string, string | string[] | undefined>;
}

/** A running demo server. */
export interface DemoServer {
  /** Base URL without trailing slash, e.g. `http://127.0.0.1:PORT`. */
  url: string;
  port: number;
  /** Requests in arrival order; only the newest {@link MAX_RECORDED_REQUESTS} are kept. */
  requests: RecordedRequest[];
  /** Serves `site` from the next request on. */
  setSite(site: Site): void;
  /** Stops listening and destroys all connections, including idle keep-alive ones. */
  close(): Promise<void>;
}

/** Options of {@link startDemoServer}. */
export interface DemoServerOptions {
  site: Site;
  /** Default 0: a random free port. */
  port?: number;
  /** Default `127.0.0.1`. */
  host?: string;
}

/** Cap of {@link DemoServer.requests}, so a long crawl cannot grow memory without bound. */
export const MAX_RECORDED_REQUESTS = 200_000;

/** Bodies at most this size are never gzipped: the saving would not pay for the CPU. */
const GZIP_MIN_BYTES = 1024;
/** Base of the Last-Modified dates; each body gets an offset of up to a year from its hash. */
const LAST_MODIFIED_BASE = Date.UTC(2024, 0, 1);

/** A page turned into bytes and headers once, so repeat requests cost no rendering or hashing. */
interface Prepared {
  page: SitePage;
  identity: Buffer;
  /** Computed on first demand. */
  gzip?: Buffer;
  etag: string;
  gzipEtag: string;
  lastModified: string;
}

function prepare(page: SitePage, body: string): Prepared {
  const identity = Buffer.from(body, 'utf8');
  const digest = createHash('sha256').update(identity).digest();
  const hash = digest.subarray(0, 18).toString('base64url');
  const offsetSeconds = digest.readUInt32BE(0) % (365 * 86_400);
  return {
    page,
    identity,
    // Strong validators differ per representation, as the gzip bytes differ.
    etag: `"${hash}"`,
    gzipEtag: `"${hash}-gz"`,
    lastModified: new Date(LAST_MODIFIED_BASE + offsetSeconds * 1000).toUTCString(),
  };
}

/** True when the Accept-Encoding header allows gzip (q > 0, explicitly or through `*`). */
function acceptsGzip(header: string | undefined): boolean {
  if (!header) return false;
  for (const part of header.split(',')) {
    const [coding = '', ...params] = part.trim().toLowerCase().split(';');
    if (coding.trim() !== 'gzip' && coding.trim() !== '*') continue;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    if (q === undefined || Number(q.slice(2)) > 0) return true;
  }
  return false;
}

/** Weak comparison, as RFC 9110 prescribes for If-None-Match; either representation matches. */
function matchesIfNoneMatch(header: string | undefined, prepared: Prepared): boolean {
  if (!header) return false;
  return header.split(',').some((raw) => {
    const tag = raw.trim().replace(/^W\//, '');
    return tag === '*' || tag === prepared.etag || tag === prepared.gzipEtag;
  });
}

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * Serves `site` over HTTP/1.1 on `host:port` (GET and HEAD; 405 otherwise). Sends
 * Content-Length, a strong ETag and a deterministic Last-Modified on 200s, answers a matching
 * If-None-Match with 304, gzips bodies over 1 KB when the client accepts gzip, and keeps
 * connections alive. In `/robots.txt` and `/sitemap.xml` the origin placeholder becomes
 * `http://` plus the request's Host header.
 */
export function startDemoServer(options: DemoServerOptions): Promise<DemoServer> {
  const host = options.host ?? '127.0.0.1';
  let site = options.site;
  // Keyed by page object (sites memoize pages) and then by origin, which only matters for
  // origin-dependent paths; a swapped site brings new page objects, so nothing goes stale and
  // the old site's entries are collected with it.
  const cache = new WeakMap<SitePage, Map<string, Prepared>>();
  const requests: RecordedRequest[] = [];
  let baseUrl = '';

  function lookup(pathname: string, hostHeader: string | undefined): Prepared {
    const page = site.page(pathname);
    const origin = ORIGIN_DEPENDENT_PATHS.includes(pathname) ? (hostHeader ? `http://${hostHeader}` : baseUrl) : '';
    let byOrigin = cache.get(page);
    if (!byOrigin) {
      byOrigin = new Map();
      cache.set(page, byOrigin);
    }
    let prepared = byOrigin.get(origin);
    if (!prepared) {
      const body = origin ? page.body.replaceAll(ORIGIN_PLACEHOLDER, origin) : page.body;
      prepared = prepare(page, body);
      byOrigin.set(origin, prepared);
    }
    return prepared;
  }

  function record(req: IncomingMessage): void {
    // Drop the oldest in batches so the log never exceeds the cap without an O(n) shift per request.
    if (requests.length >= MAX_RECORDED_REQUESTS) requests.splice(0, MAX_RECORDED_REQUESTS / 20);
    requests.push({
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      at: Date.now(),
      headers: req.headers,
    });
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    record(req);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Length': '0' });
      res.end();
      return;
    }
    const pathname = new URL(req.url ?? '/', 'http://placeholder').pathname;
    const prepared = lookup(pathname, req.headers.host);
    const { page } = prepared;
    const gzip = prepared.identity.length > GZIP_MIN_BYTES && acceptsGzip(req.headers['accept-encoding']);
    const headers: Record<string, string> = { 'Content-Type': page.contentType, ...page.headers };
    if (prepared.identity.length > GZIP_MIN_BYTES) headers.Vary = 'Accept-Encoding';
    if (page.status === 200) {
      headers.ETag = gzip ? prepared.gzipEtag : prepared.etag;
      headers['Last-Modified'] = prepared.lastModified;
      if (matchesIfNoneMatch(req.headers['if-none-match'], prepared)) {
        res.writeHead(304, headers);
        res.end();
        return;
      }
    }
    let body = prepared.identity;
    if (gzip) {
      prepared.gzip ??= gzipSync(prepared.identity);
      body = prepared.gzip;
      headers['Content-Encoding'] = 'gzip';
    }
    headers['Content-Length'] = String(body.length);
    res.writeHead(page.status, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  const server = createServer({ keepAlive: true }, (req, res) => {
    try {
      handle(req, res);
    } catch (error) {
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(`demo server error: ${String(error)}\n`);
    }
  });
  // Longer than Node's 5 s default so a slow crawler keeps reusing its connections.
  server.keepAliveTimeout = 30_000;

  let closing: Promise<void> | undefined;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      const { port } = server.address() as AddressInfo;
      baseUrl = `http://${formatHost(host)}:${port}`;
      resolve({
        url: baseUrl,
        port,
        requests,
        setSite(next) {
          site = next;
        },
        close() {
          closing ??= new Promise<void>((done, fail) => {
            server.close((error) => (error ? fail(error) : done()));
            server.closeAllConnections();
          });
          return closing;
        },
      });
    });
  });
}
