import { createHash } from 'node:crypto';

/** Query parameters that only track clicks; removed so one page is fetched once per run. */
const TRACKING_PARAMETERS = /^(utm_[a-z]+|gclid|fbclid|msclkid|mc_cid|mc_eid|_ga|yclid)$/i;

/** Longest URL accepted into a run (longer ones are refused: servers and CDNs reject them anyway). */
export const MAX_URL_LENGTH = 4096;

/** Why a link was refused, or the normalised URL. */
export type NormalisedUrl = { ok: true; url: string } | { ok: false; reason: string };

/** RFC 3986 §2.3: characters that never need percent-encoding. */
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

/** RFC 3986 §6.2.2: a percent-encoded unreserved character is decoded, any other escape upper-cased. */
function canonicalEscape(sequence: string): string {
  const character = String.fromCharCode(Number.parseInt(sequence.slice(1), 16));
  return UNRESERVED.test(character) ? character : sequence.toUpperCase();
}

/**
 * Normalises an absolute or relative URL for fetching and per-run dedup: resolves against `base`,
 * keeps only http(s), refuses credentials, lowercases scheme and host (IDN to punycode by WHATWG URL),
 * drops the default port, the fragment, tracking parameters and an empty query, sorts the query, and encodes
 * the path canonically (RFC 3986 §6.2.2: `%7E` is `~`, `%2f` is `%2F`). Never throws.
 */
export function normaliseUrl(input: string, base?: string): NormalisedUrl {
  const trimmed = input.trim();
  if (trimmed.length === 0) return { ok: false, reason: 'empty URL' };
  if (trimmed.length > MAX_URL_LENGTH) return { ok: false, reason: `URL longer than ${MAX_URL_LENGTH} characters` };
  let parsed: URL;
  try {
    parsed = base === undefined ? new URL(trimmed) : new URL(trimmed, base);
  } catch {
    return { ok: false, reason: 'not a valid URL' };
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    return { ok: false, reason: `scheme "${parsed.protocol.replace(/:$/, '')}" is not fetched` };
  }
  if (parsed.username !== '' || parsed.password !== '') return { ok: false, reason: 'URL with credentials' };
  if (parsed.hostname === '') return { ok: false, reason: 'URL without a host' };
  parsed.hash = '';
  const entries = [...parsed.searchParams.entries()].filter(([name]) => !TRACKING_PARAMETERS.test(name));
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  // An empty query (`/p?`, or only tracking parameters) is dropped with its `?`.
  parsed.search = new URLSearchParams(entries).toString();
  parsed.pathname = parsed.pathname.replace(/%[0-9A-Fa-f]{2}/g, canonicalEscape);
  const url = parsed.href;
  if (url.length > MAX_URL_LENGTH) return { ok: false, reason: `URL longer than ${MAX_URL_LENGTH} characters` };
  return { ok: true, url };
}

/** Stable short id of a normalised URL, used in state keys and object keys (never the URL itself). */
export function urlId(url: string): string {
  return createHash('sha256').update(url).digest('base64url').slice(0, 22);
}

/** The host (with a non-default port) of a URL, as allow-lists compare it. */
export function hostOf(url: string): string {
  return new URL(url).host;
}
