import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, isIPv4, isIPv6, type LookupFunction, type Socket } from 'node:net';
import { Agent, buildConnector, type Dispatcher } from 'undici';
import { InvalidInputError, NonRetryableError } from '../errors.js';

/**
 * Which addresses the fetcher may connect to. The guard is on unless `disabled` is set: every address outside the
 * public unicast space (loopback, private, link-local, CGNAT, multicast, reserved, documentation, ...) is refused.
 */
export interface SsrfPolicy {
  /**
   * Addresses and CIDRs connected to despite the guard, e.g. `127.0.0.1` for the demo site or `10.1.0.0/16`.
   * An IPv4 entry also covers the IPv4-mapped IPv6 form of its addresses (`::ffff:127.0.0.1`). Host names are not
   * accepted: the guard judges the address actually connected to.
   * @default []
   */
  readonly allow?: readonly string[];
  /** Turn the guard off entirely (never in production). @default false */
  readonly disabled?: boolean;
}

/** Options of {@link createGuardedDispatcher} and {@link createGuardedConnector}. */
export interface GuardedDispatcherOptions {
  /** Resolver behind the guard (tests map names to addresses with it). @default dns.lookup */
  readonly lookup?: LookupFunction;
  /** Connections kept per origin. @default 16 */
  readonly connections?: number;
  /** Connect timeout (DNS lookup, TCP and TLS handshakes). @default 10000 */
  readonly connectTimeoutMs?: number;
  /** How long an idle keep-alive connection is kept. @default 10000 */
  readonly keepAliveTimeoutMs?: number;
}

/** Special-purpose ranges the guard refuses (`invalid`: not an IP address at all). */
export type SpecialRange =
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'cgnat'
  | 'multicast'
  | 'broadcast'
  | 'reserved'
  | 'unique-local'
  | 'site-local'
  | 'benchmarking'
  | 'documentation'
  | 'ietf-protocol'
  | '6to4-relay'
  | 'nat64-local'
  | 'discard'
  | 'orchid'
  | 'invalid';

/** IPv6 forms that carry an IPv4 address. */
export type EmbeddingForm = 'ipv4-mapped' | 'ipv4-translated' | 'ipv4-compatible' | 'nat64' | '6to4' | 'teredo';

/** What {@link classifyAddress} says of an address. */
export interface AddressClassification {
  readonly blocked: boolean;
  /** The special-purpose range that blocks it; absent for public addresses. */
  readonly range?: SpecialRange;
  /** When the IPv4 address embedded in an IPv6 one decided: the form that embeds it. */
  readonly via?: EmbeddingForm;
  /** That embedded IPv4 address, dotted. */
  readonly embedded?: string;
}

/** Stable `code` of {@link BlockedAddressError}, for code that sees the error through other libraries' wrappers. */
export const SSRF_BLOCKED_CODE = 'ERR_SSRF_BLOCKED';

/** Where the guard refused: a resolved name, an IP-literal host, or the remote address of a connected socket. */
export type GuardStage = 'dns' | 'literal' | 'socket';

/** A connection refused by the SSRF guard: the same URL will be refused again, so it is never retried. */
export class BlockedAddressError extends NonRetryableError {
  override readonly name = 'BlockedAddressError';
  readonly code = SSRF_BLOCKED_CODE;

  constructor(
    readonly host: string,
    readonly address: string,
    readonly classification: AddressClassification,
    readonly stage: GuardStage,
  ) {
    super(`refused to connect to ${host} at ${address}: ${describeClassification(classification)} (SSRF guard)`, 'ssrf-blocked');
  }
}

/**
 * The {@link BlockedAddressError} in an error's `cause` chain (or an `AggregateError`'s `errors`), if any:
 * `undici.request` rejects with the error itself, `fetch` with a `TypeError` whose `cause` it is.
 */
export function findBlockedAddressError(error: unknown): BlockedAddressError | undefined {
  const seen = new Set<unknown>();
  const pending: unknown[] = [error];
  while (pending.length > 0 && seen.size < 32) {
    const current = pending.shift();
    if (current === null || typeof current !== 'object' || seen.has(current)) continue;
    seen.add(current);
    if (current instanceof BlockedAddressError) return current;
    pending.push((current as { cause?: unknown }).cause);
    if (current instanceof AggregateError) pending.push(...current.errors);
  }
  return undefined;
}

interface Ip {
  readonly version: 4 | 6;
  readonly value: bigint;
}

interface Cidr extends Ip {
  readonly prefix: number;
}

const BITS = { 4: 32, 6: 128 } as const;
const LOW_32 = 0xffff_ffffn;

function parseV4(text: string): bigint {
  return text.split('.').reduce((value, octet) => (value << 8n) | BigInt(Number(octet)), 0n);
}

function parseV6(text: string): bigint {
  let source = text;
  const lastColon = source.lastIndexOf(':');
  const tail = source.slice(lastColon + 1);
  if (tail.includes('.')) {
    const v4 = parseV4(tail);
    source = `${source.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const halves = source.split('::');
  const groupsOf = (part: string | undefined): string[] => (part ? part.split(':') : []);
  const head = groupsOf(halves[0]);
  const rest = groupsOf(halves[1]);
  const groups = halves.length === 2 ? [...head, ...Array<string>(8 - head.length - rest.length).fill('0'), ...rest] : head;
  return groups.reduce((value, group) => (value << 16n) | BigInt(Number.parseInt(group, 16)), 0n);
}

/** Parses a canonical IP address (dotted-decimal IPv4, IPv6 with optional brackets and zone); undefined otherwise. */
function parseIp(text: string): Ip | undefined {
  const unbracketed = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  if (isIPv4(unbracketed)) return { version: 4, value: parseV4(unbracketed) };
  const zone = unbracketed.indexOf('%');
  const bare = zone === -1 ? unbracketed : unbracketed.slice(0, zone);
  if (isIPv6(bare)) return { version: 6, value: parseV6(bare) };
  return undefined;
}

function cidr(text: string): Cidr {
  const [address = '', prefix = ''] = text.split('/');
  const ip = parseIp(address);
  if (ip === undefined) throw new Error(`bad built-in CIDR ${text}`);
  return { ...ip, prefix: Number(prefix) };
}

function contains(range: Cidr, ip: Ip): boolean {
  if (range.version !== ip.version) return false;
  const shift = BigInt(BITS[range.version] - range.prefix);
  return ip.value >> shift === range.value >> shift;
}

function formatV4(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join('.');
}

const V4_RANGES: readonly (readonly [Cidr, SpecialRange])[] = (
  [
    ['0.0.0.0/8', 'unspecified'],
    ['10.0.0.0/8', 'private'],
    ['100.64.0.0/10', 'cgnat'],
    ['127.0.0.0/8', 'loopback'],
    ['169.254.0.0/16', 'link-local'],
    ['172.16.0.0/12', 'private'],
    ['192.0.0.0/24', 'ietf-protocol'],
    ['192.0.2.0/24', 'documentation'],
    ['192.88.99.0/24', '6to4-relay'],
    ['192.168.0.0/16', 'private'],
    ['198.18.0.0/15', 'benchmarking'],
    ['198.51.100.0/24', 'documentation'],
    ['203.0.113.0/24', 'documentation'],
    ['224.0.0.0/4', 'multicast'],
    ['255.255.255.255/32', 'broadcast'],
    ['240.0.0.0/4', 'reserved'],
  ] as const
).map(([text, range]) => [cidr(text), range] as const);

interface V6Rule {
  readonly cidr: Cidr;
  /** Blocks the whole prefix (after any embedded address had its say). */
  readonly range?: SpecialRange;
  readonly via?: EmbeddingForm;
  /** IPv4 addresses embedded in an address of this prefix. */
  readonly embedded?: (value: bigint) => readonly bigint[];
}

const low32 = (value: bigint): readonly bigint[] => [value & LOW_32];

const V6_RULES: readonly V6Rule[] = [
  { cidr: cidr('::/128'), range: 'unspecified' },
  { cidr: cidr('::1/128'), range: 'loopback' },
  { cidr: cidr('::ffff:0:0/96'), via: 'ipv4-mapped', embedded: low32 },
  { cidr: cidr('::ffff:0:0:0/96'), via: 'ipv4-translated', embedded: low32, range: 'reserved' },
  { cidr: cidr('::/96'), via: 'ipv4-compatible', embedded: low32, range: 'reserved' },
  { cidr: cidr('64:ff9b::/96'), via: 'nat64', embedded: low32 },
  { cidr: cidr('64:ff9b:1::/48'), range: 'nat64-local' },
  { cidr: cidr('100::/64'), range: 'discard' },
  {
    cidr: cidr('2001::/32'),
    via: 'teredo',
    embedded: (value) => [(value >> 64n) & LOW_32, ~value & LOW_32],
  },
  { cidr: cidr('2001:2::/48'), range: 'benchmarking' },
  { cidr: cidr('2001:db8::/32'), range: 'documentation' },
  { cidr: cidr('2001:10::/28'), range: 'orchid' },
  { cidr: cidr('2001:20::/28'), range: 'orchid' },
  { cidr: cidr('2002::/16'), via: '6to4', embedded: (value) => [(value >> 80n) & LOW_32] },
  { cidr: cidr('3fff::/20'), range: 'documentation' },
  { cidr: cidr('fc00::/7'), range: 'unique-local' },
  { cidr: cidr('fe80::/10'), range: 'link-local' },
  { cidr: cidr('fec0::/10'), range: 'site-local' },
  { cidr: cidr('ff00::/8'), range: 'multicast' },
];

const GLOBAL_UNICAST_V6 = cidr('2000::/3');

function classifyIp(ip: Ip): AddressClassification {
  if (ip.version === 4) {
    const match = V4_RANGES.find(([range]) => contains(range, ip));
    return match ? { blocked: true, range: match[1] } : { blocked: false };
  }
  const rule = V6_RULES.find((candidate) => contains(candidate.cidr, ip));
  if (rule !== undefined) {
    for (const value of rule.embedded?.(ip.value) ?? []) {
      const inner = classifyIp({ version: 4, value });
      if (inner.blocked) return { blocked: true, range: inner.range, via: rule.via, embedded: formatV4(value) } as const;
    }
    if (rule.range !== undefined) return { blocked: true, range: rule.range, ...(rule.via ? { via: rule.via } : {}) };
    return { blocked: false };
  }
  return contains(GLOBAL_UNICAST_V6, ip) ? { blocked: false } : { blocked: true, range: 'reserved' };
}

/**
 * Says whether the guard refuses an address, and which special-purpose range it is in. Only canonical IP text is
 * read (dotted-decimal IPv4, IPv6 with optional brackets and zone): anything else is blocked as `invalid`.
 * @example classifyAddress('::ffff:7f00:1') // { blocked: true, range: 'loopback', via: 'ipv4-mapped', embedded: '127.0.0.1' }
 */
export function classifyAddress(address: string): AddressClassification {
  const ip = parseIp(address);
  return ip === undefined ? { blocked: true, range: 'invalid' } : classifyIp(ip);
}

function describeClassification(classification: AddressClassification): string {
  const range = `${classification.range ?? 'public'} address`;
  return classification.via === undefined
    ? range
    : `${range} (${classification.via}${classification.embedded ? ` ${classification.embedded}` : ''})`;
}

function parseAllowEntry(entry: unknown, index: number): Cidr | string {
  const label = `allow[${index}]`;
  if (typeof entry !== 'string') return `${label} must be a string, got ${typeof entry}`;
  const [address = '', prefixText, ...extra] = entry.trim().split('/');
  const ip = extra.length === 0 && !address.includes('%') ? parseIp(address) : undefined;
  if (ip === undefined) {
    return `${label} must be an IP address or CIDR (e.g. 127.0.0.1, 10.0.0.0/8, fd00::/8), got "${entry}"`;
  }
  const bits = BITS[ip.version];
  if (prefixText === undefined) return unmapCidr({ ...ip, prefix: bits });
  const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : Number.NaN;
  if (!(prefix >= 0 && prefix <= bits)) return `${label} prefix must be an integer from 0 to ${bits}, got "${entry}"`;
  const hostBits = (1n << BigInt(bits - prefix)) - 1n;
  if ((ip.value & hostBits) !== 0n) {
    const network = ip.value & ~hostBits;
    const suggestion = ip.version === 4 ? formatV4(network) : 'its network address';
    return `${label} has bits set past its /${prefix} prefix (use ${suggestion}/${prefix}), got "${entry}"`;
  }
  return unmapCidr({ ...ip, prefix });
}

/** An IPv4-mapped IPv6 range as the IPv4 range it maps, so that allow entries and addresses compare in one family. */
function unmapCidr(range: Cidr): Cidr {
  return range.version === 6 && range.prefix >= 96 && range.value >> 32n === 0xffffn
    ? { version: 4, value: range.value & LOW_32, prefix: range.prefix - 96 }
    : range;
}

const POLICY_KEYS = new Set(['allow', 'disabled']);

/** An {@link SsrfPolicy} checked once and ready to judge addresses. */
export class SsrfGuard {
  readonly disabled: boolean;
  readonly #allow: readonly Cidr[];

  /** @throws InvalidInputError listing every problem of the policy. */
  constructor(policy: SsrfPolicy = {}) {
    const problems: string[] = [];
    for (const key of Object.keys(policy)) {
      if (!POLICY_KEYS.has(key)) problems.push(`unknown option "${key}" (known: allow, disabled)`);
    }
    if (policy.disabled !== undefined && typeof policy.disabled !== 'boolean') {
      problems.push(`disabled must be a boolean, got ${typeof policy.disabled}`);
    }
    const allow: Cidr[] = [];
    if (policy.allow !== undefined && !Array.isArray(policy.allow)) {
      problems.push(`allow must be an array of IP addresses or CIDRs, got ${typeof policy.allow}`);
    } else {
      (policy.allow ?? []).forEach((entry, index) => {
        const parsed = parseAllowEntry(entry, index);
        if (typeof parsed === 'string') problems.push(parsed);
        else allow.push(parsed);
      });
    }
    if (problems.length > 0) throw new InvalidInputError(`invalid SSRF policy: ${problems.join('; ')}`);
    this.disabled = policy.disabled ?? false;
    this.#allow = allow;
  }

  /** The error to fail a connection to `address` (reached as `host`) with, or undefined when it may proceed. */
  check(host: string, address: string, stage: GuardStage): BlockedAddressError | undefined {
    if (this.disabled) return undefined;
    const ip = parseIp(address);
    if (ip === undefined) return new BlockedAddressError(host, address, { blocked: true, range: 'invalid' }, stage);
    const classification = classifyIp(ip);
    if (!classification.blocked || this.#allows(ip)) return undefined;
    return new BlockedAddressError(host, address, classification, stage);
  }

  #allows(ip: Ip): boolean {
    const address = unmapCidr({ ...ip, prefix: BITS[ip.version] });
    return this.#allow.some((range) => contains(range, address));
  }
}

type LookupCallback = Parameters<LookupFunction>[2];

/** A resolver that resolves every address of a name, refuses them all if one is blocked, and answers as asked. */
function guardedLookup(guard: SsrfGuard, resolve: LookupFunction): LookupFunction {
  return (hostname, options, callback: LookupCallback) => {
    resolve(hostname, { ...options, all: true }, (error, result, family) => {
      if (error) {
        callback(error, '', 0);
        return;
      }
      const addresses: LookupAddress[] = Array.isArray(result) ? result : [{ address: result, family: family ?? isIP(result) }];
      const first = addresses[0];
      if (first === undefined) {
        callback(Object.assign(new Error(`no addresses found for ${hostname}`), { code: 'ENOTFOUND', hostname }), '', 0);
        return;
      }
      for (const { address } of addresses) {
        const blocked = guard.check(hostname, address, 'dns');
        if (blocked) {
          callback(blocked, '', 0);
          return;
        }
      }
      if (options.all) callback(null, addresses);
      else callback(null, first.address, first.family);
    });
  };
}

function unbracket(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
}

/**
 * An undici connector that refuses blocked addresses before dialling: names are resolved by a guarded lookup that
 * hands the checked addresses straight to the socket (no second resolution), IP literals (which skip the lookup) are
 * checked up front, and the connected socket's remote address is checked again before it is used.
 */
export function createGuardedConnector(policy: SsrfPolicy, options: GuardedDispatcherOptions = {}): buildConnector.connector {
  const guard = new SsrfGuard(policy);
  const timeout = options.connectTimeoutMs ?? 10_000;
  if (guard.disabled) return buildConnector({ timeout, ...(options.lookup ? { lookup: options.lookup } : {}) });
  const connect = buildConnector({ timeout, lookup: guardedLookup(guard, options.lookup ?? dnsLookup) });
  return (connectOptions, callback) => {
    const host = connectOptions.hostname;
    const literal = unbracket(host);
    if (isIP(literal) !== 0) {
      const blocked = guard.check(host, literal, 'literal');
      if (blocked) {
        process.nextTick(callback, blocked, null);
        return;
      }
    }
    connect(connectOptions, (error, socket) => {
      if (error !== null) {
        callback(error, null);
        return;
      }
      const remote = (socket as Socket).remoteAddress;
      const blocked =
        remote === undefined
          ? Object.assign(new Error(`connection to ${host} closed before its address could be checked`), {
              code: 'ECONNRESET',
            })
          : guard.check(host, remote, 'socket');
      if (blocked) {
        socket.destroy();
        callback(blocked, null);
        return;
      }
      callback(null, socket);
    });
  };
}

const POSITIVE_OPTIONS = ['connections', 'connectTimeoutMs', 'keepAliveTimeoutMs'] as const;

/**
 * A keep-alive undici Agent whose every connection goes through the SSRF guard of `policy` (a plain Agent when the
 * policy is disabled). Redirects followed by the caller open new connections and are checked like the first URL.
 * A refused request rejects with a {@link BlockedAddressError} (`undici.request`) or an error whose `cause` is one
 * (`fetch`); see {@link findBlockedAddressError}.
 * @throws InvalidInputError when the policy or an option is invalid, listing every problem.
 * @example
 * const dispatcher = createGuardedDispatcher({ allow: ['127.0.0.1'] });
 * await request('http://127.0.0.1:8080/', { dispatcher });
 */
export function createGuardedDispatcher(policy: SsrfPolicy = {}, options: GuardedDispatcherOptions = {}): Dispatcher {
  const problems: string[] = [];
  for (const name of POSITIVE_OPTIONS) {
    const value = options[name];
    if (value !== undefined && !(Number.isInteger(value) && value > 0)) {
      problems.push(`${name} must be a positive integer, got ${String(value)}`);
    }
  }
  if (options.lookup !== undefined && typeof options.lookup !== 'function') {
    problems.push(`lookup must be a function, got ${typeof options.lookup}`);
  }
  if (problems.length > 0) throw new InvalidInputError(`invalid guarded dispatcher options: ${problems.join('; ')}`);
  return new Agent({
    connections: options.connections ?? 16,
    keepAliveTimeout: options.keepAliveTimeoutMs ?? 10_000,
    connect: createGuardedConnector(policy, options),
  });
}
