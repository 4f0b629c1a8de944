import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { NonRetryableError } from '../../../shared/errors.js';
import {
  extendSitemapChain,
  modifiedSince,
  parseSitemap,
  SITEMAP_MAX_BYTES,
  SITEMAP_MAX_URLS,
  SitemapError,
  type SitemapErrorReason,
} from '../../../shared/fetch/sitemap-xml.js';

const SOURCE = 'https://site.test/sitemap.xml';
const NS = 'http://www.sitemaps.org/schemas/sitemap/0.9';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

function urlset(inner: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="${NS}">\n${inner}\n</urlset>\n`;
}

/** The SitemapError `act` throws (fails the test when it throws nothing else). */
function sitemapError(act: () => unknown): SitemapError {
  try {
    act();
  } catch (error) {
    if (error instanceof SitemapError) return error;
    throw error;
  }
  throw new Error('expected a SitemapError');
}

function expectRefused(act: () => unknown, reason: SitemapErrorReason, message: string | RegExp): void {
  const error = sitemapError(act);
  expect(error).toBeInstanceOf(NonRetryableError);
  expect(error.reason).toBe(reason);
  expect(error.message).toMatch(message);
}

describe('Function: parseSitemap', () => {
  describe('urlset', () => {
    it('reads each <url> with its loc and lastmod', () => {
      // Prepare
      const xml = urlset(
        [
          '<url><loc>https://site.test/a</loc><lastmod>2024-05-01</lastmod><changefreq>daily</changefreq><priority>0.5</priority></url>',
          '<url><loc>https://site.test/b?y=2&amp;x=1</loc></url>',
          '<url><lastmod>2024-05-01T10:20:30+02:00</lastmod><loc>https://site.test/c</loc></url>',
        ].join('\n'),
      );

      // Act
      const sitemap = parseSitemap(bytes(xml), SOURCE);

      // Assess
      expect(sitemap).toEqual({
        kind: 'urlset',
        format: 'xml',
        urls: [
          { loc: 'https://site.test/a', lastmod: '2024-05-01', offHost: false },
          { loc: 'https://site.test/b?x=1&y=2', offHost: false },
          { loc: 'https://site.test/c', lastmod: '2024-05-01T10:20:30+02:00', offHost: false },
        ],
        rejected: [],
      });
    });

    it('trims whitespace and reads CDATA, entities and numeric references in loc', () => {
      // Prepare
      const xml = urlset(
        [
          '<url><loc>\n    https://site.test/p?a=1&amp;b=%C3%A9\n  </loc></url>',
          '<url><loc><![CDATA[ https://site.test/q?a=1&b=<2> ]]></loc></url>',
          '<url><loc>https://site.test/&#x72;&#101;f&apos;s</loc></url>',
          '<url>\n\t<loc>https://site.test/split</loc>\n\t<lastmod>\n 2024-01-02 \n</lastmod>\n</url>',
        ].join('\n'),
      );

      // Act
      const sitemap = parseSitemap(bytes(xml), SOURCE);

      // Assess
      expect(sitemap.kind === 'urlset' && sitemap.urls.map((url) => [url.loc, url.lastmod])).toEqual([
        ['https://site.test/p?a=1&b=%C3%A9', undefined],
        ['https://site.test/q?a=1&b=%3C2%3E', undefined],
        ["https://site.test/ref's", undefined],
        ['https://site.test/split', '2024-01-02'],
      ]);
    });

    it('collects unusable locs as rejected and keeps the rest', () => {
      // Prepare
      const xml = urlset(
        [
          '<url><loc>/relative/page</loc></url>',
          '<url><loc>ftp://site.test/file</loc></url>',
          '<url><loc>https://user:pw@site.test/</loc></url>',
          '<url><loc>   </loc></url>',
          '<url><lastmod>2024-01-01</lastmod></url>',
          `<url><loc>https://site.test/${'x'.repeat(5000)}</loc></url>`,
          '<url><loc>https://site.test/good</loc></url>',
        ].join('\n'),
      );

      // Act
      const sitemap = parseSitemap(bytes(xml), SOURCE);

      // Assess
      expect(sitemap.kind === 'urlset' && sitemap.urls.map((url) => url.loc)).toEqual(['https://site.test/good']);
      expect(sitemap.rejected).toEqual([
        { loc: '/relative/page', reason: 'not an absolute URL' },
        { loc: 'ftp://site.test/file', reason: 'scheme "ftp" is not fetched' },
        { loc: 'https://user:pw@site.test/', reason: 'URL with credentials' },
        { loc: '', reason: 'empty URL' },
        { loc: '', reason: 'entry without <loc>' },
        { loc: `https://site.test/${'x'.repeat(256 - 18)}`, reason: 'URL longer than 4096 characters' },
      ]);
    });

    it('drops a lastmod that is not a W3C datetime but keeps its URL', () => {
      // Prepare
      const values = [
        '2024',
        '2024-05',
        '2024-05-01T10:20Z',
        '2024-05-01T10:20:30.123456-05:00',
        '2024-13-01',
        '2024-02-30',
        '2024-05-01 10:20:30',
        '2024-05-01T10:20:30',
        '2024-05-01T25:00Z',
        'yesterday',
      ];
      const xml = urlset(
        values.map((value, index) => `<url><loc>https://site.test/${index}</loc><lastmod>${value}</lastmod></url>`).join(''),
      );

      // Act
      const sitemap = parseSitemap(bytes(xml), SOURCE);

      // Assess
      expect(sitemap.kind === 'urlset' && sitemap.urls.map((url) => url.lastmod)).toEqual([
        '2024',
        '2024-05',
        '2024-05-01T10:20Z',
        '2024-05-01T10:20:30.123456-05:00',
        undefined,
        undefined,
        undefined,
        undefined,
        undefined,
        undefined,
      ]);
    });

    it('flags URLs on another host (or port) without dropping them', () => {
      // Prepare
      const xml = urlset(
        ['https://site.test/a', 'https://www.site.test/b', 'https://site.test:8443/c', 'http://site.test/d']
          .map((loc) => `<url><loc>${loc}</loc></url>`)
          .join(''),
      );

      // Act
      const sitemap = parseSitemap(bytes(xml), SOURCE);

      // Assess
      expect(sitemap.kind === 'urlset' && sitemap.urls.map((url) => [url.loc, url.offHost])).toEqual([
        ['https://site.test/a', false],
        ['https://www.site.test/b', true],
        ['https://site.test:8443/c', true],
        ['http://site.test/d', false],
      ]);
    });

    it('reads a prefixed sitemap namespace and skips extension elements such as image:loc', () => {
      // Prepare
      const xml = [
        '<?xml version="1.0"?>',
        `<sm:urlset xmlns:sm="${NS}" xmlns:image="http://www.google.com/schemas/sitemap-image/1.1"`,
        '    xmlns:xhtml="http://www.w3.org/1999/xhtml">',
        '  <sm:url>',
        '    <image:loc>https://site.test/not-a-page.jpg</image:loc>',
        '    <image:image><image:loc>https://site.test/photo.jpg</image:loc></image:image>',
        '    <xhtml:link rel="alternate" hreflang="de" href="https://site.test/de/page"/>',
        '    <sm:loc>https://site.test/page</sm:loc>',
        '  </sm:url>',
        '  <loc>https://site.test/not-in-the-namespace</loc>',
        '</sm:urlset>',
      ].join('\n');

      // Act
      const sitemap = parseSitemap(bytes(xml), SOURCE);

      // Assess
      expect(sitemap).toMatchObject({ kind: 'urlset', urls: [{ loc: 'https://site.test/page' }], rejected: [] });
    });

    it('reads a sitemap without a namespace, with comments and processing instructions', () => {
      // Prepare
      const xml =
        '\uFEFF<?xml version="1.0"?><?xml-stylesheet href="s.xsl"?><!-- generated --><urlset><url><!-- x --><loc>https://site.test/a</loc></url><url/></urlset><!-- end -->';

      // Act
      const sitemap = parseSitemap(bytes(xml), SOURCE);

      // Assess
      expect(sitemap).toEqual({
        kind: 'urlset',
        format: 'xml',
        urls: [{ loc: 'https://site.test/a', offHost: false }],
        rejected: [{ loc: '', reason: 'entry without <loc>' }],
      });
    });

    it('keeps an undeclared entity and a bare ampersand as written', () => {
      // Prepare
      const xml = urlset('<url><loc>https://site.test/a?b=1&c=2&nbsp;</loc></url>');

      // Act
      const sitemap = parseSitemap(bytes(xml), SOURCE);

      // Assess
      expect(sitemap.kind === 'urlset' && sitemap.urls[0]?.loc).toBe('https://site.test/a?b=1&c=2&nbsp%3B=');
    });
  });

  describe('sitemap index', () => {
    it('reads each <sitemap> with its loc and lastmod', () => {
      // Prepare
      const xml = [
        `<sitemapindex xmlns="${NS}">`,
        '<sitemap><loc>https://site.test/sitemap-1.xml.gz</loc><lastmod>2024-05-01T00:00:00Z</lastmod></sitemap>',
        '<sitemap><loc>https://cdn.test/sitemap-2.xml</loc></sitemap>',
        '<url><loc>https://site.test/not-an-index-entry</loc></url>',
        '</sitemapindex>',
      ].join('\n');

      // Act
      const sitemap = parseSitemap(bytes(xml), SOURCE);

      // Assess
      expect(sitemap).toEqual({
        kind: 'index',
        format: 'xml',
        sitemaps: [
          { loc: 'https://site.test/sitemap-1.xml.gz', lastmod: '2024-05-01T00:00:00Z', offHost: false },
          { loc: 'https://cdn.test/sitemap-2.xml', offHost: true },
        ],
        rejected: [],
      });
    });
  });

  describe('text sitemap', () => {
    it('reads one URL per line', () => {
      // Prepare
      const text = '\uFEFFhttps://site.test/a\r\n\r\n  https://site.test/b  \nnot a url\n';

      // Act
      const sitemap = parseSitemap(bytes(text), 'https://site.test/sitemap.txt');

      // Assess
      expect(sitemap).toEqual({
        kind: 'urlset',
        format: 'text',
        urls: [
          { loc: 'https://site.test/a', offHost: false },
          { loc: 'https://site.test/b', offHost: false },
        ],
        rejected: [{ loc: 'not a url', reason: 'not an absolute URL' }],
      });
    });
  });

  describe('gzip', () => {
    it('recognises gzip by its magic bytes and reads what it holds', () => {
      // Prepare
      const gzipped = gzipSync(bytes(urlset('<url><loc>https://site.test/zipped</loc></url>')));

      // Act
      const sitemap = parseSitemap(gzipped, 'https://site.test/sitemap.xml.gz');

      // Assess
      expect(sitemap).toMatchObject({ kind: 'urlset', urls: [{ loc: 'https://site.test/zipped' }] });
    });

    it('refuses a gzip bomb without inflating past the limit', () => {
      // Prepare
      const bomb = gzipSync(Buffer.alloc(SITEMAP_MAX_BYTES + 1024 * 1024, 0x20));
      const started = performance.now();

      // Act & Assess
      expectRefused(() => parseSitemap(bomb, SOURCE), 'sitemap-too-large', 'decompresses to more than 52428800 bytes');
      expect(bomb.byteLength).toBeLessThan(100_000);
      expect(performance.now() - started).toBeLessThan(5000);
    });

    it('refuses a broken gzip stream', () => {
      // Prepare
      const gzipped = gzipSync(bytes(urlset('<url><loc>https://site.test/a</loc></url>')));

      // Act & Assess
      expectRefused(() => parseSitemap(gzipped.subarray(0, 20), SOURCE), 'sitemap-invalid', /is not valid gzip/);
    });
  });

  describe('limits', () => {
    it('accepts 50,000 URLs and refuses 50,001', () => {
      // Prepare
      const entry = (index: number) => `<url><loc>https://site.test/p/${index}</loc></url>`;
      const many = (count: number) => urlset(Array.from({ length: count }, (_, index) => entry(index)).join('\n'));

      // Act
      const accepted = parseSitemap(bytes(many(SITEMAP_MAX_URLS)), SOURCE);

      // Assess
      expect(accepted.kind === 'urlset' && accepted.urls.length).toBe(50_000);
      expectRefused(
        () => parseSitemap(bytes(many(SITEMAP_MAX_URLS + 1)), SOURCE),
        'sitemap-too-many-urls',
        'sitemap https://site.test/sitemap.xml has more than 50000 entries (the sitemap protocol allows 50,000 per file)',
      );
    });

    it('counts rejected entries and text lines against maxUrls', () => {
      // Act & Assess
      expectRefused(
        () => parseSitemap(bytes(urlset('<url><loc>/a</loc></url><url><loc>/b</loc></url>')), SOURCE, { maxUrls: 1 }),
        'sitemap-too-many-urls',
        'more than 1 entries',
      );
      expectRefused(
        () => parseSitemap(bytes('https://site.test/a\nhttps://site.test/b\n'), SOURCE, { maxUrls: 1 }),
        'sitemap-too-many-urls',
        'more than 1 entries',
      );
    });

    it('refuses a file larger than maxBytes, compressed or not, and accepts one of exactly maxBytes', () => {
      // Prepare
      const xml = urlset('<url><loc>https://site.test/a</loc></url>');
      const size = bytes(xml).byteLength;

      // Act
      const exact = parseSitemap(bytes(xml), SOURCE, { maxBytes: size });
      const exactGzip = parseSitemap(gzipSync(bytes(xml)), SOURCE, { maxBytes: size });

      // Assess
      expect([exact.kind, exactGzip.kind]).toEqual(['urlset', 'urlset']);
      expectRefused(
        () => parseSitemap(bytes(xml), SOURCE, { maxBytes: size - 1 }),
        'sitemap-too-large',
        `sitemap ${SOURCE} is larger than ${size - 1} bytes (the sitemap protocol allows 50 MiB uncompressed)`,
      );
      expectRefused(
        () => parseSitemap(gzipSync(bytes(xml)), SOURCE, { maxBytes: size - 1 }),
        'sitemap-too-large',
        `decompresses to more than ${size - 1} bytes`,
      );
    });

    it('accepts a file of exactly 50 MiB and refuses one byte more by default', () => {
      // Prepare
      const head = bytes(urlset('<url><loc>https://site.test/a</loc></url>'));
      const body = Buffer.alloc(SITEMAP_MAX_BYTES, 0x20);
      body.set(head);

      // Act
      const sitemap = parseSitemap(body, SOURCE);

      // Assess
      expect(sitemap.kind === 'urlset' && sitemap.urls.length).toBe(1);
      expectRefused(
        () => parseSitemap(Buffer.alloc(SITEMAP_MAX_BYTES + 1, 0x20), SOURCE),
        'sitemap-too-large',
        'larger than 52428800',
      );
    });

    it.each([
      [{ maxUrls: 0 }, 'maxUrls must be an integer from 1 to 9007199254740991, got 0'],
      [{ maxUrls: 1.5 }, 'maxUrls must be an integer'],
      [{ maxBytes: -1 }, 'maxBytes must be an integer from 1 to 2147483647, got -1'],
    ])('refuses options %j', (options, message) => {
      // Act & Assess
      expect(() => parseSitemap(bytes(urlset('')), SOURCE, options)).toThrow(RangeError);
      expect(() => parseSitemap(bytes(urlset('')), SOURCE, options)).toThrow(message);
    });
  });

  describe('entities and DTDs', () => {
    it('refuses a billion laughs quickly', () => {
      // Prepare
      const lol = [
        '<?xml version="1.0"?>',
        '<!DOCTYPE lolz [',
        ' <!ENTITY lol "lol">',
        ...Array.from({ length: 9 }, (_, level) => ` <!ENTITY lol${level + 1} "${`&lol${level || ''};`.repeat(10)}">`),
        ']>',
        '<urlset><url><loc>https://site.test/&lol9;</loc></url></urlset>',
      ].join('\n');
      const started = performance.now();

      // Act & Assess
      expectRefused(
        () => parseSitemap(bytes(lol), SOURCE),
        'sitemap-entities',
        'has a <!DOCTYPE> declaration (line 2, column 1): sitemaps never need DTDs or entities, so they are refused',
      );
      expect(performance.now() - started).toBeLessThan(100);
    });

    it('refuses an external entity', () => {
      // Prepare
      const xxe = '<?xml version="1.0"?>\n<!DOCTYPE urlset [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n<urlset>&xxe;</urlset>';

      // Act & Assess
      expectRefused(() => parseSitemap(bytes(xxe), SOURCE), 'sitemap-entities', 'has a <!DOCTYPE> declaration');
    });

    it('refuses an ENTITY declaration outside a DOCTYPE', () => {
      // Act & Assess
      expectRefused(
        () => parseSitemap(bytes('<!ENTITY x SYSTEM "http://evil.test/">\n<urlset/>'), SOURCE),
        'sitemap-entities',
        'has a <!ENTITY> declaration',
      );
    });

    it('says so when the sitemap is an HTML page', () => {
      // Act & Assess
      expectRefused(
        () => parseSitemap(bytes('<!doctype html><html><body>Not found</body></html>'), SOURCE),
        'sitemap-invalid',
        `sitemap ${SOURCE} is an HTML page, not a sitemap`,
      );
    });
  });

  describe('invalid XML', () => {
    it.each([
      ['<html><body>hi</body></html>', 'the root element is <html>, not <urlset> or <sitemapindex> (line 1, column 1)'],
      [
        `<urlset xmlns="${NS}">\n  <url>\n    <loc>https://site.test/a</url>\n</urlset>`,
        '<loc> opened at line 3, column 5 is not closed before this end tag (line 3, column 29)',
      ],
      [
        `<urlset xmlns="${NS}">\n<url><loc>https://site.test/a</loc></url>\n<url><loc>https://site.te`,
        'the document ends inside <loc> opened at line 3, column 6 (truncated?) (line 3, column 6)',
      ],
      ['<urlset></urlset>\n<urlset></urlset>', 'element <urlset> after the root element (line 2, column 1)'],
      ['<urlset></urlset>trailing', 'text "trailing" outside the root element (line 1, column 18)'],
      ['<?xml version="1.0"?>\n<!-- nothing -->', 'no root element (line 1, column 1)'],
    ])('refuses %j with a message saying where', (xml, message) => {
      // Act & Assess
      expectRefused(() => parseSitemap(bytes(xml), SOURCE), 'sitemap-invalid', `sitemap ${SOURCE} is not valid XML: ${message}`);
    });

    it('refuses binary content', () => {
      // Act & Assess
      expectRefused(() => parseSitemap(new Uint8Array([0x3c, 0x00, 0x01, 0x02]), SOURCE), 'sitemap-invalid', 'binary content');
    });
  });
});

describe('Function: modifiedSince', () => {
  const since = Date.parse('2024-05-01T12:00:00Z');

  it.each([
    [undefined, true],
    ['2024-05-01T12:00:01Z', true],
    ['2024-05-01T12:00:00Z', false],
    ['2024-05-01T13:00:00+02:00', false],
    ['2024-05-01', true],
    ['2024-04-30', false],
    ['2024-05', true],
    ['2024-04', false],
    ['2024', true],
    ['2023', false],
  ])('lastmod %s after 2024-05-01T12:00Z: %s', (lastmod, expected) => {
    // Act & Assess
    expect(modifiedSince({ loc: 'https://site.test/', offHost: false, ...(lastmod ? { lastmod } : {}) }, since)).toBe(expected);
  });

  it('keeps everything when there is no since', () => {
    // Act & Assess
    expect(modifiedSince({ loc: 'https://site.test/', lastmod: '2000', offHost: false }, undefined)).toBe(true);
  });
});

describe('Function: extendSitemapChain', () => {
  it('extends the chain up to maxDepth sitemaps', () => {
    // Act
    const first = extendSitemapChain([], 'https://site.test/index.xml');
    const second = extendSitemapChain(first, 'https://site.test/index-2.xml');
    const third = extendSitemapChain(second, 'https://site.test/pages.xml');

    // Assess
    expect(third).toEqual(['https://site.test/index.xml', 'https://site.test/index-2.xml', 'https://site.test/pages.xml']);
    expectRefused(
      () => extendSitemapChain(third, 'https://site.test/deeper.xml'),
      'sitemap-depth',
      'sitemap https://site.test/deeper.xml would be at depth 4 (https://site.test/index.xml → https://site.test/index-2.xml → https://site.test/pages.xml → https://site.test/deeper.xml), more than maxDepth 3',
    );
  });

  it('honours a maxDepth option', () => {
    // Act & Assess
    expectRefused(
      () => extendSitemapChain(['https://site.test/a.xml'], 'https://site.test/b.xml', { maxDepth: 1 }),
      'sitemap-depth',
      /maxDepth 1$/,
    );
  });

  it('refuses a loop, comparing normalised URLs', () => {
    // Prepare
    const chain = ['https://site.test/index.xml', 'https://site.test/child.xml'];

    // Act & Assess
    expectRefused(
      () => extendSitemapChain(chain, 'https://SITE.test:443/index.xml#top'),
      'sitemap-loop',
      'sitemap loop: https://SITE.test:443/index.xml#top is already in the chain https://site.test/index.xml → https://site.test/child.xml → https://SITE.test:443/index.xml#top',
    );
    expectRefused(
      () => extendSitemapChain(['https://site.test/self.xml'], 'https://site.test/self.xml'),
      'sitemap-loop',
      'sitemap loop',
    );
  });
});
