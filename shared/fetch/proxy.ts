import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { type Dispatcher, Pool, ProxyAgent } from 'undici';
import { ScrapelineError } from '../errors.js';
import { createGuardedConnector, type GuardedDispatcherOptions, SsrfGuard, type SsrfPolicy } from './ssrf.js';

/**
 * Page requests through HTTP(S) forward proxies (undici's `ProxyAgent`, tunnelling with `CONNECT`): one agent per
 * proxy, the SSRF guard on both the proxy connection and the target asked for, and failures told apart: a proxy
 * that is down or refuses the tunnel is left for the next one; what the target answers through the tunnel is the
 * target's.
 */

/** A proxy URL as it may be shown: scheme, host and port, never its credentials. */
export function proxyLabel(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'an invalid proxy URL';
  }
}

/** Why a proxy failed a request. */
export type ProxyFailure = 'down' | 'auth' | 'tunnel';

/** Every proxy of a request failed it before reaching the target. */
export class ProxyError extends ScrapelineError {
  override readonly name = 'ProxyError';
  constructor(message: string, reason: 'proxy-down' | 'proxy-auth' | 'proxy-tunnel', retryable: boolean) {
    super(message, { reason, retryable });
  }
}

const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
]);

/**
 * How a request sent through `proxy` failed, if the proxy failed it: the proxy cannot be reached (`down`), it wants
 * other credentials (`auth`: 407 to `CONNECT`), or it answered `CONNECT` with another status (`tunnel`: it could not
 * reach the target, or will not); `undefined` for a failure of the target or of the request itself.
 */
export function proxyFailureOf(error: unknown, proxy: string): { kind: ProxyFailure; detail: string } | undefined {
  const { hostname, port, protocol } = new URL(proxy);
  const proxyPort = Number(port || (protocol === 'https:' ? 443 : 80));
  let current: unknown = error;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth++) {
    const inner = current as { message?: unknown; code?: unknown; address?: unknown; port?: unknown; hostname?: unknown };
    const status = typeof inner.message === 'string' ? /^Proxy response \((\d{3})\)/.exec(inner.message)?.[1] : undefined;
    if (status === '407') return { kind: 'auth', detail: '407' };
    if (status !== undefined) return { kind: 'tunnel', detail: status };
    if (typeof inner.code === 'string' && CONNECT_CODES.has(inner.code)) {
      const atProxy =
        inner.port === proxyPort ||
        inner.hostname === hostname ||
        (inner.address === undefined && inner.port === undefined && inner.code === 'UND_ERR_CONNECT_TIMEOUT');
      if (atProxy) return { kind: 'down', detail: inner.code };
    }
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The error to give when every proxy failed: the worst news decides (a tunnel refused says the proxies work). */
export function allProxiesFailed(
  url: string,
  failures: readonly { proxy: string; kind: ProxyFailure; detail: string }[],
): ProxyError {
  const list = failures.map((failure) => `${proxyLabel(failure.proxy)} ${failure.kind} (${failure.detail})`).join(', ');
  const host = URL.canParse(url) ? new URL(url).host : url;
  if (failures.some((failure) => failure.kind === 'tunnel')) {
    return new ProxyError(`no proxy could open a tunnel to ${host} (the target may be down): ${list}`, 'proxy-tunnel', true);
  }
  if (failures.every((failure) => failure.kind === 'auth')) {
    return new ProxyError(`every proxy refused the credentials for ${host}: ${list}`, 'proxy-auth', false);
  }
  return new ProxyError(`every proxy is down for ${host}: ${list}`, 'proxy-down', true);
}

/** One `ProxyAgent` per proxy URL, each connecting to its proxy through the SSRF guard. */
export class ProxyAgents {
  readonly #agents = new Map<string, ProxyAgent>();
  readonly #policy: SsrfPolicy;
  readonly #options: GuardedDispatcherOptions;
  readonly #guard: SsrfGuard;
  readonly #lookup: (host: string) => Promise<readonly { address: string }[]>;

  constructor(policy: SsrfPolicy, options: GuardedDispatcherOptions = {}) {
    this.#policy = policy;
    this.#options = options;
    this.#guard = new SsrfGuard(policy);
    this.#lookup = (host) => dnsLookup(host, { all: true });
  }

  /** The agent of a proxy (created on first use). */
  agent(proxy: string): Dispatcher {
    let agent = this.#agents.get(proxy);
    if (!agent) {
      const connect = createGuardedConnector(this.#policy, this.#options);
      agent = new ProxyAgent({
        uri: proxy,
        connections: this.#options.connections ?? 16,
        clientFactory: (origin, options) => new Pool(origin, { ...options, connect }),
      });
      this.#agents.set(proxy, agent);
    }
    return agent;
  }

  /**
   * Refuses a target the SSRF guard would refuse to connect to directly: the proxy makes the connection, so the
   * guard judges the addresses the name resolves to here (a proxy resolving it otherwise is not seen).
   * @throws {import('./ssrf.js').BlockedAddressError}
   */
  async checkTarget(url: string): Promise<void> {
    if (this.#guard.disabled) return;
    const host = new URL(url).hostname;
    const literal = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
    if (isIP(literal) !== 0) {
      const blocked = this.#guard.check(host, literal, 'literal');
      if (blocked) throw blocked;
      return;
    }
    const addresses = await this.#lookup(literal);
    for (const { address } of addresses) {
      const blocked = this.#guard.check(host, address, 'dns');
      if (blocked) throw blocked;
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.#agents.values()].map((agent) => agent.close()));
    this.#agents.clear();
  }
}
