import type { LookupAddress } from 'node:dns';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, isIP, type LookupFunction } from 'node:net';
import { type Dispatcher, fetch, request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../shared/errors.js';
import { UndiciHttpClient } from '../../shared/fetch/http.js';
import {
  BlockedAddressError,
  classifyAddress,
  createGuardedDispatcher,
  findBlockedAddressError,
  SSRF_BLOCKED_CODE,
  SsrfGuard,
  type SsrfPolicy,
} from '../../shared/fetch/ssrf.js';

/** Safety net: a guard that let a non-loopback address through would give up on it this fast. */
const CONNECT_TIMEOUT_MS = 200;

interface TestServer {
  readonly port: number;
  /** Local address each request arrived on (127.0.0.1 or 127.0.0.2). */
  readonly hits: string[];
  close(): Promise<void>;
}

async function startServer(
  host: string,
  handler: (request: IncomingMessage, response: ServerResponse) => void = (_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html' });
    response.end('<p>ok</p>');
  },
): Promise<TestServer> {
  const hits: string[] = [];
  const server: Server = createServer((request, response) => {
    hits.push(request.socket.localAddress ?? '');
    handler(request, response);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function canBind(host: string): Promise<boolean> {
  try {
    await (await startServer(host)).close();
    return true;
  } catch {
    return false;
  }
}

/** Linux routes all of 127/8 to loopback; elsewhere the tests that need a second loopback address are skipped. */
const SECOND_LOOPBACK = await canBind('127.0.0.2');

/** A resolver over a fixed table (answers may change per call), recording each name asked; loopback-safe by design. */
function fakeLookup(table: Record<string, readonly string[] | ((call: number) => readonly string[])>): {
  lookup: LookupFunction;
  calls: string[];
} {
  const calls: string[] = [];
  const lookup: LookupFunction = (hostname, options, callback) => {
    calls.push(hostname);
    const entry = table[hostname];
    const answer = typeof entry === 'function' ? entry(calls.filter((name) => name === hostname).length) : entry;
    const addresses: LookupAddress[] = (answer ?? []).map((address) => ({ address, family: isIP(address) }));
    const first = addresses[0];
    setImmediate(() => {
      if (first === undefined) {
        callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), '', 0);
      } else if (options.all) {
        callback(null, addresses);
      } else {
        callback(null, first.address, first.family);
      }
    });
  };
  return { lookup, calls };
}

const dispatchers: Dispatcher[] = [];
const servers: TestServer[] = [];

function guarded(policy: SsrfPolicy = {}, lookup?: LookupFunction): Dispatcher {
  const dispatcher = createGuardedDispatcher(policy, {
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
    ...(lookup ? { lookup } : {}),
  });
  dispatchers.push(dispatcher);
  return dispatcher;
}

async function serve(host: string, handler?: Parameters<typeof startServer>[1]): Promise<TestServer> {
  const server = await startServer(host, handler);
  servers.push(server);
  return server;
}

async function get(url: string, dispatcher: Dispatcher): Promise<number> {
  const response = await request(url, { dispatcher, headersTimeout: 2000, bodyTimeout: 2000 });
  await response.body.dump();
  return response.statusCode;
}

/** The rejection of `promise`, which must reject. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

afterEach(async () => {
  await Promise.all(dispatchers.splice(0).map((dispatcher) => dispatcher.close()));
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

describe('Function: classifyAddress', () => {
  it.each([
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.0.0.1', 'private'],
    ['10.255.255.255', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'link-local'],
    ['169.254.0.1', 'link-local'],
    ['100.64.0.1', 'cgnat'],
    ['100.127.255.254', 'cgnat'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.254', 'reserved'],
    ['255.255.255.255', 'broadcast'],
    ['198.18.0.1', 'benchmarking'],
    ['198.19.255.255', 'benchmarking'],
    ['192.0.2.1', 'documentation'],
    ['198.51.100.7', 'documentation'],
    ['203.0.113.9', 'documentation'],
    ['192.0.0.8', 'ietf-protocol'],
    ['192.88.99.1', '6to4-relay'],
  ])('blocks IPv4 %s as %s', (address, range) => {
    // Act & Assess
    expect(classifyAddress(address)).toEqual({ blocked: true, range });
  });

  it.each([
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['[::1]', 'loopback'],
    ['0:0:0:0:0:0:0:1', 'loopback'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['febf:ffff::1', 'link-local'],
    ['fd00:ec2::254', 'unique-local'],
    ['fc00::1', 'unique-local'],
    ['fdff:ffff::1', 'unique-local'],
    ['fec0::1', 'site-local'],
    ['ff02::1', 'multicast'],
    ['ff05::1:3', 'multicast'],
    ['2001:db8::1', 'documentation'],
    ['3fff::1', 'documentation'],
    ['2001:2::1', 'benchmarking'],
    ['100::1', 'discard'],
    ['64:ff9b:1::a00:1', 'nat64-local'],
    ['2001:10::1', 'orchid'],
    ['4000::1', 'reserved'],
    ['0:0:0:1::', 'reserved'],
    ['5f00::1', 'reserved'],
  ])('blocks IPv6 %s as %s', (address, range) => {
    // Act & Assess
    expect(classifyAddress(address)).toEqual({ blocked: true, range });
  });

  it.each([
    ['::ffff:127.0.0.1', 'loopback', 'ipv4-mapped', '127.0.0.1'],
    ['::ffff:7f00:1', 'loopback', 'ipv4-mapped', '127.0.0.1'],
    ['0:0:0:0:0:ffff:7f00:1', 'loopback', 'ipv4-mapped', '127.0.0.1'],
    ['::ffff:10.0.0.1', 'private', 'ipv4-mapped', '10.0.0.1'],
    ['::ffff:a9fe:a9fe', 'link-local', 'ipv4-mapped', '169.254.169.254'],
    ['::ffff:0.0.0.0', 'unspecified', 'ipv4-mapped', '0.0.0.0'],
    ['::ffff:0:7f00:1', 'loopback', 'ipv4-translated', '127.0.0.1'],
    ['::7f00:1', 'loopback', 'ipv4-compatible', '127.0.0.1'],
    ['::127.0.0.1', 'loopback', 'ipv4-compatible', '127.0.0.1'],
    ['::c0a8:101', 'private', 'ipv4-compatible', '192.168.1.1'],
    ['64:ff9b::7f00:1', 'loopback', 'nat64', '127.0.0.1'],
    ['64:ff9b::10.0.0.1', 'private', 'nat64', '10.0.0.1'],
    ['64:ff9b::a9fe:a9fe', 'link-local', 'nat64', '169.254.169.254'],
    ['2002:7f00:1::1', 'loopback', '6to4', '127.0.0.1'],
    ['2002:c0a8:101::1', 'private', '6to4', '192.168.1.1'],
    ['2002:a9fe:a9fe::', 'link-local', '6to4', '169.254.169.254'],
    ['2001:0:5db8:d822::80ff:fffe', 'loopback', 'teredo', '127.0.0.1'],
    ['2001:0:a00:1::f7f7:f7f7', 'private', 'teredo', '10.0.0.1'],
  ])('blocks %s: %s IPv4 embedded %s', (address, range, via, embedded) => {
    // Act & Assess
    expect(classifyAddress(address)).toEqual({ blocked: true, range, via, embedded });
  });

  it('blocks a deprecated IPv4-compatible address even when the IPv4 address is public', () => {
    // Act & Assess
    expect(classifyAddress('::8.8.8.8')).toEqual({ blocked: true, range: 'reserved', via: 'ipv4-compatible' });
  });

  it.each([
    '93.184.216.34',
    '8.8.8.8',
    '1.1.1.1',
    '9.255.255.255',
    '11.0.0.1',
    '100.63.255.255',
    '100.128.0.0',
    '169.253.255.255',
    '172.15.255.255',
    '172.32.0.0',
    '192.167.255.255',
    '198.17.255.255',
    '198.20.0.0',
    '223.255.255.255',
    '2606:4700::1111',
    '2001:4860:4860::8888',
    '2a00:1450:4001:80b::200e',
    '::ffff:93.184.216.34',
    '::ffff:5db8:d822',
    '64:ff9b::5db8:d822',
    '2002:5db8:d822::1',
    '2001:0:5db8:d822::f7f7:f7f7',
  ])('allows the public address %s', (address) => {
    // Act & Assess
    expect(classifyAddress(address)).toEqual({ blocked: false });
  });

  it.each(['example.com', '2130706433', '0177.0.0.1', '0x7f.1', '127.1', '127.0.0.1%eth0', '10.0.0.0/8', ''])(
    'blocks "%s" as invalid: only canonical IP text is read',
    (address) => {
      // Act & Assess
      expect(classifyAddress(address)).toEqual({ blocked: true, range: 'invalid' });
    },
  );
});

describe('Class: SsrfGuard', () => {
  it('refuses with an error naming host, address and range', () => {
    // Prepare
    const guard = new SsrfGuard();

    // Act
    const error = guard.check('evil.test', '::ffff:7f00:1', 'dns');

    // Assess
    expect(error).toBeInstanceOf(BlockedAddressError);
    expect(error).toMatchObject({
      name: 'BlockedAddressError',
      code: SSRF_BLOCKED_CODE,
      reason: 'ssrf-blocked',
      retryable: false,
      host: 'evil.test',
      address: '::ffff:7f00:1',
      stage: 'dns',
      classification: { blocked: true, range: 'loopback', via: 'ipv4-mapped', embedded: '127.0.0.1' },
    });
    expect(error?.message).toBe(
      'refused to connect to evil.test at ::ffff:7f00:1: loopback address (ipv4-mapped 127.0.0.1) (SSRF guard)',
    );
  });

  it('lets public addresses through', () => {
    // Act & Assess
    expect(new SsrfGuard().check('example.com', '93.184.216.34', 'dns')).toBeUndefined();
  });

  it('allows an exact address, and its IPv4-mapped form, but not its neighbours', () => {
    // Prepare
    const guard = new SsrfGuard({ allow: ['127.0.0.1'] });

    // Act & Assess
    expect(guard.check('h', '127.0.0.1', 'literal')).toBeUndefined();
    expect(guard.check('h', '::ffff:127.0.0.1', 'literal')).toBeUndefined();
    expect(guard.check('h', '127.0.0.2', 'literal')).toBeInstanceOf(BlockedAddressError);
    expect(guard.check('h', '::1', 'literal')).toBeInstanceOf(BlockedAddressError);
  });

  it('allows CIDRs of either family', () => {
    // Prepare
    const guard = new SsrfGuard({ allow: ['127.0.0.0/8', 'fd00::/8'] });

    // Act & Assess
    expect(guard.check('h', '127.9.9.9', 'dns')).toBeUndefined();
    expect(guard.check('h', 'fd00:ec2::254', 'dns')).toBeUndefined();
    expect(guard.check('h', '10.0.0.1', 'dns')).toBeInstanceOf(BlockedAddressError);
    expect(guard.check('h', 'fc00::1', 'dns')).toBeInstanceOf(BlockedAddressError);
  });

  it('allows everything when disabled', () => {
    // Act & Assess
    expect(new SsrfGuard({ disabled: true }).check('h', '169.254.169.254', 'dns')).toBeUndefined();
  });

  it('rejects a bad policy with one message listing every problem', () => {
    // Prepare
    const policy = {
      allow: ['localhost', '10.0.0.1/8', '10.0.0.0/33', '::1/129', 'fe80::1%eth0', 5],
      disabled: 'no',
      allowed: [],
    } as unknown as SsrfPolicy;

    // Act & Assess
    expect(() => new SsrfGuard(policy)).toThrow(InvalidInputError);
    expect(() => new SsrfGuard(policy)).toThrow(
      'invalid SSRF policy: unknown option "allowed" (known: allow, disabled); disabled must be a boolean, got string; ' +
        'allow[0] must be an IP address or CIDR (e.g. 127.0.0.1, 10.0.0.0/8, fd00::/8), got "localhost"; ' +
        'allow[1] has bits set past its /8 prefix (use 10.0.0.0/8), got "10.0.0.1/8"; ' +
        'allow[2] prefix must be an integer from 0 to 32, got "10.0.0.0/33"; ' +
        'allow[3] prefix must be an integer from 0 to 128, got "::1/129"; ' +
        'allow[4] must be an IP address or CIDR (e.g. 127.0.0.1, 10.0.0.0/8, fd00::/8), got "fe80::1%eth0"; ' +
        'allow[5] must be a string, got number',
    );
  });
});

describe('Function: createGuardedDispatcher', () => {
  it('rejects bad options with one message listing every problem', () => {
    // Act & Assess
    expect(() => createGuardedDispatcher({}, { connections: 0, connectTimeoutMs: -1, keepAliveTimeoutMs: 1.5 })).toThrow(
      'invalid guarded dispatcher options: connections must be a positive integer, got 0; ' +
        'connectTimeoutMs must be a positive integer, got -1; keepAliveTimeoutMs must be a positive integer, got 1.5',
    );
  });

  it('refuses a direct request to 127.0.0.1 by default, before connecting', async () => {
    // Prepare
    const server = await serve('127.0.0.1');

    // Act
    const error = await rejection(get(`http://127.0.0.1:${server.port}/`, guarded()));

    // Assess
    expect(error).toBeInstanceOf(BlockedAddressError);
    expect(error).toMatchObject({ address: '127.0.0.1', stage: 'literal', classification: { range: 'loopback' } });
    expect(server.hits).toEqual([]);
  });

  it.each([['127.0.0.1'], ['127.0.0.0/8'], ['::ffff:127.0.0.0/104']])('connects when allowed by "%s"', async (entry) => {
    // Prepare
    const server = await serve('127.0.0.1');

    // Act
    const status = await get(`http://127.0.0.1:${server.port}/`, guarded({ allow: [entry] }));

    // Assess
    expect(status).toBe(200);
    expect(server.hits).toEqual(['127.0.0.1']);
  });

  it('connects anywhere when disabled', async () => {
    // Prepare
    const server = await serve('127.0.0.1');

    // Act & Assess
    await expect(get(`http://127.0.0.1:${server.port}/`, guarded({ disabled: true }))).resolves.toBe(200);
  });

  it.each([
    ['[::1]', '::1', 'loopback'],
    ['[::ffff:127.0.0.1]', '::ffff:7f00:1', 'loopback'],
    ['[::ffff:a9fe:a9fe]', '::ffff:a9fe:a9fe', 'link-local'],
    ['[64:ff9b::7f00:1]', '64:ff9b::7f00:1', 'loopback'],
    ['[fd00:ec2::254]', 'fd00:ec2::254', 'unique-local'],
    ['2130706433', '127.0.0.1', 'loopback'],
    ['0177.0.0.1', '127.0.0.1', 'loopback'],
    ['0x7f.1', '127.0.0.1', 'loopback'],
    ['127.1', '127.0.0.1', 'loopback'],
    ['0', '0.0.0.0', 'unspecified'],
    ['169.254.169.254', '169.254.169.254', 'link-local'],
  ])('refuses the IP-literal host %s (normalised to %s) without resolving it', async (host, address, range) => {
    // Prepare
    const server = await serve('127.0.0.1');
    const { lookup, calls } = fakeLookup({});

    // Act
    const error = await rejection(get(`http://${host}:${server.port}/`, guarded({}, lookup)));

    // Assess
    expect(error).toMatchObject({ name: 'BlockedAddressError', address, stage: 'literal', classification: { range } });
    expect(calls).toEqual([]);
    expect(server.hits).toEqual([]);
  });

  it.each([
    ['127.0.0.1', 'loopback'],
    ['10.0.0.1', 'private'],
    ['169.254.169.254', 'link-local'],
    ['fd00:ec2::254', 'unique-local'],
    ['::ffff:7f00:1', 'loopback'],
  ])('refuses a name resolving to %s at the lookup, before dialling', async (address, range) => {
    // Prepare
    const server = await serve('127.0.0.1');
    const { lookup, calls } = fakeLookup({ 'evil.test': [address] });

    // Act
    const error = await rejection(get(`http://evil.test:${server.port}/`, guarded({}, lookup)));

    // Assess
    expect(error).toBeInstanceOf(BlockedAddressError);
    expect(error).toMatchObject({ host: 'evil.test', address, stage: 'dns', classification: { range } });
    expect((error as Error).message).toContain(`evil.test at ${address}: ${range} address`);
    expect(calls).toEqual(['evil.test']);
    expect(server.hits).toEqual([]);
  });

  it.each([[['127.0.0.1', '10.0.0.1']], [['10.0.0.1', '127.0.0.1']], [['127.0.0.1', 'fe80::1']]])(
    'refuses a name whose addresses %j include a blocked one, even if another is allowed',
    async (addresses) => {
      // Prepare
      const server = await serve('127.0.0.1');
      const { lookup } = fakeLookup({ 'mixed.test': addresses });

      // Act
      const error = await rejection(get(`http://mixed.test:${server.port}/`, guarded({ allow: ['127.0.0.1'] }, lookup)));

      // Assess
      expect(error).toMatchObject({
        name: 'BlockedAddressError',
        stage: 'dns',
        address: addresses.find((a) => a !== '127.0.0.1'),
      });
      expect(server.hits).toEqual([]);
    },
  );

  it('connects to a name whose addresses are all allowed', async () => {
    // Prepare
    const server = await serve('127.0.0.1');
    const { lookup, calls } = fakeLookup({ 'good.test': ['127.0.0.1'] });

    // Act
    const status = await get(`http://good.test:${server.port}/`, guarded({ allow: ['127.0.0.1'] }, lookup));

    // Assess
    expect(status).toBe(200);
    expect(calls).toEqual(['good.test']);
    expect(server.hits).toEqual(['127.0.0.1']);
  });

  it('refuses localhost through the system resolver', async () => {
    // Prepare
    const server = await serve('127.0.0.1');

    // Act
    const error = await rejection(get(`http://localhost:${server.port}/`, guarded()));

    // Assess
    expect(error).toMatchObject({
      name: 'BlockedAddressError',
      host: 'localhost',
      stage: 'dns',
      classification: { range: 'loopback' },
    });
    expect(server.hits).toEqual([]);
  });

  it('passes resolver failures through unchanged', async () => {
    // Prepare
    const { lookup } = fakeLookup({});

    // Act
    const error = await rejection(get('http://nowhere.test/', guarded({}, lookup)));

    // Assess
    expect(error).not.toBeInstanceOf(BlockedAddressError);
    expect(error).toMatchObject({ code: 'ENOTFOUND' });
  });

  it.skipIf(!SECOND_LOOPBACK)('connects to the address it checked: a rebinding name cannot swap it', async () => {
    // Prepare: the name answers an allowed address once, then a blocked one
    const server = await serve('127.0.0.2');
    const { lookup, calls } = fakeLookup({ 'rebind.test': (call) => (call === 1 ? ['127.0.0.2'] : ['127.0.0.1']) });
    const url = `http://rebind.test:${server.port}/`;

    // Act
    const first = await get(url, guarded({ allow: ['127.0.0.2'] }, lookup));
    const second = await rejection(get(url, guarded({ allow: ['127.0.0.2'] }, lookup)));

    // Assess
    expect(first).toBe(200);
    expect(server.hits).toEqual(['127.0.0.2']);
    expect(second).toMatchObject({ name: 'BlockedAddressError', address: '127.0.0.1', stage: 'dns' });
    expect(calls).toEqual(['rebind.test', 'rebind.test']);
  });

  it.skipIf(!SECOND_LOOPBACK)('refuses a redirect from an allowed host to a blocked address', async () => {
    // Prepare
    const target = await serve('127.0.0.1');
    const origin = await serve('127.0.0.2', (_request, response) => {
      response.writeHead(302, { location: `http://127.0.0.1:${target.port}/secret` });
      response.end();
    });
    const dispatcher = guarded({ allow: ['127.0.0.2'] });

    // Act
    const first = await request(`http://127.0.0.2:${origin.port}/`, { dispatcher });
    await first.body.dump();
    const location = String(first.headers.location);
    const error = await rejection(get(location, dispatcher));

    // Assess
    expect(first.statusCode).toBe(302);
    expect(error).toMatchObject({ name: 'BlockedAddressError', address: '127.0.0.1', stage: 'literal' });
    expect(origin.hits).toEqual(['127.0.0.2']);
    expect(target.hits).toEqual([]);
  });

  it('refuses a redirect to a name resolving to a private address', async () => {
    // Prepare
    const origin = await serve('127.0.0.1', (_request, response) => {
      response.writeHead(301, { location: 'http://evil.test/latest/meta-data/' });
      response.end();
    });
    const { lookup, calls } = fakeLookup({ 'good.test': ['127.0.0.1'], 'evil.test': ['10.0.0.1'] });
    const http = new UndiciHttpClient({ dispatcher: guarded({ allow: ['127.0.0.1'] }, lookup) });

    // Act
    const error = await rejection(
      http.fetchPage(`http://good.test:${origin.port}/`, { timeoutMs: 2000, maxBytes: 1024, maxRedirects: 3, userAgent: 't' }),
    );

    // Assess
    expect(error).toBeInstanceOf(BlockedAddressError);
    expect(error).toMatchObject({ reason: 'ssrf-blocked', retryable: false, host: 'evil.test', address: '10.0.0.1' });
    expect(calls).toEqual(['good.test', 'evil.test']);
    expect(origin.hits).toEqual(['127.0.0.1']);
  });

  it.skipIf(!SECOND_LOOPBACK)('makes UndiciHttpClient fail a redirect hop to a blocked address as non-retryable', async () => {
    // Prepare
    const target = await serve('127.0.0.1');
    const origin = await serve('127.0.0.2', (_request, response) => {
      response.writeHead(307, { location: `http://127.0.0.1:${target.port}/` });
      response.end();
    });
    const http = new UndiciHttpClient({ dispatcher: guarded({ allow: ['127.0.0.2'] }) });

    // Act
    const error = await rejection(
      http.fetchPage(`http://127.0.0.2:${origin.port}/`, { timeoutMs: 2000, maxBytes: 1024, maxRedirects: 3, userAgent: 't' }),
    );

    // Assess
    expect(error).toMatchObject({ name: 'BlockedAddressError', reason: 'ssrf-blocked', retryable: false });
    expect(target.hits).toEqual([]);
  });
});

describe('Function: findBlockedAddressError', () => {
  it('finds the block behind fetch’s "fetch failed" TypeError', async () => {
    // Prepare
    const server = await serve('127.0.0.1');

    // Act
    const error = await rejection(fetch(`http://127.0.0.1:${server.port}/`, { dispatcher: guarded() }));

    // Assess
    expect(error).toBeInstanceOf(TypeError);
    expect(findBlockedAddressError(error)).toMatchObject({ address: '127.0.0.1', code: SSRF_BLOCKED_CODE });
    expect(server.hits).toEqual([]);
  });

  it('looks through cause chains and aggregate errors', () => {
    // Prepare
    const blocked = new SsrfGuard().check('h', '10.0.0.1', 'dns');
    const wrapped = new Error('outer', { cause: new AggregateError([new Error('other'), blocked]) });

    // Act & Assess
    expect(findBlockedAddressError(wrapped)).toBe(blocked);
    expect(findBlockedAddressError(new Error('plain', { cause: new Error('inner') }))).toBeUndefined();
    expect(findBlockedAddressError('not an error')).toBeUndefined();
  });
});
