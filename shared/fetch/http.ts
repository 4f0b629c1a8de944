import { pipeline } from 'node:stream/promises';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { type Dispatcher, request } from 'undici';
import { NonRetryableError, ScrapelineError } from '../errors.js';
import { isJsonContentType } from '../job/formats.js';
import type { HttpClient } from '../ports.js';
import {
  ContentTypeError,
  DecodingError,
  httpStatusError,
  NetworkError,
  parseRetryAfter,
  RedirectError,
  ResponseTooLargeError,
} from './errors.js';
import { allProxiesFailed, ProxyAgents, type ProxyFailure, proxyFailureOf } from './proxy.js';
import { type PageRequest, redactedHeaders } from './request.js';
import { createGuardedDispatcher, findBlockedAddressError, type SsrfPolicy } from './ssrf.js';

/** Per-request limits and identity, from the job's `fetch` and `politeness` sections. */
export interface RequestOptions {
  /** Deadline for connecting, headers and the whole body. */
  readonly timeoutMs: number;
  /** Largest body accepted, on the wire and after decompression. */
  readonly maxBytes: number;
  readonly maxRedirects: number;
  readonly userAgent: string;
  /**
   * Fetch a resource rather than a document (robots.txt, sitemaps): any content type is read, and a status other
   * than 2xx is returned (with an empty body) instead of thrown. @default false
   */
  readonly resource?: boolean;
  /**
   * Keep the first `maxBytes` of a larger body instead of failing with `too-large` (robots.txt: RFC 9309 has a
   * crawler parse at least the first 500 KiB). @default false
   */
  readonly truncate?: boolean;
  /** Validators from the last successful fetch: sent as `If-None-Match` / `If-Modified-Since`. */
  readonly validators?: { readonly etag?: string | undefined; readonly lastModified?: string | undefined };
  /**
   * The job's method, headers (cookies included) and body. Its headers go to the URL's origin only; a 301, 302 or
   * 303 answer to a request with a body is followed with a GET without it, as browsers do. @default a plain GET
   */
  readonly request?: PageRequest;
  /**
   * Answer a redirect with the redirect itself (status, `location`, cookies) instead of following it: a login
   * follows its redirects itself, carrying the cookies each sets. @default false
   */
  readonly returnRedirects?: boolean;
}

/** A page as fetched: the body decompressed, headers lowercased. Status 304 (empty body) only when validators were sent. */
export interface FetchedPage {
  readonly url: string;
  readonly finalUrl: string;
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  /** Bytes received on the wire (before decompression). */
  readonly wireBytes: number;
  readonly redirects: readonly string[];
  readonly startedAt: number;
  readonly durationMs: number;
  /**
   * The job's headers sent with the first request (cookies included), as they may be archived: `Authorization`,
   * `Cookie`, `Proxy-Authorization` and every header holding a secret are `[redacted]`. @default none
   */
  readonly requestHeaders?: Readonly<Record<string, string>>;
  /** The `Set-Cookie` headers of the response, one per cookie (joined, `headers` cannot be split again). @default none */
  readonly setCookies?: readonly string[];
}

/** Options of {@link UndiciHttpClient}. */
export interface UndiciHttpClientOptions {
  /**
   * Dispatcher to use instead of the guarded one (tests inject one with a custom DNS lookup). It bypasses `ssrf`:
   * make it with `createGuardedDispatcher`. @default a keep-alive Agent behind the SSRF guard of `ssrf`
   */
  readonly dispatcher?: Dispatcher;
  /** Addresses the fetcher may connect to besides public ones. @default {} (guard on, nothing private allowed) */
  readonly ssrf?: SsrfPolicy;
  /** Connections kept per origin. @default 16 */
  readonly connectionsPerOrigin?: number;
  /** Connect timeout. @default 10000 */
  readonly connectTimeoutMs?: number;
}

const DOCUMENT_TYPES = /^(text\/html|application\/xhtml\+xml|application\/xml|text\/xml|application\/[a-z.+-]*\+xml)$/;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

function lowerHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

function decompressor(encoding: string | undefined): NodeJS.ReadWriteStream | undefined {
  switch ((encoding ?? '').trim().toLowerCase()) {
    case '':
    case 'identity':
      return undefined;
    case 'gzip':
    case 'x-gzip':
      return createGunzip();
    case 'deflate':
      return createInflate();
    case 'br':
      return createBrotliDecompress();
    default:
      throw new DecodingError(`unsupported content-encoding "${encoding}"`);
  }
}

/** Thrown inside the body pipeline once a truncated body has its `maxBytes`: stops reading, carries the body. */
class BodyCut extends Error {
  constructor(readonly body: Buffer) {
    super('body cut at its limit');
  }
}

/** Reads a stream into one buffer, failing as soon as it passes `limit` bytes (with `truncate`, a `BodyCut` of the first `limit`). */
async function readLimited(stream: AsyncIterable<Uint8Array>, limit: number, url: string, truncate = false): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    if (size + chunk.byteLength > limit) {
      if (!truncate) throw new ResponseTooLargeError(url, limit);
      chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, limit - size));
      throw new BodyCut(Buffer.concat(chunks, limit));
    }
    size += chunk.byteLength;
    chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  }
  return Buffer.concat(chunks, size);
}

/** Names (undici's, the platform's) and codes of errors that mean a deadline passed. `code` need not be a string. */
const TIMEOUT_NAMES = new Set(['HeadersTimeoutError', 'BodyTimeoutError', 'ConnectTimeoutError', 'TimeoutError']);
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT']);

/** The error and its causes, outermost first (a few levels: undici and the platform wrap errors). */
function causes(error: unknown): { name?: unknown; code?: unknown; message?: unknown }[] {
  const chain: { name?: unknown; code?: unknown; message?: unknown }[] = [];
  let current: unknown = error;
  while (typeof current === 'object' && current !== null && chain.length < 5 && !chain.includes(current)) {
    chain.push(current);
    current = (current as { cause?: unknown }).cause;
  }
  return chain;
}

function isTimeout(error: unknown): boolean {
  return causes(error).some(
    (inner) =>
      (typeof inner.name === 'string' && TIMEOUT_NAMES.has(inner.name)) ||
      (typeof inner.code === 'string' && TIMEOUT_CODES.has(inner.code)),
  );
}

/**
 * A failure to get a response or its body: a timeout when the request's deadline has passed (whatever the error
 * then says, e.g. an AbortError) or the error names one; otherwise a network error named by its code.
 */
function classifyNetworkError(error: unknown, url: string, deadline: AbortSignal): Error {
  const blocked = findBlockedAddressError(error);
  if (blocked !== undefined) return blocked;
  if (error instanceof ScrapelineError) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (deadline.aborted || isTimeout(error)) {
    return new NetworkError(`timed out fetching ${url}: ${message}`, 'timeout', { cause: error });
  }
  const code = causes(error)
    .map((inner) => (typeof inner.code === 'string' ? inner.code : undefined))
    .find((inner) => inner !== undefined);
  const name = error instanceof Error ? error.name : 'error';
  // Headers over undici's limit will be as large next time: retrying cannot help.
  if (code === 'UND_ERR_HEADERS_OVERFLOW') {
    return new NonRetryableError(`response headers from ${url} are too large: ${message}`, 'headers-too-large', error);
  }
  return new NetworkError(`network error fetching ${url}: ${message}`, `network-${code ?? name}`, { cause: error });
}

/** Drops a body that will not be read (draining a little of it, so the connection may be reused). */
async function discard(body: Dispatcher.ResponseData['body']): Promise<void> {
  await body.dump().catch(() => undefined);
}

/**
 * Where a redirect from `current` leads, checked: it has a valid `location`, to an http(s) URL without credentials
 * (jobs refuse URLs with them; a redirect must not bring them into archives and data), not back to `url` or a hop
 * already taken, within `maxRedirects` hops.
 */
function redirectTarget(
  location: string | undefined,
  current: string,
  url: string,
  redirects: readonly string[],
  maxRedirects: number,
): string {
  if (location === undefined) throw new RedirectError(`redirect without Location from ${current}`, 'bad-redirect');
  let next: string;
  try {
    next = new URL(location, current).href;
  } catch {
    throw new RedirectError(`invalid redirect Location "${location}" from ${current}`, 'bad-redirect');
  }
  const target = new URL(next);
  if (!/^https?:$/.test(target.protocol)) {
    throw new RedirectError(`redirect to a non-http URL from ${current}`, 'bad-redirect');
  }
  if (target.username !== '' || target.password !== '') {
    throw new RedirectError(`redirect to a URL with credentials from ${current}`, 'bad-redirect');
  }
  if (next === url || redirects.includes(next)) {
    throw new RedirectError(`redirect loop at ${next} (from ${url})`, 'redirect-loop');
  }
  if (redirects.length >= maxRedirects) {
    throw new RedirectError(`more than ${maxRedirects} redirects from ${url}`, 'too-many-redirects');
  }
  return next;
}

/**
 * Reads the body of a 2xx answer from `url`: a document of a media type the request reads (a resource's may be of
 * any), decompressed, at most `maxBytes` declared, on the wire and decompressed (or cut there, with `truncate`).
 * Errors are classified by where they happen: reading the wire (network, deadline), or decompressing.
 */
async function readBody(
  response: Dispatcher.ResponseData,
  headers: Readonly<Record<string, string>>,
  url: string,
  options: RequestOptions,
  signal: AbortSignal,
): Promise<{ body: Buffer; wireBytes: number }> {
  const mediaType = (headers['content-type'] ?? 'text/html').split(';')[0]?.trim().toLowerCase() ?? '';
  const accept = options.request?.accept;
  const readable = DOCUMENT_TYPES.test(mediaType) || accept === 'any' || (accept === 'json' && isJsonContentType(mediaType));
  if (!options.resource && !readable) {
    await discard(response.body);
    throw new ContentTypeError(url, mediaType);
  }
  const declared = Number(headers['content-length']);
  if (Number.isFinite(declared) && declared > options.maxBytes && !options.truncate) {
    response.body.destroy();
    throw new ResponseTooLargeError(url, options.maxBytes);
  }
  let inflate: NodeJS.ReadWriteStream | undefined;
  try {
    inflate = decompressor(headers['content-encoding']);
  } catch (error) {
    await discard(response.body);
    throw error;
  }
  let wireBytes = 0;
  let wireError: unknown;
  const wire = (async function* () {
    try {
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        wireBytes += chunk.byteLength;
        yield chunk;
      }
    } catch (error) {
      wireError = error;
      throw error;
    }
  })();
  let body: Buffer = Buffer.alloc(0);
  try {
    if (inflate) {
      await pipeline(wire, inflate, async (source: AsyncIterable<Buffer | string>) => {
        // A zlib stream without an encoding set yields buffers.
        body = await readLimited(source as AsyncIterable<Buffer>, options.maxBytes, url, options.truncate);
      });
    } else {
      body = await readLimited(wire, options.maxBytes, url, options.truncate);
    }
  } catch (error) {
    response.body.destroy();
    if (error instanceof BodyCut) body = error.body;
    else if (error instanceof ScrapelineError) throw error;
    else {
      if (inflate && wireError === undefined && !signal.aborted) {
        throw new DecodingError(`cannot decompress the body from ${url}: ${(error as Error).message}`, error);
      }
      throw classifyNetworkError(wireError ?? error, url, signal);
    }
  }
  return { body, wireBytes };
}

/** What {@link UndiciHttpClient} sends, besides the dispatcher. */
interface SendOptions {
  readonly method: Dispatcher.HttpMethod;
  readonly body?: string;
  readonly headers: Record<string, string>;
  readonly headersTimeout: number;
  readonly bodyTimeout: number;
  readonly signal: AbortSignal;
}

/** The HTTP port over undici: manual redirects (each hop checked), streaming size limits, decompression. */
export class UndiciHttpClient implements HttpClient {
  readonly #dispatcher: Dispatcher;
  readonly #ownsDispatcher: boolean;
  readonly #proxies: ProxyAgents;

  constructor(options: UndiciHttpClientOptions = {}) {
    this.#proxies = new ProxyAgents(options.ssrf ?? {}, {
      connections: options.connectionsPerOrigin ?? 16,
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
    });
    this.#ownsDispatcher = options.dispatcher === undefined;
    this.#dispatcher =
      options.dispatcher ??
      createGuardedDispatcher(options.ssrf ?? {}, {
        connections: options.connectionsPerOrigin ?? 16,
        connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
        keepAliveTimeoutMs: 10_000,
      });
  }

  async fetchPage(url: string, options: RequestOptions): Promise<FetchedPage> {
    const startedAt = Date.now();
    const signal = AbortSignal.timeout(options.timeoutMs);
    // Preconditions on a POST, PUT, PATCH or DELETE ask the server to refuse it (412) when the page is unchanged:
    // only a GET asks whether to send the page again. Other methods are compared by the body's hash.
    const validators = (options.request?.method ?? 'GET') === 'GET' ? options.validators : undefined;
    const sent = options.request?.headers ?? {};
    const archived = Object.keys(sent).length === 0 ? {} : { requestHeaders: redactedHeaders(options.request as PageRequest) };
    const { response, finalUrl, headers, redirects } = await this.#followRedirects(url, options, validators, signal);
    const rawCookies = response.headers['set-cookie'];
    const cookies = rawCookies === undefined ? {} : { setCookies: Array.isArray(rawCookies) ? [...rawCookies] : [rawCookies] };
    const page = (body: Buffer, wireBytes: number): FetchedPage => ({
      url,
      finalUrl,
      status: response.statusCode,
      headers,
      body,
      wireBytes,
      redirects,
      startedAt,
      durationMs: Date.now() - startedAt,
      ...archived,
      ...cookies,
    });
    const status = response.statusCode;
    // A redirect returned as such, a 304 to a conditional request, or any non-2xx of a resource, is an answer
    // without a body: the body is discarded.
    if (
      (REDIRECTS.has(status) && options.returnRedirects) ||
      (status === 304 && validators) ||
      (options.resource && (status < 200 || status >= 300))
    ) {
      await discard(response.body);
      return page(Buffer.alloc(0), 0);
    }
    if (status < 200 || status >= 300) {
      await discard(response.body);
      throw httpStatusError(status, finalUrl, parseRetryAfter(headers['retry-after'], Date.now()));
    }
    const { body, wireBytes } = await readBody(response, headers, finalUrl, options, signal);
    return page(body, wireBytes);
  }

  /**
   * Sends the request and follows its redirects, each hop checked by {@link redirectTarget}, to the first answer
   * that is not a redirect (or to the first redirect, with `returnRedirects`). The job's headers and cookies go to
   * its origin only; a 303, or a 301 or 302 to a request other than a GET, is followed with a GET without the body.
   */
  async #followRedirects(
    url: string,
    options: RequestOptions,
    validators: RequestOptions['validators'],
    signal: AbortSignal,
  ): Promise<{ response: Dispatcher.ResponseData; finalUrl: string; headers: Record<string, string>; redirects: string[] }> {
    const redirects: string[] = [];
    let current = url;
    const origin = URL.canParse(url) ? new URL(url).origin : undefined;
    let method = options.request?.method ?? 'GET';
    let requestBody = options.request?.body;
    for (;;) {
      let response: Dispatcher.ResponseData;
      // The job's headers and cookies are for the site it names: a redirect elsewhere must not carry them.
      const own =
        options.request !== undefined && URL.canParse(current) && new URL(current).origin === origin
          ? options.request.headers
          : {};
      try {
        response = await this.#send(current, options.request?.proxies ?? [], {
          method,
          ...(requestBody === undefined ? {} : { body: requestBody.text }),
          headers: {
            ...own,
            ...(requestBody === undefined ? {} : { 'content-type': requestBody.contentType }),
            'user-agent': options.userAgent,
            ...(validators?.etag ? { 'if-none-match': validators.etag } : {}),
            ...(validators?.lastModified ? { 'if-modified-since': validators.lastModified } : {}),
            accept:
              own.accept ??
              (options.request?.accept === undefined
                ? 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.5'
                : 'text/html,application/xhtml+xml,application/json;q=0.9,application/xml;q=0.9,*/*;q=0.5'),
            'accept-encoding': 'gzip, deflate, br',
          },
          headersTimeout: options.timeoutMs,
          bodyTimeout: options.timeoutMs,
          signal,
        });
      } catch (error) {
        throw classifyNetworkError(error, current, signal);
      }
      // Whatever path drops this body from here on, its errors (an abort when it is destroyed unread) are seen
      // by its reader or of no interest: they must never become an uncaught exception that ends the process.
      response.body.on('error', () => undefined);
      const headers = lowerHeaders(response.headers);
      if (!REDIRECTS.has(response.statusCode) || options.returnRedirects) {
        return { response, finalUrl: current, headers, redirects };
      }
      await discard(response.body);
      const next = redirectTarget(headers.location, current, url, redirects, options.maxRedirects);
      redirects.push(next);
      current = next;
      if (response.statusCode === 303 || ((response.statusCode === 301 || response.statusCode === 302) && method !== 'GET')) {
        method = 'GET';
        requestBody = undefined;
      }
    }
  }

  /**
   * Sends one request, directly or through the first proxy that gets it to the target: a proxy that is down or
   * refuses the tunnel is left for the next (the request never reached the target, so any request may go again).
   */
  async #send(url: string, proxies: readonly string[], options: SendOptions): Promise<Dispatcher.ResponseData> {
    if (proxies.length === 0)
      return request(url, { ...options, dispatcher: this.#dispatcher }) as Promise<Dispatcher.ResponseData>;
    await this.#proxies.checkTarget(url);
    const failures: { proxy: string; kind: ProxyFailure; detail: string }[] = [];
    for (const proxy of proxies) {
      try {
        return (await request(url, { ...options, dispatcher: this.#proxies.agent(proxy) })) as Dispatcher.ResponseData;
      } catch (error) {
        const failure = options.signal.aborted ? undefined : proxyFailureOf(error, proxy);
        if (failure === undefined) throw error;
        failures.push({ proxy, ...failure });
      }
    }
    throw allProxiesFailed(url, failures);
  }

  async close(): Promise<void> {
    await this.#proxies.close();
    if (this.#ownsDispatcher) await this.#dispatcher.close();
  }
}
