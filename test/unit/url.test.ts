import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../demo/random.js';
import { hostOf, MAX_URL_LENGTH, normaliseUrl, urlId } from '../../shared/url.js';

const ALPHABET = [...'abcXYZ019 -._~:/?#[]@!$&\'()*+,;=%\\"<>^`{|}\u0000\t\n\r\u00e9\u4e2d\u{1F600}\u200b\ufeff'];
const PREFIXES = [
  '',
  'http://',
  'https://',
  'HTTP://a.example',
  'http://a.example/',
  '//',
  'javascript:',
  'http://[',
  'http://user@',
];

function randomString(next: () => number): string {
  const prefix = PREFIXES[Math.floor(next() * PREFIXES.length)] ?? '';
  const length = Math.floor(next() * 40);
  let out = prefix;
  for (let index = 0; index < length; index++) out += ALPHABET[Math.floor(next() * ALPHABET.length)] ?? '';
  return out;
}

describe('Function: normaliseUrl', () => {
  it.each([
    ['lowercases scheme and host', 'HTTPS://Shop.EXAMPLE/Path', 'https://shop.example/Path'],
    ['drops the fragment', 'https://shop.example/p#reviews', 'https://shop.example/p'],
    ['drops an empty fragment', 'https://shop.example/p#', 'https://shop.example/p'],
    ['drops the default http port', 'http://shop.example:80/a', 'http://shop.example/a'],
    ['drops the default https port', 'https://shop.example:443/a', 'https://shop.example/a'],
    ['keeps another port', 'https://shop.example:8443/a', 'https://shop.example:8443/a'],
    ['adds the root path', 'https://shop.example', 'https://shop.example/'],
    ['turns an IDN into punycode', 'https://Bücher.example/ä', 'https://xn--bcher-kva.example/%C3%A4'],
    ['sorts query parameters by name', 'https://s.example/?b=2&a=1&c=3', 'https://s.example/?a=1&b=2&c=3'],
    ['keeps the order of repeated parameters', 'https://s.example/?b=1&a=z&b=0', 'https://s.example/?a=z&b=1&b=0'],
    [
      'removes tracking parameters',
      'https://s.example/p?utm_source=nl&UTM_Medium=x&gclid=1&fbclid=2&msclkid=3&mc_cid=4&mc_eid=5&_ga=6&yclid=7&id=9',
      'https://s.example/p?id=9',
    ],
    ['removes the query left empty by tracking parameters', 'https://s.example/p?utm_campaign=x#top', 'https://s.example/p'],
    [
      'keeps parameters that only look like tracking ones',
      'https://s.example/?utm=1&my_utm_source=2',
      'https://s.example/?my_utm_source=2&utm=1',
    ],
    ['encodes spaces in the path', 'https://s.example/a b/c', 'https://s.example/a%20b/c'],
    ['trims surrounding white space', '  \n https://s.example/a \t', 'https://s.example/a'],
    ['resolves dot segments', 'https://s.example/a/./b/../c', 'https://s.example/a/c'],
    ['keeps invalid percent escapes literally', 'https://s.example/%zz%', 'https://s.example/%zz%'],
    ['keeps encoded slashes encoded', 'https://s.example/a%2Fb', 'https://s.example/a%2Fb'],
    ['encodes non-ASCII query values', 'https://s.example/?q=ü', 'https://s.example/?q=%C3%BC'],
    ['drops the default port of an IPv6 host', 'http://[::1]:80/', 'http://[::1]/'],
    ['drops an empty query', 'http://a.example/p?', 'http://a.example/p'],
    ['decodes percent-encoded unreserved characters', 'https://s.example/%7Eu%2D%5f%2e%41z', 'https://s.example/~u-_.Az'],
    ['upper-cases other escapes', 'https://s.example/a%2fb%c3%a4', 'https://s.example/a%2Fb%C3%A4'],
  ])('%s', (_what, input, expected) => {
    // Act & Assess
    expect(normaliseUrl(input)).toEqual({ ok: true, url: expected });
  });

  it.each([
    ['a path', '/catalogue/p/1.html', 'https://shop.example/catalogue/p/1.html'],
    ['a sibling', 'p/2.html', 'https://shop.example/catalogue/p/2.html'],
    ['a parent beyond the root', '../../../x', 'https://shop.example/x'],
    ['a query only', '?page=2', 'https://shop.example/catalogue/page-1.html?page=2'],
    ['a fragment only', '#top', 'https://shop.example/catalogue/page-1.html'],
    ['a protocol-relative URL', '//cdn.example/a.png', 'https://cdn.example/a.png'],
    ['an absolute URL', 'http://other.example/', 'http://other.example/'],
  ])('resolves %s against the base', (_what, input, expected) => {
    // Act & Assess
    expect(normaliseUrl(input, 'https://shop.example/catalogue/page-1.html')).toEqual({ ok: true, url: expected });
  });

  it.each([
    ['javascript:', 'javascript:alert(1)', 'scheme "javascript" is not fetched'],
    ['JavaScript: with spaces', '  JavaScript:void(0)', 'scheme "javascript" is not fetched'],
    ['data:', 'data:text/html,<h1>x</h1>', 'scheme "data" is not fetched'],
    ['file:', 'file:///etc/passwd', 'scheme "file" is not fetched'],
    ['mailto:', 'mailto:shop@example.com', 'scheme "mailto" is not fetched'],
    ['ftp:', 'ftp://files.example/x', 'scheme "ftp" is not fetched'],
    ['a user and password', 'https://user:pass@shop.example/', 'URL with credentials'],
    ['a user only', 'https://user@shop.example/', 'URL with credentials'],
    ['an empty string', '', 'empty URL'],
    ['white space only', ' \t\n', 'empty URL'],
    ['a relative URL without base', '/catalogue', 'not a valid URL'],
    ['a URL without host', 'http://', 'not a valid URL'],
    ['a bad IPv6 host', 'http://[::1/', 'not a valid URL'],
    ['a bad port', 'http://s.example:99999/', 'not a valid URL'],
  ])('refuses %s', (_what, input, reason) => {
    // Act & Assess
    expect(normaliseUrl(input)).toEqual({ ok: false, reason });
  });

  it('refuses a credentialled link even when resolved against a base', () => {
    // Act & Assess
    expect(normaliseUrl('//a:b@shop.example/', 'https://shop.example/')).toEqual({ ok: false, reason: 'URL with credentials' });
  });

  it('refuses URLs longer than 4,096 characters, before and after encoding', () => {
    // Prepare
    const long = `https://s.example/${'a'.repeat(10 * 1024)}`;
    const growsWhenEncoded = `https://s.example/${'é'.repeat(1500)}`;
    const atLimit = `https://s.example/${'a'.repeat(MAX_URL_LENGTH - 'https://s.example/'.length)}`;

    // Act & Assess
    expect(normaliseUrl(long)).toEqual({ ok: false, reason: 'URL longer than 4096 characters' });
    expect(growsWhenEncoded.length).toBeLessThan(MAX_URL_LENGTH);
    expect(normaliseUrl(growsWhenEncoded)).toEqual({ ok: false, reason: 'URL longer than 4096 characters' });
    expect(normaliseUrl(atLimit)).toEqual({ ok: true, url: atLimit });
  });

  it('gives one URL for spellings that differ only in case, port, fragment, tracking and query order', () => {
    // Prepare
    const spellings = [
      'https://shop.example/p?a=1&b=2',
      'HTTPS://SHOP.example:443/p?b=2&a=1',
      'https://shop.example/p?a=1&utm_source=x&b=2#frag',
      ' https://shop.example/x/../p?b=2&a=1&fbclid=y ',
    ];

    // Act
    const urls = new Set(spellings.map((spelling) => JSON.stringify(normaliseUrl(spelling))));

    // Assess
    expect([...urls]).toEqual([JSON.stringify({ ok: true, url: 'https://shop.example/p?a=1&b=2' })]);
  });

  it('gives one URL for equivalent percent-encodings of a path', () => {
    // Act & Assess
    expect(normaliseUrl('https://s.example/%7Euser/a%2fb')).toEqual(normaliseUrl('https://s.example/~user/a%2Fb'));
  });

  it('never throws, and what it accepts is a normalised, fetchable, stable URL (2,000 random strings)', () => {
    // Prepare
    const next = mulberry32(20240611);
    const inputs = Array.from({ length: 2000 }, () => randomString(next));

    // Act
    const results = inputs.map((input) => ({
      input,
      result: normaliseUrl(input),
      relative: normaliseUrl(input, 'https://b.example/x/'),
    }));

    // Assess
    for (const { input, result, relative } of results) {
      for (const outcome of [result, relative]) {
        if (!outcome.ok) {
          expect(typeof outcome.reason, input).toBe('string');
          continue;
        }
        const url = new URL(outcome.url);
        expect(['http:', 'https:'], input).toContain(url.protocol);
        expect(url.hash, input).toBe('');
        expect(url.username + url.password, input).toBe('');
        expect(outcome.url.length, input).toBeLessThanOrEqual(MAX_URL_LENGTH);
        expect(normaliseUrl(outcome.url), input).toEqual(outcome);
      }
    }
    expect(results.filter(({ relative }) => relative.ok).length).toBeGreaterThan(100);
  });
});

describe('Function: urlId', () => {
  it('is a stable 22-character base64url digest', () => {
    // Act
    const id = urlId('https://shop.example/p/1');

    // Assess
    expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(urlId('https://shop.example/p/1')).toBe(id);
    // sha256 of the URL, base64url, first 22 characters (openssl dgst -sha256 -binary | base64): ids in stored state depend on it.
    expect(id).toBe('5I1oLc6cNjitmXruATtXyY');
  });

  it('differs between URLs, even close ones', () => {
    // Prepare
    const urls = Array.from({ length: 1000 }, (_, index) => `https://shop.example/p/${index}`);

    // Act
    const ids = new Set(urls.map(urlId));

    // Assess
    expect(ids.size).toBe(1000);
    expect(urlId('https://shop.example/p')).not.toBe(urlId('https://shop.example/p/'));
  });
});

describe('Function: hostOf', () => {
  it('returns the host with a non-default port', () => {
    // Act & Assess
    expect(hostOf('http://127.0.0.1:8321/a')).toBe('127.0.0.1:8321');
    expect(hostOf('https://shop.example:443/a')).toBe('shop.example');
  });
});
