import { gunzipSync } from 'node:zlib';
import { Parser } from 'htmlparser2';
import { NonRetryableError } from '../errors.js';
import { hostOf, MAX_URL_LENGTH, normaliseUrl } from '../url.js';

/**
 * Sitemaps (sitemaps.org protocol 0.9) as start points, as a pure module: the caller fetches a sitemap and hands its
 * bytes to {@link parseSitemap}; before following the sitemaps of an index it asks {@link extendSitemapChain}.
 *
 * XML is read with htmlparser2's streaming tokenizer in XML mode (no document tree). Its tokenizer is forgiving, so
 * the structure is checked here: one root `<urlset>` or `<sitemapindex>`, every element closed in order, nothing after
 * the root. No DTD is ever read: any `<!DOCTYPE`/`<!ENTITY` is refused, and only the five predefined entities and
 * numeric references are decoded (an undeclared `&name;` stays as written), so entity expansion attacks cannot happen.
 */

/** Most entries in one sitemap file (the protocol's limit). */
export const SITEMAP_MAX_URLS = 50_000;
/** Largest sitemap file, uncompressed (the protocol's limit: 50 MiB). */
export const SITEMAP_MAX_BYTES = 52_428_800;
/** Default longest chain of sitemaps, the first one included (see {@link extendSitemapChain}). */
export const SITEMAP_MAX_DEPTH = 3;

/** Why a sitemap was refused. */
export type SitemapErrorReason =
  | 'sitemap-too-large'
  | 'sitemap-too-many-urls'
  | 'sitemap-entities'
  | 'sitemap-invalid'
  | 'sitemap-loop'
  | 'sitemap-depth';

/** A sitemap that cannot be used: the same bytes would fail again, so it is never retried. */
export class SitemapError extends NonRetryableError {
  override readonly name = 'SitemapError';
  declare readonly reason: SitemapErrorReason;
  constructor(message: string, reason: SitemapErrorReason, cause?: unknown) {
    super(message, reason, cause);
  }
}

/** One entry of a sitemap: a page of a `urlset`, or a sitemap of an index. */
export interface SitemapUrl {
  /** Absolute http(s) URL, normalised by `normaliseUrl` (shared/url.ts), the pipeline's own form. */
  readonly loc: string;
  /** `<lastmod>` as given (trimmed), present only when it is a valid W3C datetime (`YYYY` up to `YYYY-MM-DDThh:mm:ss.sTZD`). */
  readonly lastmod?: string;
  /** `loc` is not on the sitemap's host (with port), which the protocol says it should be; what to do is the caller's. */
  readonly offHost: boolean;
}

/** An entry whose `<loc>` was not usable; the rest of the file still counts. */
export interface RejectedLoc {
  /** The trimmed `<loc>` (at most 256 characters), or `''` when the entry had none. */
  readonly loc: string;
  readonly reason: string;
}

/** A parsed sitemap file. */
export type Sitemap = (
  | { readonly kind: 'urlset'; readonly urls: SitemapUrl[] }
  | { readonly kind: 'index'; readonly sitemaps: SitemapUrl[] }
) & {
  /** `xml`, or `text` for the protocol's plain-text form (one URL per line, always a `urlset`). */
  readonly format: 'xml' | 'text';
  readonly rejected: RejectedLoc[];
};

/** Options of {@link parseSitemap}. */
export interface ParseSitemapOptions {
  /** Most entries (`<url>`, `<sitemap>` or text lines) in the file; one more is refused. @default 50000 */
  readonly maxUrls?: number;
  /** Largest file in bytes, after gunzip; a larger one is refused. @default 52428800 */
  readonly maxBytes?: number;
}

/** Options of {@link extendSitemapChain}. */
export interface SitemapChainOptions {
  /** Longest chain of sitemaps, the first one (from robots.txt or the job) counting as 1. @default 3 */
  readonly maxDepth?: number;
}

const MAX_REJECTED_LOC = 256;
const DECODE_CHUNK_BYTES = 1024 * 1024;
const W3C_DATETIME = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-](\d{2}):(\d{2})))?)?)?$/;

function positiveInteger(name: string, value: number | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1 || value > max) {
    throw new RangeError(`${name} must be an integer from 1 to ${max}, got ${value}`);
  }
  return value;
}

/** A copy of `text` that does not keep alive the (large) chunk of the document it was sliced from. */
function detached(text: string): string {
  return Buffer.from(text, 'utf8').toString('utf8');
}

/** Whether `value` is a W3C datetime (https://www.w3.org/TR/NOTE-datetime) with fields in range. */
function isW3cDatetime(value: string): boolean {
  const match = W3C_DATETIME.exec(value);
  if (!match) return false;
  const [, year, month, day, hour, minute, second, , zoneHour, zoneMinute] = match.map((part) =>
    part === undefined ? undefined : Number(part),
  );
  if (month !== undefined && (month < 1 || month > 12)) return false;
  if (day !== undefined && month !== undefined && year !== undefined) {
    if (day < 1 || day > new Date(Date.UTC(year, month, 0)).getUTCDate()) return false;
  }
  if (hour !== undefined && hour > 23) return false;
  if (minute !== undefined && minute > 59) return false;
  if (second !== undefined && second > 59) return false;
  if (zoneHour !== undefined && zoneHour > 23) return false;
  return zoneMinute === undefined || zoneMinute <= 59;
}

/** The instant a lastmod ends: a date alone (`YYYY`, `YYYY-MM`, `YYYY-MM-DD`, read as UTC) stands for its whole period. */
function lastmodEnd(lastmod: string): number {
  const match = W3C_DATETIME.exec(lastmod);
  if (!match) return Number.NaN;
  const [, year, month, day, hour] = match;
  if (hour !== undefined) return Date.parse(lastmod);
  const y = Number(year);
  if (month === undefined) return Date.UTC(y + 1, 0, 1);
  if (day === undefined) return Date.UTC(y, Number(month), 1);
  return Date.UTC(y, Number(month) - 1, Number(day) + 1);
}

/**
 * Whether a sitemap entry may have changed after `since` (epoch ms): true when `since` is undefined, when the entry
 * has no (valid) lastmod, or when any instant of its lastmod is after `since` (a date alone covers its whole UTC day,
 * month or year).
 */
export function modifiedSince(url: SitemapUrl, since: number | undefined): boolean {
  if (since === undefined || url.lastmod === undefined) return true;
  const end = lastmodEnd(url.lastmod);
  return Number.isNaN(end) || end > since;
}

/** Collects entries, checking each `<loc>` and counting against `maxUrls`. */
class Entries {
  readonly urls: SitemapUrl[] = [];
  readonly rejected: RejectedLoc[] = [];
  #count = 0;
  readonly #host: string;
  readonly #maxUrls: number;
  readonly #sourceUrl: string;

  constructor(sourceUrl: string, maxUrls: number) {
    this.#sourceUrl = sourceUrl;
    this.#host = hostOf(sourceUrl);
    this.#maxUrls = maxUrls;
  }

  /** Counts one more entry; throws when there are too many. */
  count(): void {
    this.#count++;
    if (this.#count > this.#maxUrls) {
      throw new SitemapError(
        `sitemap ${this.#sourceUrl} has more than ${this.#maxUrls} entries (the sitemap protocol allows 50,000 per file)`,
        'sitemap-too-many-urls',
      );
    }
  }

  add(rawLoc: string | undefined, rawLastmod: string | undefined): void {
    if (rawLoc === undefined) {
      this.rejected.push({ loc: '', reason: 'entry without <loc>' });
      return;
    }
    const trimmed = rawLoc.trim();
    const normalised = /^[a-z][a-z0-9+.-]*:/i.test(trimmed)
      ? normaliseUrl(trimmed)
      : { ok: false as const, reason: trimmed === '' ? 'empty URL' : 'not an absolute URL' };
    if (!normalised.ok) {
      this.rejected.push({ loc: detached(trimmed.slice(0, MAX_REJECTED_LOC)), reason: normalised.reason });
      return;
    }
    const lastmod = rawLastmod?.trim();
    this.urls.push({
      loc: normalised.url,
      ...(lastmod !== undefined && isW3cDatetime(lastmod) ? { lastmod: detached(lastmod) } : {}),
      offHost: hostOf(normalised.url) !== this.#host,
    });
  }
}

/** Line and column (1-based) of a character offset into the decoded document, for error messages. */
function positionIn(bytes: Uint8Array, offset: number): string {
  const before = new TextDecoder().decode(bytes).slice(0, offset);
  const lines = before.split(/\r\n|\r|\n/);
  return `line ${lines.length}, column ${(lines[lines.length - 1]?.length ?? 0) + 1}`;
}

interface Frame {
  readonly name: string;
  readonly local: string;
  readonly namespace: string;
  readonly scope: ReadonlyMap<string, string>;
  readonly start: number;
  readonly openEnd: number;
}

const ROOT_SCOPE: ReadonlyMap<string, string> = new Map([['xml', 'http://www.w3.org/XML/1998/namespace']]);

/** Reads an XML sitemap with htmlparser2's tokenizer, checking the structure it lets pass. */
function readXml(bytes: Uint8Array, sourceUrl: string, entries: Entries): 'urlset' | 'index' {
  const invalid = (message: string, offset: number): SitemapError =>
    new SitemapError(`sitemap ${sourceUrl} is not valid XML: ${message} (${positionIn(bytes, offset)})`, 'sitemap-invalid');
  const stack: Frame[] = [];
  let kind: 'urlset' | 'index' | undefined;
  let rootNamespace = '';
  let rootClosed = false;
  let ending = false;
  let entry: { loc?: string; lastmod?: string } | undefined;
  let field: 'loc' | 'lastmod' | undefined;
  let text = '';

  const parser: Parser = new Parser(
    {
      onprocessinginstruction(name, data) {
        const declaration = name.toLowerCase();
        if (declaration === '!doctype' && /^!doctype\s+html\b/i.test(data)) {
          throw new SitemapError(`sitemap ${sourceUrl} is an HTML page, not a sitemap`, 'sitemap-invalid');
        }
        if (declaration.startsWith('!')) {
          throw new SitemapError(
            `sitemap ${sourceUrl} has a <${name.toUpperCase()}> declaration (${positionIn(bytes, parser.startIndex)}): ` +
              'sitemaps never need DTDs or entities, so they are refused',
            'sitemap-entities',
          );
        }
      },
      onopentag(name, attributes) {
        if (rootClosed) throw invalid(`element <${name}> after the root element`, parser.startIndex);
        const parent = stack[stack.length - 1];
        let scope = parent?.scope ?? ROOT_SCOPE;
        for (const [attribute, value] of Object.entries(attributes)) {
          if (attribute === 'xmlns' || attribute.startsWith('xmlns:')) {
            if (scope === (parent?.scope ?? ROOT_SCOPE)) scope = new Map(scope);
            (scope as Map<string, string>).set(attribute.slice(6), value);
          }
        }
        const colon = name.indexOf(':');
        const prefix = colon === -1 ? '' : name.slice(0, colon);
        const local = name.slice(colon + 1);
        const namespace = scope.get(prefix) ?? (prefix === '' ? '' : `(unbound prefix ${prefix})`);
        const depth = stack.length;
        stack.push({ name, local, namespace, scope, start: parser.startIndex, openEnd: parser.endIndex });
        if (depth === 0) {
          if (local === 'urlset') kind = 'urlset';
          else if (local === 'sitemapindex') kind = 'index';
          else throw invalid(`the root element is <${name}>, not <urlset> or <sitemapindex>`, parser.startIndex);
          rootNamespace = namespace;
        } else if (namespace !== rootNamespace) {
          return;
        } else if (depth === 1 && local === (kind === 'urlset' ? 'url' : 'sitemap')) {
          entries.count();
          entry = {};
        } else if (depth === 2 && entry !== undefined && (local === 'loc' || local === 'lastmod')) {
          field = local;
          text = '';
        }
      },
      ontext(chunk) {
        if (field !== undefined && stack.length === 3) {
          if (text.length <= 2 * MAX_URL_LENGTH) text += text === '' ? chunk.trimStart() : chunk;
        } else if (stack.length === 0 && chunk.trim() !== '') {
          throw invalid(`text ${JSON.stringify(chunk.trim().slice(0, 40))} outside the root element`, parser.startIndex);
        }
      },
      onclosetag(name, isImplied) {
        const frame = stack.pop();
        if (frame === undefined) return;
        if (isImplied && parser.endIndex !== frame.openEnd) {
          const opened = positionIn(bytes, frame.start);
          if (ending) throw invalid(`the document ends inside <${name}> opened at ${opened} (truncated?)`, frame.start);
          throw invalid(`<${name}> opened at ${opened} is not closed before this end tag`, parser.startIndex);
        }
        if (stack.length === 2 && field !== undefined && entry !== undefined) {
          if (entry[field] === undefined) entry[field] = text;
          field = undefined;
          text = '';
        } else if (stack.length === 1 && entry !== undefined) {
          entries.add(entry.loc, entry.lastmod);
          entry = undefined;
        } else if (stack.length === 0) {
          rootClosed = true;
        }
      },
    },
    { xmlMode: true, decodeEntities: true },
  );

  const decoder = new TextDecoder('utf-8');
  for (let offset = 0; offset < bytes.byteLength; offset += DECODE_CHUNK_BYTES) {
    parser.write(decoder.decode(bytes.subarray(offset, offset + DECODE_CHUNK_BYTES), { stream: true }));
  }
  parser.write(decoder.decode());
  ending = true;
  parser.end();
  if (kind === undefined) throw invalid('no root element', 0);
  return kind;
}

function readText(bytes: Uint8Array, entries: Entries): void {
  for (const line of new TextDecoder('utf-8').decode(bytes).split(/\r\n|\r|\n/)) {
    if (line.trim() === '') continue;
    entries.count();
    entries.add(line, undefined);
  }
}

/** Whether the first byte past a BOM and whitespace is `<`. */
function looksLikeXml(bytes: Uint8Array): boolean {
  let index = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  while (index < bytes.byteLength && [0x20, 0x09, 0x0a, 0x0d].includes(bytes[index] as number)) index++;
  return bytes[index] === 0x3c;
}

function gunzip(bytes: Uint8Array, sourceUrl: string, maxBytes: number): Uint8Array {
  try {
    return gunzipSync(bytes, { maxOutputLength: maxBytes });
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new SitemapError(
        `sitemap ${sourceUrl} decompresses to more than ${maxBytes} bytes (the sitemap protocol allows 50 MiB uncompressed)`,
        'sitemap-too-large',
        error,
      );
    }
    throw new SitemapError(`sitemap ${sourceUrl} is not valid gzip: ${(error as Error).message}`, 'sitemap-invalid', error);
  }
}

/**
 * Parses a sitemap file: an XML `<urlset>` or `<sitemapindex>` (sitemaps.org 0.9), or the plain-text form (one URL per
 * line), gzipped or not (gzip is recognised by its magic bytes `1f 8b`, whatever the URL or headers say), decoded as
 * UTF-8. Entries with an unusable `<loc>` (relative, not http(s), with credentials, too long) are listed in `rejected`
 * and the rest of the file still counts; an invalid `<lastmod>` is dropped. Entries are matched by the namespace of the
 * root element, so extension elements (`image:loc`, `xhtml:link`, ...) are skipped.
 *
 * @param body the response body (Content-Encoding already undone by the HTTP client)
 * @param sourceUrl the URL the sitemap was fetched from: entries on another host are flagged `offHost`
 * @throws SitemapError `sitemap-too-large`, `sitemap-too-many-urls`, `sitemap-entities` (any DOCTYPE or ENTITY
 * declaration) or `sitemap-invalid` (not gzip it claims to be, binary, not XML in the sitemap structure; the message
 * gives the line and column).
 * @throws RangeError for options out of range; TypeError when `sourceUrl` is not an absolute URL.
 */
export function parseSitemap(body: Uint8Array, sourceUrl: string, options: ParseSitemapOptions = {}): Sitemap {
  const maxUrls = positiveInteger('maxUrls', options.maxUrls, SITEMAP_MAX_URLS, Number.MAX_SAFE_INTEGER);
  const maxBytes = positiveInteger('maxBytes', options.maxBytes, SITEMAP_MAX_BYTES, 2 ** 31 - 1);
  const entries = new Entries(sourceUrl, maxUrls);
  const isGzip = body[0] === 0x1f && body[1] === 0x8b;
  if (!isGzip && body.byteLength > maxBytes) {
    throw new SitemapError(
      `sitemap ${sourceUrl} is larger than ${maxBytes} bytes (the sitemap protocol allows 50 MiB uncompressed)`,
      'sitemap-too-large',
    );
  }
  const bytes = isGzip ? gunzip(body, sourceUrl, maxBytes) : body;
  if (bytes.includes(0)) {
    throw new SitemapError(`sitemap ${sourceUrl} has binary content (NUL bytes): not XML or text`, 'sitemap-invalid');
  }
  if (!looksLikeXml(bytes)) {
    readText(bytes, entries);
    return { kind: 'urlset', urls: entries.urls, rejected: entries.rejected, format: 'text' };
  }
  const kind = readXml(bytes, sourceUrl, entries);
  return kind === 'urlset'
    ? { kind, urls: entries.urls, rejected: entries.rejected, format: 'xml' }
    : { kind, sitemaps: entries.urls, rejected: entries.rejected, format: 'xml' };
}

/**
 * The chain of sitemaps that leads to `next`, for the pipeline to carry with each sitemap it fetches: `chain` is the
 * sitemaps from the first (from robots.txt or the job) down to the index that lists `next`; `[]` for a first sitemap.
 * URLs are compared in `normaliseUrl` form.
 * @throws SitemapError `sitemap-loop` when `next` is already in `chain`, `sitemap-depth` when the chain would be
 * longer than `maxDepth` (index → index → ... nesting).
 * @example
 * const chain = extendSitemapChain([], 'https://site.test/sitemap.xml'); // a first sitemap: ['https://site.test/sitemap.xml']
 * extendSitemapChain(chain, 'https://site.test/sitemap-1.xml'); // one of its children, depth 2
 */
export function extendSitemapChain(chain: readonly string[], next: string, options: SitemapChainOptions = {}): string[] {
  const maxDepth = positiveInteger('maxDepth', options.maxDepth, SITEMAP_MAX_DEPTH, 100);
  const key = (url: string): string => {
    const normalised = normaliseUrl(url);
    return normalised.ok ? normalised.url : url;
  };
  const nextKey = key(next);
  if (chain.some((url) => key(url) === nextKey)) {
    throw new SitemapError(`sitemap loop: ${next} is already in the chain ${[...chain, next].join(' → ')}`, 'sitemap-loop');
  }
  if (chain.length + 1 > maxDepth) {
    throw new SitemapError(
      `sitemap ${next} would be at depth ${chain.length + 1} (${[...chain, next].join(' → ')}), more than maxDepth ${maxDepth}`,
      'sitemap-depth',
    );
  }
  return [...chain, next];
}
