import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../shared/errors.js';
import {
  deserialiseRobots,
  parseRobots,
  ROBOTS_PARSE_LIMIT_BYTES,
  robotsPolicyFor,
  robotsUrlFor,
  serialiseRobots,
  userAgentToken,
} from '../../../shared/fetch/robots-txt.js';

const ROBOTS = 'https://site.test/robots.txt';
const UA = 'scrapeline/0.1 (+https://github.com/scrapeline/scrapeline)';

/** Parses `body` for `agent` and answers which of `paths` are allowed. */
function allowed(body: string, paths: string[], agent = UA): Record<string, boolean> {
  const policy = parseRobots(ROBOTS, body, agent);
  return Object.fromEntries(paths.map((path) => [path, policy.isAllowed(`https://site.test${path}`)]));
}

describe('Function: userAgentToken', () => {
  it.each([
    [UA, 'scrapeline'],
    ['scrapeline', 'scrapeline'],
    ['Scrape_Line-x/2', 'Scrape_Line-x'],
    ['Mozilla/5.0 (compatible; FooBot/2.1; +https://foo.test/bot)', 'FooBot'],
  ])('takes the product token of %s', (userAgent, token) => {
    // Act & Assess
    expect(userAgentToken(userAgent)).toBe(token);
  });

  it.each(['', '  ', 'bot2/1.0', '/1.0', 'scrape.line/1'])('refuses %j, naming the RFC rule', (userAgent) => {
    // Act & Assess
    expect(() => userAgentToken(userAgent)).toThrow(/product token of letters, "_" or "-" \(RFC 9309 §2\.2\.1\)/);
  });
});

describe('Function: robotsUrlFor', () => {
  it.each([
    ['https://Site.TEST/a/b?c=1#d', 'https://site.test/robots.txt'],
    ['http://site.test:8080/x', 'http://site.test:8080/robots.txt'],
    ['https://site.test:443/x', 'https://site.test/robots.txt'],
    ['https://bücher.test/', 'https://xn--bcher-kva.test/robots.txt'],
  ])('maps %s to %s', (page, robots) => {
    // Act & Assess
    expect(robotsUrlFor(page)).toBe(robots);
  });

  it('refuses non-http URLs', () => {
    // Act & Assess
    expect(() => robotsUrlFor('ftp://site.test/x')).toThrow(TypeError);
  });
});

describe('Function: parseRobots', () => {
  describe('user-agent groups', () => {
    const body = [
      'User-agent: *',
      'Disallow: /all-agents',
      '',
      'User-agent: ScrapeLine',
      'Disallow: /for-us',
      '',
      'User-agent: other',
      'Disallow: /for-other',
    ].join('\n');

    it('obeys only the group naming the product token, case-insensitively', () => {
      // Act
      const result = allowed(body, ['/all-agents', '/for-us', '/for-other']);

      // Assess
      expect(result).toEqual({ '/all-agents': true, '/for-us': false, '/for-other': true });
    });

    it('falls back to the * group when no group names the crawler', () => {
      // Act
      const result = allowed(body, ['/all-agents', '/for-us'], 'nobody/1.0');

      // Assess
      expect(result).toEqual({ '/all-agents': false, '/for-us': true });
    });

    it('matches a user-agent line by its product token (version and comments ignored)', () => {
      // Act
      const result = allowed('User-agent: scrapeline/9.9 # ours\nDisallow: /x\n', ['/x']);

      // Assess
      expect(result).toEqual({ '/x': false });
    });

    it('does not take a longer name for ours', () => {
      // Act
      const result = allowed('User-agent: scrapeline-news\nDisallow: /\n', ['/x']);

      // Assess
      expect(result).toEqual({ '/x': true });
    });

    it('shares one group between consecutive user-agent lines (RFC 9309 §5.1)', () => {
      // Prepare
      const shared = 'User-agent: barbot\nUser-agent: scrapeline\nUser-agent: bazbot\nDisallow: /example/page.html\n';

      // Act
      const result = allowed(shared, ['/example/page.html', '/example/other.html']);

      // Assess
      expect(result).toEqual({ '/example/page.html': false, '/example/other.html': true });
    });

    it('merges every group that names the crawler', () => {
      // Prepare
      const split =
        'User-agent: scrapeline\nDisallow: /a\n\nUser-agent: *\nDisallow: /b\n\nUser-agent: scrapeline\nDisallow: /c\n';

      // Act
      const result = allowed(split, ['/a', '/b', '/c']);

      // Assess
      expect(result).toEqual({ '/a': false, '/b': true, '/c': false });
    });

    it('allows everything for a matching group without rules, without falling back to * (RFC 9309 §5.1 quxbot)', () => {
      // Act
      const result = allowed('User-agent: *\nDisallow: /\n\nUser-agent: scrapeline\n', ['/anything']);

      // Assess
      expect(result).toEqual({ '/anything': true });
    });

    it('does not let a Sitemap line end the list of user agents (RFC 9309 §2.2.4)', () => {
      // Prepare
      const interleaved = 'User-agent: scrapeline\nSitemap: https://site.test/s.xml\nUser-agent: other\nDisallow: /\n';

      // Act
      const result = allowed(interleaved, ['/x']);

      // Assess
      expect(result).toEqual({ '/x': false });
    });

    it('ignores rules before the first user-agent line', () => {
      // Act
      const result = allowed('Disallow: /\nUser-agent: *\nDisallow: /private\n', ['/public', '/private']);

      // Assess
      expect(result).toEqual({ '/public': true, '/private': false });
    });

    it('allows everything when no group applies', () => {
      // Act
      const result = allowed('User-agent: other\nDisallow: /\n', ['/x']);

      // Assess
      expect(result).toEqual({ '/x': true });
    });
  });

  describe('rule matching', () => {
    it('uses the longest matching rule (RFC 9309 §5.2)', () => {
      // Prepare
      const body = 'User-agent: *\nAllow: /example/page/\nDisallow: /example/page/disallowed.gif\n';

      // Act
      const result = allowed(body, ['/example/page/disallowed.gif', '/example/page/other.gif']);

      // Assess
      expect(result).toEqual({ '/example/page/disallowed.gif': false, '/example/page/other.gif': true });
    });

    it('lets the longer allow win over a shorter disallow, in any order', () => {
      // Act
      const result = allowed('User-agent: *\nAllow: /folder/page\nDisallow: /folder\n', ['/folder/page', '/folder/x']);

      // Assess
      expect(result).toEqual({ '/folder/page': true, '/folder/x': false });
    });

    it('lets Allow win a tie with an equally long Disallow', () => {
      // Act
      const first = allowed('User-agent: *\nDisallow: /page\nAllow: /page\n', ['/page']);
      const second = allowed('User-agent: *\nAllow: /page\nDisallow: /page\n', ['/page']);

      // Assess
      expect([first, second]).toEqual([{ '/page': true }, { '/page': true }]);
    });

    it('matches from the first octet of the path, case-sensitively, including the query', () => {
      // Act
      const result = allowed('User-agent: *\nDisallow: /Private\nDisallow: /search?q=\n', [
        '/Private/x',
        '/private/x',
        '/x/Private',
        '/search?q=cats',
        '/search',
      ]);

      // Assess
      expect(result).toEqual({
        '/Private/x': false,
        '/private/x': true,
        '/x/Private': true,
        '/search?q=cats': false,
        '/search': true,
      });
    });

    it('treats * as any run of characters and a trailing $ as the end of the path', () => {
      // Prepare
      const body = 'User-agent: *\nDisallow: /*.gif$\nDisallow: /a*b*c\nDisallow: /exact$\n';

      // Act
      const result = allowed(body, [
        '/img/x.gif',
        '/img/x.gif?size=2',
        '/img/x.gifs',
        '/a-b-c',
        '/ac-b',
        '/abc/and/more',
        '/exact',
        '/exact/',
      ]);

      // Assess
      expect(result).toEqual({
        '/img/x.gif': false,
        '/img/x.gif?size=2': true,
        '/img/x.gifs': true,
        '/a-b-c': false,
        '/ac-b': true,
        '/abc/and/more': false,
        '/exact': false,
        '/exact/': true,
      });
    });

    it('ranks wildcard rules by their length (RFC 9309 §5.1)', () => {
      // Prepare
      const body =
        'User-Agent: foobot\nDisallow:/\nAllow:/example/page.html\nAllow:/example/allowed.gif\n\nUser-Agent: *\nDisallow: *.gif$\n';

      // Act
      const foobot = allowed(body, ['/example/page.html', '/example/allowed.gif', '/example/other'], 'foobot');
      const others = allowed(body, ['/example/allowed.gif', '/example/page.html'], 'otherbot');

      // Assess
      expect(foobot).toEqual({ '/example/page.html': true, '/example/allowed.gif': true, '/example/other': false });
      expect(others).toEqual({ '/example/allowed.gif': false, '/example/page.html': true });
    });

    it('matches %2A and %24 in a rule against a literal * and $ in the path (RFC 9309 §2.2.3)', () => {
      // Act
      const result = allowed('User-agent: *\nDisallow: /a%2Ab\nDisallow: /price%24\n', ['/a*b', '/axb', '/price$/x']);

      // Assess
      expect(result).toEqual({ '/a*b': false, '/axb': true, '/price$/x': false });
    });

    it('does not backtrack catastrophically on many wildcards', () => {
      // Prepare
      const policy = parseRobots(ROBOTS, `User-agent: *\nDisallow: /${'*a'.repeat(40)}*b$\n`, UA);
      const url = `https://site.test/${'a'.repeat(4000)}`;
      const started = performance.now();

      // Act
      const result = policy.isAllowed(url);

      // Assess
      expect(result).toBe(true);
      expect(performance.now() - started).toBeLessThan(200);
    });
  });

  describe('percent-encoding (RFC 9309 §2.2.2)', () => {
    it.each([
      ['/a%3cd', '/a<d'],
      ['/a%3Cd', '/a%3cd'],
      ['/a<d', '/a%3Cd'],
      ['/foo/bar/%62%61%7A', '/foo/bar/baz'],
      ['/foo/bar/baz', '/foo/bar/%62%61%7A'],
      ['/foo/bar/ツ', '/foo/bar/%E3%83%84'],
      ['/foo/bar/%E3%83%84', '/foo/bar/ツ'],
      ['/foo/bar?baz=quz', '/foo/bar?baz=quz'],
      ['/sp ace', '/sp%20ace'],
    ])('treats rule %s and path %s as equal', (rule, path) => {
      // Act
      const result = allowed(`User-agent: *\nDisallow: ${rule}$\n`, [path]);

      // Assess
      expect(result).toEqual({ [path]: false });
    });

    it('keeps an escaped reserved character distinct from the character (RFC 3986 §2.2)', () => {
      // Act
      const result = allowed('User-agent: *\nDisallow: /a%2Fb\n', ['/a/b', '/a%2Fb']);

      // Assess
      expect(result).toEqual({ '/a/b': true, '/a%2Fb': false });
    });
  });

  describe('lines', () => {
    it('lets an empty Disallow allow everything', () => {
      // Act
      const result = allowed('User-agent: *\nDisallow:\n', ['/', '/x']);

      // Assess
      expect(result).toEqual({ '/': true, '/x': true });
    });

    it('always allows /robots.txt itself', () => {
      // Act
      const result = allowed('User-agent: *\nDisallow: /\n', ['/robots.txt', '/robots.txt?x', '/other']);

      // Assess
      expect(result).toEqual({ '/robots.txt': true, '/robots.txt?x': true, '/other': false });
    });

    it('reads CRLF and CR line ends, a BOM, comments, any key case and odd spacing', () => {
      // Prepare
      const body = '\uFEFFuser-AGENT:*  # everyone\r\n  DISALLOW :  /a # not /b\r\rdisallow:/c\r\n# Disallow: /d\n';

      // Act
      const result = allowed(body, ['/a', '/b', '/c', '/d']);

      // Assess
      expect(result).toEqual({ '/a': false, '/b': true, '/c': false, '/d': true });
    });

    it('skips garbage and unknown lines without losing the group', () => {
      // Prepare
      const body = [
        '<html><body>oops</body></html>',
        'User-agent: *',
        'this is not a rule',
        'Noindex: /x',
        'Host: site.test',
        'Disallow /no-colon',
        '\u0000\u0001binary:\uFFFD',
        'Disallow: /private',
      ].join('\n');

      // Act
      const result = allowed(body, ['/private', '/no-colon', '/x']);

      // Assess
      expect(result).toEqual({ '/private': false, '/no-colon': true, '/x': true });
    });

    it('collects absolute Sitemap URLs from anywhere, once each, and drops relative ones', () => {
      // Prepare
      const body = [
        'Sitemap: https://site.test/a.xml',
        'User-agent: other',
        'sitemap:   https://cdn.test/b.xml.gz   # comment',
        'Disallow: /',
        'Sitemap: /relative.xml',
        'Sitemap: ftp://site.test/c.xml',
        'SITEMAP: https://site.test/a.xml',
      ].join('\n');

      // Act
      const policy = parseRobots(ROBOTS, body, UA);

      // Assess
      expect(policy.sitemaps).toEqual(['https://site.test/a.xml', 'https://cdn.test/b.xml.gz']);
    });
  });

  describe('Crawl-delay', () => {
    it('reads the delay of the group that applies, in milliseconds', () => {
      // Prepare
      const body = 'User-agent: *\nCrawl-delay: 10\n\nUser-agent: scrapeline\nCrawl-delay: 1.5\nDisallow: /x\n';

      // Act
      const ours = parseRobots(ROBOTS, body, UA).crawlDelayMs;
      const theirs = parseRobots(ROBOTS, body, 'other').crawlDelayMs;

      // Assess
      expect([ours, theirs]).toEqual([1500, 10_000]);
    });

    it('does not take the * delay when our group has none', () => {
      // Act
      const policy = parseRobots(ROBOTS, 'User-agent: *\nCrawl-delay: 10\n\nUser-agent: scrapeline\nDisallow: /x\n', UA);

      // Assess
      expect(policy.crawlDelayMs).toBeUndefined();
    });

    it('ends the list of user agents at a Crawl-delay line, as at a rule', () => {
      // Prepare
      const body = 'User-agent: scrapeline\nCrawl-delay: 5\nUser-agent: *\nDisallow: /\n';

      // Act
      const policy = parseRobots(ROBOTS, body, UA);

      // Assess
      expect([policy.crawlDelayMs, policy.isAllowed('https://site.test/x')]).toEqual([5000, true]);
    });

    it('keeps the largest delay of merged groups and ignores values that are not numbers', () => {
      // Prepare
      const body =
        'User-agent: scrapeline\nCrawl-delay: 2\nDisallow: /a\nUser-agent: scrapeline\nCrawl-delay: soon\nCrawl-delay: 5\nCrawl-delay: -1\n';

      // Act
      const policy = parseRobots(ROBOTS, body, UA);

      // Assess
      expect(policy.crawlDelayMs).toBe(5000);
    });
  });

  describe('parse limit (RFC 9309 §2.5)', () => {
    it('reads the first 500 KiB and ignores the rest, dropping a line cut by the limit', () => {
      // Prepare
      const head = 'User-agent: *\nDisallow: /early\n';
      const filler = `# ${'x'.repeat(ROBOTS_PARSE_LIMIT_BYTES - head.length - 'Disallow: /cut-here\n'.length)}\n`;
      const body = `${head}${filler}Disallow: /cut-here\nDisallow: /late\n`;

      // Act
      const result = allowed(body, ['/early', '/cut', '/cut-here', '/late']);

      // Assess
      expect(Buffer.byteLength(`${head}${filler}`)).toBeLessThan(ROBOTS_PARSE_LIMIT_BYTES);
      expect(Buffer.byteLength(`${head}${filler}Disallow: /cut-here\n`)).toBeGreaterThan(ROBOTS_PARSE_LIMIT_BYTES);
      expect(result).toEqual({ '/early': false, '/cut': true, '/cut-here': true, '/late': true });
    });

    it('reads a rule that ends just inside the limit', () => {
      // Prepare
      const head = 'User-agent: *\n';
      const rule = 'Disallow: /last\n';
      const body = `${head}#${'x'.repeat(ROBOTS_PARSE_LIMIT_BYTES - head.length - rule.length - 2)}\n${rule}Disallow: /after\n`;

      // Act
      const result = allowed(body, ['/last', '/after']);

      // Assess
      expect(Buffer.byteLength(`${head}#${'x'.repeat(ROBOTS_PARSE_LIMIT_BYTES - head.length - rule.length - 2)}\n${rule}`)).toBe(
        ROBOTS_PARSE_LIMIT_BYTES,
      );
      expect(result).toEqual({ '/last': false, '/after': true });
    });
  });

  it('refuses a URL of another origin', () => {
    // Prepare
    const policy = parseRobots(ROBOTS, 'User-agent: *\nDisallow: /\n', UA);

    // Act & Assess
    expect(() => policy.isAllowed('https://other.test/x')).toThrow('robots.txt of https://site.test does not govern');
    expect(() => policy.isAllowed('http://site.test/x')).toThrow(RangeError);
    expect(policy.isAllowed('https://SITE.test:443/x')).toBe(false);
  });
});

describe('Function: robotsPolicyFor', () => {
  it('parses a 2xx body', () => {
    // Act
    const policy = robotsPolicyFor({ kind: 'ok', status: 200, body: 'User-agent: *\nDisallow: /x\n' }, ROBOTS, UA);

    // Assess
    expect(policy.status).toBe('ok');
    expect(policy.isAllowed('https://site.test/x')).toBe(false);
    expect(policy.isAllowed('https://site.test/y')).toBe(true);
  });

  it.each([
    [{ kind: 'status', status: 404 }],
    [{ kind: 'status', status: 401 }],
    [{ kind: 'status', status: 403 }],
    [{ kind: 'status', status: 410 }],
    [{ kind: 'status', status: 310 }],
    [{ kind: 'ok', status: 404, body: 'User-agent: *\nDisallow: /\n' }],
  ] as const)('allows everything when robots.txt is unavailable: %j', (result) => {
    // Act
    const policy = robotsPolicyFor(result, ROBOTS, UA);

    // Assess
    expect(policy.status).toBe('unavailable');
    expect(policy.isAllowed('https://site.test/anything')).toBe(true);
  });

  it.each([
    [{ kind: 'status', status: 500 }],
    [{ kind: 'status', status: 503 }],
    [{ kind: 'status', status: 429 }],
    [{ kind: 'unreachable', reason: 'ECONNREFUSED' }],
  ] as const)('disallows everything but /robots.txt when robots.txt is unreachable: %j', (result) => {
    // Act
    const policy = robotsPolicyFor(result, ROBOTS, UA);

    // Assess
    expect(policy.status).toBe('unreachable');
    expect(policy.isAllowed('https://site.test/anything')).toBe(false);
    expect(policy.isAllowed('https://site.test/robots.txt')).toBe(true);
    expect([policy.crawlDelayMs, policy.sitemaps]).toEqual([undefined, []]);
  });
});

describe('Function: serialiseRobots / deserialiseRobots', () => {
  it('round-trips the rules that apply, the delay and the sitemaps, and nothing else', () => {
    // Prepare
    const body = [
      'User-agent: *',
      'Disallow: /',
      'User-agent: scrapeline',
      'Crawl-delay: 2',
      'Disallow: /*.pdf$',
      'Disallow: /a%3cd',
      'Allow: /a%2Ab',
      'Disallow: /a',
      'Sitemap: https://site.test/s.xml',
    ].join('\n');
    const policy = parseRobots(ROBOTS, body, UA);
    const paths = ['/x.pdf', '/x.pdf?v=1', '/a<d', '/a*b', '/axb', '/b', '/robots.txt'];

    // Act
    const text = serialiseRobots(policy);
    const restored = deserialiseRobots(text);

    // Assess
    expect(JSON.parse(text)).toEqual({
      v: 1,
      origin: 'https://site.test',
      status: 'ok',
      rules: ['-/*.pdf$', '+/a%2Ab', '-/a%3Cd', '-/a'],
      crawlDelayMs: 2000,
      sitemaps: ['https://site.test/s.xml'],
    });
    const check = (p: typeof policy) => paths.map((path) => p.isAllowed(`https://site.test${path}`));
    expect(check(restored)).toEqual(check(policy));
    expect([restored.status, restored.crawlDelayMs, restored.sitemaps]).toEqual(['ok', 2000, ['https://site.test/s.xml']]);
  });

  it('round-trips an unreachable policy', () => {
    // Act
    const restored = deserialiseRobots(serialiseRobots(robotsPolicyFor({ kind: 'unreachable', reason: 'timeout' }, ROBOTS, UA)));

    // Assess
    expect(restored.status).toBe('unreachable');
    expect(restored.isAllowed('https://site.test/x')).toBe(false);
  });

  it.each([
    ['not json', 'serialised robots policy is not JSON'],
    ['null', 'v must be 1, got undefined'],
    ['{"v":2,"origin":"x","status":"ok","rules":[],"sitemaps":[]}', 'v must be 1, got 2'],
    ['{"v":1,"origin":"x","status":"maybe","rules":["/a"],"sitemaps":[1]}', 'status must be ok'],
  ])('refuses %s', (text, message) => {
    // Act & Assess
    expect(() => deserialiseRobots(text)).toThrow(InvalidInputError);
    expect(() => deserialiseRobots(text)).toThrow(message);
  });
});
