import { InvalidInputError } from '../errors.js';

/**
 * robots.txt per RFC 9309, as a pure module: the caller fetches `/robots.txt` (see {@link robotsUrlFor}) and hands the
 * outcome to {@link robotsPolicyFor}; the policy answers {@link RobotsPolicy.isAllowed} for URLs of that origin.
 *
 * Fetching is the caller's: redirects of robots.txt are followed by the HTTP client (RFC 9309 §2.3.1.2: at least five,
 * even across hosts), and the rules found apply to the origin first asked, so pass the URL requested, not the final one.
 * The RFC lets a crawler cache a policy for at most 24 hours (§2.4); {@link serialiseRobots} gives a string for that.
 */

/** Bytes of a robots.txt that are parsed; content past it is ignored (RFC 9309 §2.5: at least 500 KiB). */
export const ROBOTS_PARSE_LIMIT_BYTES = 500 * 1024;

/**
 * What a policy came from: `ok` a robots.txt was read; `unavailable` a 4xx (or too many redirects), so everything is
 * allowed (§2.3.1.3); `unreachable` a 5xx, 429 or network error, so everything is disallowed until robots.txt can be
 * fetched again (§2.3.1.4).
 */
export type RobotsStatus = 'ok' | 'unavailable' | 'unreachable';

/** The robots.txt rules that apply to one user agent on one origin. */
export interface RobotsPolicy {
  /** `scheme://host[:port]` the rules govern. */
  readonly origin: string;
  readonly status: RobotsStatus;
  /**
   * Whether the crawler may fetch `url`. `/robots.txt` itself is always allowed.
   * @throws RangeError when `url` is not on {@link RobotsPolicy.origin}; TypeError when it is not a URL.
   */
  isAllowed(url: string): boolean;
  /** `Crawl-delay` of the group that applies, in milliseconds (the largest when several groups apply). */
  readonly crawlDelayMs: number | undefined;
  /** Absolute http(s) URLs of the `Sitemap:` lines, in file order, without duplicates (they apply to every agent). */
  readonly sitemaps: readonly string[];
}

/** What the fetch of /robots.txt came to, per RFC 9309 §2.3.1. */
export type RobotsFetchResult =
  /** A response with a body (2xx: parsed; any other status is read as for `status`). */
  | { readonly kind: 'ok'; readonly status: number; readonly body: string }
  /** A response whose body was not read: 4xx and 3xx (too many redirects) allow all, 5xx and 429 disallow all. */
  | { readonly kind: 'status'; readonly status: number }
  /** No response (DNS, connect, TLS, timeout): disallow all. */
  | { readonly kind: 'unreachable'; readonly reason: string };

const UNRESERVED = /^[A-Za-z0-9\-._~]$/;
const RESERVED_OR_UNRESERVED = /^[A-Za-z0-9\-._~:/?#[\]@!&'()+,;=]$/;
const HEX_PAIR = /^[0-9A-Fa-f]{2}$/;

/**
 * Canonical form of a path (or a literal part of a rule) for comparison, per RFC 9309 §2.2.2: non-ASCII and characters
 * not allowed in a URI are percent-encoded (UTF-8), escapes of unreserved characters are decoded, other escapes get
 * upper-case hex. `*` and `$` are always encoded, so a rule's `%2A` / `%24` match them literally (§2.2.3).
 */
function canonical(text: string): string {
  let out = '';
  for (let index = 0; index < text.length; index++) {
    const char = text[index] as string;
    if (char === '%') {
      const hex = text.slice(index + 1, index + 3);
      if (HEX_PAIR.test(hex)) {
        const decoded = String.fromCharCode(Number.parseInt(hex, 16));
        out += UNRESERVED.test(decoded) ? decoded : `%${hex.toUpperCase()}`;
        index += 2;
      } else {
        out += '%25';
      }
    } else if (char === '*') {
      out += '%2A';
    } else if (char === '$') {
      out += '%24';
    } else if (RESERVED_OR_UNRESERVED.test(char)) {
      out += char;
    } else {
      const code = char.charCodeAt(0);
      if (code < 0x80) {
        out += `%${code.toString(16).toUpperCase().padStart(2, '0')}`;
      } else {
        const next = text[index + 1] ?? '';
        const pair = code >= 0xd800 && code <= 0xdbff && /[\udc00-\udfff]/.test(next);
        try {
          out += encodeURIComponent(pair ? char + next : char);
        } catch {
          out += '%EF%BF%BD';
        }
        if (pair) index++;
      }
    }
  }
  return out;
}

/** A compiled allow/disallow rule: literal parts between `*` wildcards, optionally anchored at the end by `$`. */
interface Rule {
  readonly allow: boolean;
  /** Canonical pattern (`*` wildcards, trailing `$`), as serialised; its length is the rule's specificity. */
  readonly pattern: string;
  readonly parts: readonly string[];
  readonly anchored: boolean;
}

function compileRule(allow: boolean, raw: string): Rule {
  const anchored = raw.endsWith('$');
  const parts = (anchored ? raw.slice(0, -1) : raw).split('*').map(canonical);
  return { allow, pattern: parts.join('*') + (anchored ? '$' : ''), parts, anchored };
}

/** Whether `rule` matches `path` from its first octet (leftmost matching of each part is optimal for `*` globs). */
function ruleMatches(rule: Rule, path: string): boolean {
  const { parts, anchored } = rule;
  const first = parts[0] ?? '';
  if (!path.startsWith(first)) return false;
  let position = first.length;
  if (parts.length === 1) return !anchored || position === path.length;
  for (let index = 1; index < parts.length - 1; index++) {
    const part = parts[index] ?? '';
    const found = path.indexOf(part, position);
    if (found === -1) return false;
    position = found + part.length;
  }
  const last = parts[parts.length - 1] ?? '';
  if (anchored) return path.length - last.length >= position && path.endsWith(last);
  return path.indexOf(last, position) !== -1;
}

/** Most specific first; an allow before a disallow of the same length (RFC 9309 §2.2.2). */
function bySpecificity(a: Rule, b: Rule): number {
  return b.pattern.length - a.pattern.length || Number(b.allow) - Number(a.allow);
}

class CompiledPolicy implements RobotsPolicy {
  readonly origin: string;
  readonly status: RobotsStatus;
  readonly crawlDelayMs: number | undefined;
  readonly sitemaps: readonly string[];
  readonly #rules: readonly Rule[];

  constructor(
    origin: string,
    status: RobotsStatus,
    rules: readonly Rule[],
    crawlDelayMs: number | undefined,
    sitemaps: readonly string[],
  ) {
    this.origin = origin;
    this.status = status;
    this.#rules = [...rules].sort(bySpecificity);
    this.crawlDelayMs = crawlDelayMs;
    this.sitemaps = Object.freeze([...sitemaps]);
  }

  isAllowed(url: string): boolean {
    const parsed = new URL(url);
    if (parsed.origin !== this.origin) {
      throw new RangeError(`robots.txt of ${this.origin} does not govern ${url}`);
    }
    if (parsed.pathname === '/robots.txt') return true;
    if (this.status !== 'ok') return this.status === 'unavailable';
    const path = canonical(parsed.pathname + parsed.search);
    for (const rule of this.#rules) {
      if (ruleMatches(rule, path)) return rule.allow;
    }
    return true;
  }

  /** The compiled rules, most specific first (for {@link serialiseRobots}). */
  get rules(): readonly Rule[] {
    return this.#rules;
  }
}

/**
 * The product token of a User-Agent header, as robots.txt groups name crawlers (RFC 9309 §2.2.1): the first product's
 * name, or the one after `compatible;` in a `Mozilla/5.0 (compatible; name/1.0; ...)` string.
 * @throws RangeError when that name is empty or has characters other than letters, `_` and `-`.
 * @example userAgentToken('scrapeline/0.1 (+https://github.com/scrapeline/scrapeline)') // 'scrapeline'
 */
export function userAgentToken(userAgent: string): string {
  const trimmed = userAgent.trim();
  const compatible = /\(compatible;\s*([^/;)\s]+)/i.exec(trimmed)?.[1];
  const product = compatible ?? /^[^/\s;()]*/.exec(trimmed)?.[0] ?? '';
  if (!/^[A-Za-z_-]+$/.test(product)) {
    throw new RangeError(
      `userAgent must start with a product token of letters, "_" or "-" (RFC 9309 §2.2.1), got "${product}" from "${userAgent}"`,
    );
  }
  return product;
}

/**
 * The robots.txt URL governing a page: `scheme://host[:port]/robots.txt` (default port dropped, host in punycode).
 * @throws TypeError when `pageUrl` is not an absolute http(s) URL.
 */
export function robotsUrlFor(pageUrl: string): string {
  const url = new URL(pageUrl);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`robots.txt is only looked up for http(s) URLs, got ${pageUrl}`);
  }
  return `${url.origin}/robots.txt`;
}

function originOf(robotsUrl: string): string {
  const url = new URL(robotsUrl);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`robotsUrl must be an absolute http(s) URL, got ${robotsUrl}`);
  }
  return url.origin;
}

/** The first {@link ROBOTS_PARSE_LIMIT_BYTES} of `body`, ending at the last whole line within them. */
function withinParseLimit(body: string): string {
  if (body.length * 3 <= ROBOTS_PARSE_LIMIT_BYTES) return body;
  const bytes = Buffer.from(body, 'utf8');
  if (bytes.byteLength <= ROBOTS_PARSE_LIMIT_BYTES) return body;
  const head = bytes.subarray(0, ROBOTS_PARSE_LIMIT_BYTES);
  const lastBreak = Math.max(head.lastIndexOf(0x0a), head.lastIndexOf(0x0d));
  return head.subarray(0, lastBreak + 1).toString('utf8');
}

/** Whether a `User-agent:` value names `token`: its leading letters, `_` and `-`, compared case-insensitively. */
function namesAgent(value: string, token: string): boolean {
  const named = /^[A-Za-z_-]+/.exec(value)?.[0];
  return named !== undefined && named.toLowerCase() === token.toLowerCase();
}

function isGlobalAgent(value: string): boolean {
  return /^\*(\s|$)/.test(value);
}

interface Group {
  readonly agents: string[];
  readonly rules: Rule[];
  readonly crawlDelays: number[];
}

function absoluteHttpUrl(value: string): string | undefined {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Parses a robots.txt body into the policy for one crawler (RFC 9309 §2.2). Lines are `key: value` (keys
 * case-insensitive, `#` starts a comment, CRLF/LF/CR, a leading BOM ignored); other lines are skipped. A group is one
 * or more `User-agent` lines and the rules after them; the groups naming the crawler's product token are merged, else
 * the `*` groups, else nothing applies. The most specific (longest) matching rule wins, `Allow` on a tie; `*` matches
 * any run of characters and a trailing `$` anchors the end. A `Sitemap` line does not end a group's list of agents
 * (§2.2.4); a `Crawl-delay` line belongs to its group like a rule (so `User-agent: a` / `Crawl-delay: 5` /
 * `User-agent: b` makes two groups). Only the first {@link ROBOTS_PARSE_LIMIT_BYTES} are read.
 *
 * @param robotsUrl the robots.txt URL requested (before redirects): its origin is the one governed
 * @param body the response body, decoded as UTF-8
 * @param userAgent the crawler's User-Agent header, or just its product token (see {@link userAgentToken})
 */
export function parseRobots(robotsUrl: string, body: string, userAgent: string): RobotsPolicy {
  const origin = originOf(robotsUrl);
  const token = userAgentToken(userAgent);
  const groups: Group[] = [];
  const sitemaps = new Set<string>();
  let current: Group | undefined;
  let inRules = false;
  for (const rawLine of withinParseLimit(body)
    .replace(/^\uFEFF/, '')
    .split(/\r\n|\r|\n/)) {
    const hash = rawLine.indexOf('#');
    const line = hash === -1 ? rawLine : rawLine.slice(0, hash);
    const colon = line.indexOf(':');
    if (colon === -1) continue;
    const key = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    switch (key) {
      case 'user-agent':
        if (current === undefined || inRules) {
          current = { agents: [], rules: [], crawlDelays: [] };
          groups.push(current);
          inRules = false;
        }
        current.agents.push(value);
        break;
      case 'allow':
      case 'disallow':
        if (current === undefined) break;
        inRules = true;
        if (value !== '') current.rules.push(compileRule(key === 'allow', value));
        break;
      case 'crawl-delay':
        if (current === undefined) break;
        inRules = true;
        if (/^\d+(\.\d+)?$/.test(value)) current.crawlDelays.push(Math.round(Number(value) * 1000));
        break;
      case 'sitemap': {
        const url = absoluteHttpUrl(value);
        if (url !== undefined) sitemaps.add(url);
        break;
      }
    }
  }
  const specific = groups.filter((group) => group.agents.some((agent) => namesAgent(agent, token)));
  const applying = specific.length > 0 ? specific : groups.filter((group) => group.agents.some(isGlobalAgent));
  const delays = applying.flatMap((group) => group.crawlDelays);
  return new CompiledPolicy(
    origin,
    'ok',
    applying.flatMap((group) => group.rules),
    delays.length > 0 ? Math.max(...delays) : undefined,
    [...sitemaps],
  );
}

/** The status a response without a readable robots.txt maps to (RFC 9309 §2.3.1). */
function statusFor(status: number): RobotsStatus {
  if (status === 429) return 'unreachable';
  if (status >= 300 && status < 500) return 'unavailable';
  return 'unreachable';
}

/**
 * The policy for what fetching robots.txt came to (RFC 9309 §2.3.1): 2xx is parsed; 3xx (redirects not followed to
 * the end) and 4xx (401, 403 and 404 included) mean "unavailable", so everything is allowed; 5xx, 429 (as Google
 * treats it: a server asking for less traffic) and network errors mean "unreachable", so everything is disallowed
 * and robots.txt should be fetched again later.
 *
 * @param robotsUrl the robots.txt URL requested (before redirects)
 * @param userAgent the crawler's User-Agent header or product token
 */
export function robotsPolicyFor(result: RobotsFetchResult, robotsUrl: string, userAgent: string): RobotsPolicy {
  if (result.kind !== 'unreachable' && result.status >= 200 && result.status < 300) {
    return parseRobots(robotsUrl, result.kind === 'ok' ? result.body : '', userAgent);
  }
  userAgentToken(userAgent);
  const status = result.kind === 'unreachable' ? 'unreachable' : statusFor(result.status);
  return new CompiledPolicy(originOf(robotsUrl), status, [], undefined, []);
}

/** Version 1 of the serialised form: the applying rules only, already canonical. */
interface SerialisedPolicy {
  readonly v: 1;
  readonly origin: string;
  readonly status: RobotsStatus;
  /** `+pattern` allows, `-pattern` disallows. */
  readonly rules: readonly string[];
  readonly crawlDelayMs?: number;
  readonly sitemaps: readonly string[];
}

/**
 * A compact JSON string of a policy, for a per-host cache in the state store: only the rules that apply to the crawler
 * (so it is never longer than the robots.txt it came from, plus a little). Cache it under the host and the product
 * token; RFC 9309 §2.4 says not to use it for more than 24 hours, and an `unreachable` policy only until the retry.
 */
export function serialiseRobots(policy: RobotsPolicy): string {
  const rules =
    policy instanceof CompiledPolicy ? policy.rules.map((rule) => `${rule.allow ? '+' : '-'}${rule.pattern}`) : undefined;
  if (rules === undefined) throw new TypeError('serialiseRobots takes a policy made by parseRobots or robotsPolicyFor');
  const serialised: SerialisedPolicy = {
    v: 1,
    origin: policy.origin,
    status: policy.status,
    rules,
    ...(policy.crawlDelayMs === undefined ? {} : { crawlDelayMs: policy.crawlDelayMs }),
    sitemaps: policy.sitemaps,
  };
  return JSON.stringify(serialised);
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

/**
 * The policy {@link serialiseRobots} wrote.
 * @throws InvalidInputError when `text` is not such a string.
 */
export function deserialiseRobots(text: string): RobotsPolicy {
  let value: Partial<Record<keyof SerialisedPolicy, unknown>>;
  try {
    value = JSON.parse(text) as typeof value;
  } catch (error) {
    throw new InvalidInputError('serialised robots policy is not JSON', error);
  }
  const problems: string[] = [];
  if (value?.v !== 1) problems.push(`v must be 1, got ${JSON.stringify(value?.v)}`);
  if (typeof value?.origin !== 'string') problems.push('origin must be a string');
  if (value?.status !== 'ok' && value?.status !== 'unavailable' && value?.status !== 'unreachable') {
    problems.push(`status must be ok, unavailable or unreachable, got ${JSON.stringify(value?.status)}`);
  }
  if (!isStringArray(value?.rules) || !value.rules.every((rule) => /^[+-]./.test(rule))) {
    problems.push('rules must be strings starting with + or -');
  }
  if (value?.crawlDelayMs !== undefined && (typeof value.crawlDelayMs !== 'number' || !(value.crawlDelayMs >= 0))) {
    problems.push('crawlDelayMs must be a non-negative number');
  }
  if (!isStringArray(value?.sitemaps)) problems.push('sitemaps must be strings');
  if (problems.length > 0) throw new InvalidInputError(`serialised robots policy is invalid: ${problems.join('; ')}`);
  const valid = value as SerialisedPolicy;
  return new CompiledPolicy(
    valid.origin,
    valid.status,
    valid.rules.map((rule) => compileRule(rule.startsWith('+'), rule.slice(1))),
    valid.crawlDelayMs,
    valid.sitemaps,
  );
}
