import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RequestOptions, UndiciHttpClient } from '../../../shared/fetch/http.js';
import { mergeRequestSpecs, PLAIN_GET, pageRequest, resolveRequest, withQuery } from '../../../shared/fetch/request.js';
import { parseJob } from '../../../shared/job/load.js';
import { type FixtureServer, requestBody, startFixtureServer } from '../../fixtures/http-fixture.js';
import { jobInput, SHOP, validationProblems } from '../../fixtures/jobs.js';

const OPTIONS: RequestOptions = { timeoutMs: 2000, maxBytes: 1024 * 1024, maxRedirects: 5, userAgent: 'scrapeline-test/1.0' };

function problemsOf(input: unknown): string[] {
  return validationProblems(() => parseJob(input, 'request.yaml'));
}

describe('Function: resolveRequest', () => {
  it('is a plain, retryable GET without options', () => {
    // Act and assess
    expect(resolveRequest(undefined)).toEqual(PLAIN_GET);
    expect(resolveRequest({ headers: { 'X-Api-Key': 'k' } })).toEqual({
      method: 'GET',
      headers: { 'x-api-key': 'k' },
      query: [],
      retryable: true,
    });
  });

  it('encodes a form as a POST body, cookies as one header, and query values as text', () => {
    // Act
    const request = resolveRequest({
      form: { q: 'desk lamp', page: 2, inStock: true },
      cookies: { session: 'abc', consent: 'yes' },
      query: { per_page: 100 },
    });

    // Assess: a request with a body is sent once
    expect(request).toEqual({
      method: 'POST',
      headers: { cookie: 'session=abc; consent=yes' },
      body: { contentType: 'application/x-www-form-urlencoded', text: 'q=desk+lamp&page=2&inStock=true' },
      query: [['per_page', '100']],
      retryable: false,
    });
  });

  it('encodes a JSON body, retryable only when marked idempotent', () => {
    // Act
    const query = { query: '{ products { sku } }', variables: { first: 10 } };
    const once = resolveRequest({ json: query });
    const again = resolveRequest({ method: 'PUT', json: query, idempotent: true });

    // Assess
    expect(once).toMatchObject({ method: 'POST', body: { contentType: 'application/json', text: JSON.stringify(query) } });
    expect(once.retryable).toBe(false);
    expect(again).toMatchObject({ method: 'PUT', retryable: true });
    expect(resolveRequest({ method: 'DELETE' }).retryable).toBe(false);
  });
});

describe('Function: mergeRequestSpecs', () => {
  it("merges a rule's headers, cookies and query over the job's, by name in any case", () => {
    // Act
    const merged = mergeRequestSpecs(
      { headers: { Accept: 'a', 'X-Job': 'j' }, cookies: { a: '1', b: '2' }, query: { lang: 'en' }, form: { q: 'x' } },
      { headers: { accept: 'b' }, cookies: { b: '3' }, query: { page: 1 } },
    );

    // Assess: the rule sets no method or body, so the job's body stays
    expect(merged).toEqual({
      headers: { accept: 'b', 'x-job': 'j' },
      cookies: { a: '1', b: '3' },
      query: { lang: 'en', page: 1 },
      form: { q: 'x' },
    });
  });

  it("replaces the job's method, body and idempotence when the rule sets a method or a body", () => {
    // Act
    const merged = mergeRequestSpecs({ form: { q: 'x' }, idempotent: true }, { method: 'GET' });

    // Assess
    expect(merged).toEqual({ headers: {}, cookies: {}, query: {}, method: 'GET' });
    expect(resolveRequest(merged)).toMatchObject({ method: 'GET', retryable: true });
  });
});

describe('Function: pageRequest', () => {
  const job = parseJob(
    jobInput({
      start: { urls: [`${SHOP}/search`], template: 'listing' },
      fetch: { request: { form: { q: 'lamps' }, headers: { 'Accept-Language': 'en' } } },
      follow: [
        { selector: 'a.next', template: 'listing', request: { method: 'GET', query: { sort: 'price' } } },
        { selector: 'a.product', template: 'product' },
      ],
      templates: { listing: { key: 'u', fields: { u: { from: 'url' } } }, product: { key: 'u', fields: { u: { from: 'url' } } } },
    }),
    'search.yaml',
  );

  it("gives start pages the job's options and followed pages those of their template's rule over them", () => {
    // Act and assess
    expect(pageRequest(job, { template: 'listing', depth: 0 })).toMatchObject({ method: 'POST', retryable: false });
    expect(pageRequest(job, { template: 'listing', depth: 2 })).toEqual({
      method: 'GET',
      headers: { 'accept-language': 'en' },
      query: [['sort', 'price']],
      retryable: true,
    });
    expect(pageRequest(job, { template: 'product', depth: 1 })).toMatchObject({ method: 'POST' });
  });
});

describe('Function: withQuery', () => {
  it('sets each parameter, replacing one of the same name', () => {
    expect(
      withQuery('https://shop.example/a?page=1&x=y', [
        ['page', '2'],
        ['q', 'a b'],
      ]),
    ).toBe('https://shop.example/a?page=2&x=y&q=a+b');
    expect(withQuery('https://shop.example/a', [])).toBe('https://shop.example/a');
  });
});

describe('Job model: request options', () => {
  it('names every invalid header, cookie and body option', () => {
    // Act
    const malformed = problemsOf(
      jobInput({
        fetch: { request: { headers: { 'Bad Name': 'x', 'X-Ok': 'a\r\nInjected: 1' }, cookies: { session: 'a b' } } },
      }),
    );
    const inconsistent = problemsOf(
      jobInput({
        fetch: {
          request: { method: 'GET', form: { q: 'x' }, json: { q: 'x' }, headers: { Cookie: 'a=1', 'User-Agent': 'x' } },
        },
      }),
    );

    // Assess
    expect(malformed).toEqual([
      "fetch.request.headers.Bad Name: invalid name: header names are HTTP tokens (letters, digits and !#$%&'*+.^_`|~-)",
      'fetch.request.headers.X-Ok: header values cannot hold CR, LF or NUL',
      'fetch.request.cookies.session: cookie values cannot hold white space, ", comma, ; or \\',
    ]);
    expect(inconsistent).toEqual([
      'fetch.request.headers.Cookie: not allowed: use request.cookies',
      'fetch.request.headers.User-Agent: not allowed: use politeness.userAgent',
      'fetch.request.json: a request has one body: form or json, not both',
      'fetch.request.method: a GET request has no body: use POST (or leave method out: a body means POST)',
    ]);
  });

  it('refuses follow rules of one template with different request options', () => {
    // Act
    const problems = problemsOf(
      jobInput({
        follow: [
          { selector: 'a.a', template: 'page', request: { headers: { 'X-A': '1' }, query: { b: 2 } } },
          { selector: 'a.b', template: 'page', request: { query: { b: 2 }, headers: { 'X-A': '1' } } },
          { selector: 'a.c', template: 'page' },
        ],
        templates: { page: { key: 'u', fields: { u: { from: 'url' } } } },
      }),
    );

    // Assess: the same options in another order agree
    expect(problems).toEqual([
      'follow[2].request: differs from follow[0].request: rules leading to template "page" must have the same request options (a URL is fetched once per run, whichever rule found it)',
    ]);
  });
});

describe('Class: UndiciHttpClient (request options)', () => {
  let site: FixtureServer;
  let elsewhere: FixtureServer;
  let client: UndiciHttpClient;
  const seen: { path: string; method: string; body: string; headers: Record<string, unknown> }[] = [];

  beforeAll(async () => {
    site = await startFixtureServer();
    elsewhere = await startFixtureServer();
    client = new UndiciHttpClient({ ssrf: { allow: ['127.0.0.1'] } });
    const record = (server: FixtureServer, path: string, answer: (response: import('node:http').ServerResponse) => void) =>
      server.route(path, async (request, response) => {
        seen.push({ path, method: request.method ?? '', body: await requestBody(request), headers: { ...request.headers } });
        answer(response);
      });
    const html = (response: import('node:http').ServerResponse) =>
      response.writeHead(200, { 'content-type': 'text/html' }).end('<p>ok</p>');
    record(site, '/search?lang=en', html);
    record(site, '/see-other', (response) => response.writeHead(303, { location: '/search?lang=en' }).end());
    record(site, '/keep', (response) => response.writeHead(307, { location: '/search?lang=en' }).end());
    record(site, '/away', (response) => response.writeHead(302, { location: `${elsewhere.origin}/landing` }).end());
    record(elsewhere, '/landing', html);
  });

  afterAll(async () => {
    await client.close();
    await site.close();
    await elsewhere.close();
  });

  const request = resolveRequest({
    form: { q: 'lamp' },
    headers: { Authorization: 'Bearer secret', Accept: 'text/html' },
    cookies: { session: 'abc' },
    query: { lang: 'en' },
  });

  it('sends the method, body, headers and cookies', async () => {
    // Act
    seen.length = 0;
    await client.fetchPage(withQuery(`${site.origin}/search`, request.query), { ...OPTIONS, request });

    // Assess
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({
      method: 'POST',
      body: 'q=lamp',
      headers: {
        authorization: 'Bearer secret',
        cookie: 'session=abc',
        accept: 'text/html',
        'content-type': 'application/x-www-form-urlencoded',
        'user-agent': 'scrapeline-test/1.0',
      },
    });
  });

  it('follows a 303 with a GET without the body; a 307 keeps method and body', async () => {
    // Act
    seen.length = 0;
    await client.fetchPage(`${site.origin}/see-other`, { ...OPTIONS, request });
    await client.fetchPage(`${site.origin}/keep`, { ...OPTIONS, request });

    // Assess
    expect(seen.map(({ path, method, body }) => [path, method, body])).toEqual([
      ['/see-other', 'POST', 'q=lamp'],
      ['/search?lang=en', 'GET', ''],
      ['/keep', 'POST', 'q=lamp'],
      ['/search?lang=en', 'POST', 'q=lamp'],
    ]);
    expect(seen[1]?.headers.cookie).toBe('session=abc');
  });

  it('asks whether a page changed (If-None-Match) only with a GET: a precondition on a POST makes servers refuse it', async () => {
    // Act
    seen.length = 0;
    const validators = { etag: '"v1"', lastModified: 'Tue, 01 Dec 2026 00:00:00 GMT' };
    await client.fetchPage(`${site.origin}/search?lang=en`, { ...OPTIONS, request, validators });
    await client.fetchPage(`${site.origin}/search?lang=en`, { ...OPTIONS, validators });

    // Assess
    expect(seen.map(({ method, headers }) => [method, headers['if-none-match'], headers['if-modified-since']])).toEqual([
      ['POST', undefined, undefined],
      ['GET', '"v1"', validators.lastModified],
    ]);
  });

  it("drops the job's headers and cookies on a redirect to another origin", async () => {
    // Act
    seen.length = 0;
    const page = await client.fetchPage(`${site.origin}/away`, { ...OPTIONS, request });

    // Assess
    expect(page.finalUrl).toBe(`${elsewhere.origin}/landing`);
    expect(seen[0]?.headers).toMatchObject({ authorization: 'Bearer secret', cookie: 'session=abc' });
    expect(seen[1]?.path).toBe('/landing');
    expect(seen[1]?.method).toBe('GET');
    expect(seen[1]?.headers.authorization).toBeUndefined();
    expect(seen[1]?.headers.cookie).toBeUndefined();
  });
});
