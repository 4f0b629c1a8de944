import { Agent, request } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { load } from 'cheerio/slim';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoServer, startDemoServer } from '../demo/server.js';
import { type Author, type Book, generateSite, ORIGIN_PLACEHOLDER, type Quote, type Site } from '../demo/site.js';
import { isoDate } from './fixtures/dates.js';

const RATINGS = ['One', 'Two', 'Three', 'Four', 'Five'];

/** White space as a reader sees it: runs collapsed, ends trimmed. */
function squash(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** What a straightforward cheerio scraper extracts from a detail page. */
function scrapeDetail(html: string, url: string): Book {
  const $ = load(html);
  const main = $('div.product_main');
  const row = (name: string) =>
    $('table.table tr')
      .filter((_, tr) => $(tr).find('th').text() === name)
      .find('td')
      .text();
  const availability = main.find('p.availability').text();
  const ratingClass = main.find('p.star-rating').attr('class') ?? '';
  const description = $('#product_description + p');
  return {
    upc: row('UPC'),
    title: main.find('h1').text(),
    price: Number(main.find('p.price_color').text().replace('£', '')),
    inStock: availability.startsWith('In stock'),
    stock: Number(/\((\d+) available\)/.exec(availability)?.[1] ?? 0),
    rating: RATINGS.indexOf(ratingClass.replace('star-rating', '').trim()) + 1,
    category: $('ul.breadcrumb li').eq(-2).text(),
    tags: $('ul.tags li.tag')
      .map((_, li) => $(li).text())
      .get(),
    ...(description.length > 0 ? { description: description.text() } : {}),
    reviews: Number(row('Number of reviews')),
    published: isoDate(row('Published')),
    author: main.find('p.author a').text(),
    url,
  };
}

/** What a straightforward cheerio scraper extracts from an author page. */
function scrapeAuthor(html: string, url: string): Author {
  const $ = load(html);
  const details = $('div.author-details');
  return {
    name: details.find('h1.author-title').text(),
    born: isoDate(details.find('span.author-born-date').text()),
    birthplace: details.find('span.author-born-location').text().replace(/^in /, ''),
    bio: squash(details.find('div.author-description').text()),
    url,
  };
}

/** What a straightforward cheerio scraper extracts from a quote page: one quote per `div.quote`. */
function scrapeQuotes(html: string, url: string): Quote[] {
  const $ = load(html);
  return $('div.quotes div.quote')
    .map((_, element) => {
      const quote = $(element);
      return {
        id: quote.find('meta[itemprop="identifier"]').attr('content') ?? '',
        text: squash(quote.find('span.text').text()).replace(/^“|”$/g, ''),
        author: quote.find('small.author').text(),
        tags: quote
          .find('div.tags a.tag')
          .map((_, a) => $(a).text())
          .get(),
        likes: Number(
          quote
            .find('span.likes')
            .text()
            .replace(/[^0-9]/g, ''),
        ),
        url,
      };
    })
    .get();
}

/** One URL of a crawl: what was requested, where it ended after redirects, and its final status. */
interface Visit {
  path: string;
  finalPath: string;
  status: number;
  hops: number;
}

/** Requests a path the way a crawler does: redirects followed (Location resolved against the current URL). */
function visit(site: Site, path: string): Visit & { body: string } {
  let url = new URL(path, 'http://x');
  let hops = 0;
  for (;;) {
    const page = site.page(url.pathname);
    const location = page.headers?.Location;
    if (page.status < 300 || page.status >= 400 || location === undefined) {
      return { path, finalPath: url.pathname, status: page.status, hops, body: page.body };
    }
    if (++hops > 5) throw new Error(`redirect loop at ${path}`);
    url = new URL(location, url);
  }
}

/**
 * Crawls the site the way jobs/books.ts does: pagination, book links, each book's author link, each author
 * page's quotes link, every link resolved against the page's final URL, every URL requested once. Scrapes
 * each page reached with its template.
 */
function crawlSite(site: Site) {
  const { pages: listings, links } = crawlListings(site);
  const visits: Visit[] = [];
  const books: Book[] = [];
  const authors: Author[] = [];
  const quotes: Quote[] = [];
  const seen = new Set<string>();
  const queue: { path: string; template: 'book' | 'author' | 'quote' }[] = links.map((path) => ({ path, template: 'book' }));
  for (let next = queue.shift(); next; next = queue.shift()) {
    if (seen.has(next.path)) continue;
    seen.add(next.path);
    const { body, ...result } = visit(site, next.path);
    visits.push(result);
    if (result.status !== 200) continue;
    const $ = load(body);
    const base = new URL(result.finalPath, 'http://x');
    const follow = (selector: string, template: 'author' | 'quote') =>
      $(selector).each((_, a) => {
        queue.push({ path: new URL($(a).attr('href') ?? '', base).pathname, template });
      });
    if (next.template === 'book') {
      books.push(scrapeDetail(body, result.finalPath));
      follow('div.product_main p.author a', 'author');
    } else if (next.template === 'author') {
      authors.push(scrapeAuthor(body, result.finalPath));
      follow('a.quotes-link', 'quote');
    } else {
      quotes.push(...scrapeQuotes(body, result.finalPath));
    }
  }
  return { listings, visits, books, authors, quotes };
}

/** Follows `li.next a` from page 1, collecting resolved `article.product_pod h3 a` links. */
function crawlListings(site: Site): { pages: string[]; links: string[] } {
  const pages: string[] = [];
  const links: string[] = [];
  let next: string | undefined = 'http://x/catalogue/page-1.html';
  while (next) {
    const url: URL = new URL(next);
    pages.push(url.pathname);
    const $ = load(site.page(url.pathname).body);
    $('article.product_pod h3 a').each((_, a) => {
      links.push(new URL($(a).attr('href') ?? '', url).pathname);
    });
    const href = $('li.next a').attr('href');
    next = href === undefined ? undefined : new URL(href, url).href;
  }
  return { pages, links };
}

describe('generateSite', () => {
  const site = generateSite();

  it('is deterministic for a seed', () => {
    const again = generateSite();
    expect(again.books).toEqual(site.books);
    expect(again.broken).toEqual(site.broken);
    for (const path of [...site.listingPaths, '/', '/robots.txt', '/sitemap.xml']) {
      expect(again.page(path).body).toBe(site.page(path).body);
    }
    for (const book of site.books) expect(again.page(book.url).body).toBe(site.page(book.url).body);
    expect(again.authors).toEqual(site.authors);
    expect(again.quotes).toEqual(site.quotes);
    expect(again.redirects).toEqual(site.redirects);
    for (const path of [...site.redirects.map((r) => r.path), ...site.authors.map((a) => a.url), ...site.quotePaths]) {
      expect(again.page(path)).toEqual(site.page(path));
    }
    expect(generateSite({ seed: 7 }).books).not.toEqual(site.books);
    expect(generateSite({ seed: 7 }).authors).not.toEqual(site.authors);
  });

  it('has the default counts and well-formed books', () => {
    expect(site.books).toHaveLength(1000);
    expect(site.listingPaths).toHaveLength(50);
    expect(site.listingPaths[0]).toBe('/catalogue/page-1.html');
    expect(site.listingPaths[49]).toBe('/catalogue/page-50.html');
    expect(site.broken.filter((b) => b.status === 404)).toHaveLength(5);
    expect(site.broken.filter((b) => b.status === 500)).toHaveLength(2);
    expect(new Set(site.books.map((b) => b.upc)).size).toBe(1000);
    expect(new Set(site.books.map((b) => b.url)).size).toBe(1000);
    for (const book of site.books) {
      expect(book.upc).toMatch(/^[0-9a-f]{16}$/);
      expect(Math.round(book.price * 100) / 100).toBe(book.price);
      expect(book.rating).toBeGreaterThanOrEqual(1);
      expect(book.rating).toBeLessThanOrEqual(5);
      expect(book.tags.length).toBeLessThanOrEqual(4);
      expect(book.stock === 0).toBe(!book.inStock);
      expect(book.published).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    }
    // The data must exercise the scraper: escaping, non-ASCII, missing fields.
    expect(site.books.some((b) => /[&<"']/.test(b.title))).toBe(true);
    expect(site.books.some((b) => /[^ -~]/.test(b.title))).toBe(true);
    expect(site.books.some((b) => b.description === undefined)).toBe(true);
    expect(site.books.some((b) => b.tags.length === 0)).toBe(true);
    expect(site.books.some((b) => !b.inStock)).toBe(true);
  });

  it('has authors linked by the books, each link a redirect, and quote pages with several items', () => {
    expect(site.authors).toHaveLength(50);
    expect(new Set(site.authors.map((a) => a.name)).size).toBe(50);
    expect(new Set(site.authors.map((a) => a.url)).size).toBe(50);
    expect(new Set(site.books.map((b) => b.author))).toEqual(new Set(site.authors.map((a) => a.name)));
    expect(site.redirects).toEqual(site.authors.map((a) => ({ path: a.url.slice(0, -1), location: a.url })));
    for (const author of site.authors) {
      expect(author.url).toMatch(/^\/author\/[a-z0-9-]+\/$/);
      expect(author.born).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      expect(author.bio).toBe(squash(author.bio));
    }
    expect(site.authors.some((a) => /[^ -~]/.test(a.name))).toBe(true);
    expect(site.authors.some((a) => a.name.includes("'"))).toBe(true);
    expect(new Set(site.quotes.map((q) => q.id)).size).toBe(site.quotes.length);
    for (const quote of site.quotes) {
      expect(quote.id).toMatch(/^q-[0-9a-f]{8}$/);
      expect(quote.tags.length).toBeLessThanOrEqual(3);
      expect(site.authors.find((a) => a.name === quote.author)?.url).toBe(quote.url.replace(/quotes\.html$/, ''));
    }
    const perPage = site.quotePaths.map((path) => site.quotes.filter((q) => q.url === path).length);
    expect(perPage.every((count) => count >= 1)).toBe(true);
    expect(perPage.some((count) => count >= 3)).toBe(true);
    // Some authors have no quote page at all.
    expect(site.quotePaths.length).toBeLessThan(site.authors.length);
    expect(site.quotes.some((q) => q.likes >= 1000)).toBe(true);
  });

  it('crawls like the books job to exactly the ground truth of every template, redirects counted once', () => {
    const crawl = crawlSite(site);
    expect(crawl.listings).toEqual(site.listingPaths);
    // Every URL of the crawl once: a redirected author link is one URL, ending at the author page.
    const paths = crawl.visits.map((v) => v.path);
    expect(new Set(paths).size).toBe(paths.length);
    expect(paths.sort()).toEqual(
      [
        ...site.books.map((b) => b.url),
        ...site.broken.map((b) => b.path),
        ...site.redirects.map((r) => r.path),
        ...site.quotePaths,
      ].sort(),
    );
    const redirected = crawl.visits.filter((v) => v.hops > 0);
    expect(redirected.map((v) => ({ path: v.path, location: v.finalPath })).sort((a, b) => a.path.localeCompare(b.path))).toEqual(
      [...site.redirects].sort((a, b) => a.path.localeCompare(b.path)),
    );
    expect(redirected.every((v) => v.hops === 1 && v.status === 200)).toBe(true);
    const failed = crawl.visits.filter((v) => v.status !== 200).map((v) => ({ path: v.path, status: v.status }));
    expect(failed).toEqual(expect.arrayContaining(site.broken));
    expect(failed).toHaveLength(site.broken.length);
    // Every field of every item of every template.
    const byKey = <T>(items: T[], key: (item: T) => string) => [...items].sort((a, b) => key(a).localeCompare(key(b)));
    expect(byKey(crawl.books, (b) => b.upc)).toStrictEqual(byKey(site.books, (b) => b.upc));
    expect(byKey(crawl.authors, (a) => a.name)).toStrictEqual(byKey(site.authors, (a) => a.name));
    expect(byKey(crawl.quotes, (q) => q.id)).toStrictEqual(byKey(site.quotes, (q) => q.id));
  });

  it('answers an author link with a 301 whose page links its quotes relative to the final URL', () => {
    const author = site.authors.find((a) => site.quotePaths.includes(`${a.url}quotes.html`)) as Author;
    const moved = site.page(author.url.slice(0, -1));
    expect(moved.status).toBe(301);
    expect(moved.headers?.Location).toBe(author.url);
    const href = load(site.page(author.url).body)('a.quotes-link').attr('href') ?? '';
    expect(new URL(href, `http://x${author.url}`).pathname).toBe(`${author.url}quotes.html`);
    // Resolved against the requested URL instead, the link misses.
    const wrong = new URL(href, `http://x${author.url.slice(0, -1)}`).pathname;
    expect(wrong).toBe('/author/quotes.html');
    expect(site.page(wrong).status).toBe(404);
    const book = site.books.find((b) => b.author === author.name) as Book;
    const link = load(site.page(book.url).body)('div.product_main p.author a').attr('href') ?? '';
    expect(new URL(link, `http://x${book.url}`).pathname).toBe(author.url.slice(0, -1));
  });

  it('reaches every book and broken link by following pagination', () => {
    const { pages, links } = crawlListings(site);
    expect(pages).toEqual(site.listingPaths);
    expect(site.broken.every((b) => b.path.startsWith('/catalogue/'))).toBe(true);
    expect(links.sort()).toEqual([...site.books.map((b) => b.url), ...site.broken.map((b) => b.path)].sort());
    const page2 = load(site.page('/catalogue/page-2.html').body);
    expect(page2('ul.pager li.current').text()).toBe('Page 2 of 50');
    expect(page2('ul.pager li.previous a').attr('href')).toBe('page-1.html');
    const hrefs = page2('article.product_pod h3 a')
      .map((_, a) => page2(a).attr('href'))
      .get();
    expect(hrefs.some((h) => h.startsWith('../catalogue/'))).toBe(true);
    expect(hrefs.some((h) => !h.startsWith('../'))).toBe(true);
    expect(load(site.page('/catalogue/page-50.html').body)('li.next')).toHaveLength(0);
  });

  it('answers broken, unknown and auxiliary paths', () => {
    for (const { path, status } of site.broken) expect(site.page(path).status).toBe(status);
    const missing = site.page('/no/such/page');
    expect(missing.status).toBe(404);
    expect(missing.contentType).toBe('text/html; charset=utf-8');
    expect(site.page('/').body).toContain('href="/catalogue/page-1.html"');
    expect(site.page('/robots.txt').body).toBe(`User-agent: *\nDisallow: /admin/\nSitemap: ${ORIGIN_PLACEHOLDER}/sitemap.xml\n`);
    const sitemap = load(site.page('/sitemap.xml').body, { xml: true });
    const locs = sitemap('loc')
      .map((_, loc) => sitemap(loc).text())
      .get();
    expect(locs).toEqual(site.books.map((b) => ORIGIN_PLACEHOLDER + b.url));
  });

  it('renders detail pages that scrape back to exactly the ground truth', () => {
    for (const book of site.books) {
      const page = site.page(book.url);
      expect(page.status).toBe(200);
      expect(scrapeDetail(page.body, book.url)).toStrictEqual(book);
      const size = Buffer.byteLength(page.body);
      expect(size).toBeGreaterThan(8 * 1024);
      expect(size).toBeLessThan(15 * 1024);
    }
  });

  it('produces the next version of the site with edits', () => {
    const base = generateSite({ seed: 3, books: 200 });
    const next = generateSite({ seed: 3, books: 200, edits: { change: 12, add: 5, remove: 7 } });
    expect(next.books).toHaveLength(198);
    const before = new Map(base.books.map((b) => [b.upc, b]));
    const after = new Map(next.books.map((b) => [b.upc, b]));
    expect(base.books.filter((b) => !after.has(b.upc))).toHaveLength(7);
    expect(next.books.filter((b) => !before.has(b.upc))).toHaveLength(5);
    const changed = next.books.filter((b) => {
      const old = before.get(b.upc);
      return old !== undefined && JSON.stringify(old) !== JSON.stringify(b);
    });
    expect(changed).toHaveLength(12);
    for (const book of changed) expect(book.price).not.toBe(before.get(book.upc)?.price);
    expect(changed.some((b) => b.title !== before.get(b.upc)?.title)).toBe(true);
    expect(changed.some((b) => b.tags.join() !== before.get(b.upc)?.tags.join())).toBe(true);
    for (const book of next.books) {
      expect(scrapeDetail(next.page(book.url).body, book.url)).toStrictEqual(book);
      const old = before.get(book.upc);
      if (old === undefined) continue;
      const same = next.page(book.url).body === base.page(book.url).body;
      expect(same).toBe(!changed.includes(book));
    }
    for (const old of base.books) if (!after.has(old.upc)) expect(next.page(old.url).status).toBe(404);
    const { links } = crawlListings(next);
    const broken = new Set(next.broken.map((b) => b.path));
    expect(links.filter((l) => !broken.has(l)).sort()).toEqual(next.books.map((b) => b.url).sort());
  });

  it('edits authors and quotes: a changed bio, removed author pages behind their redirects, dropped quotes', () => {
    const options = { seed: 3, books: 200 };
    const base = generateSite(options);
    const next = generateSite({ ...options, edits: { changeAuthors: 2, removeAuthors: 1, removeQuotes: 3 } });
    expect(next.books).toEqual(base.books);
    for (const book of base.books) expect(next.page(book.url).body).toBe(base.page(book.url).body);
    expect(next.redirects).toEqual(base.redirects);
    const names = new Set(next.authors.map((a) => a.name));
    const gone = base.authors.filter((a) => !names.has(a.name));
    expect(gone).toHaveLength(1);
    const changed = next.authors.filter((a) => {
      const old = base.authors.find((b) => b.name === a.name);
      return JSON.stringify(old) !== JSON.stringify(a);
    });
    expect(changed).toHaveLength(2);
    for (const author of changed) {
      const old = base.authors.find((b) => b.name === author.name) as Author;
      expect({ ...author, bio: old.bio }).toEqual(old);
      expect(author.bio).not.toBe(old.bio);
    }
    const removedAuthor = gone[0] as Author;
    const link = removedAuthor.url.slice(0, -1);
    expect(next.broken).toEqual([...base.broken, { path: link, status: 404 }]);
    expect(next.page(link).status).toBe(301);
    expect(visit(next, link)).toMatchObject({ finalPath: removedAuthor.url, status: 404, hops: 1 });
    expect(next.page(`${removedAuthor.url}quotes.html`).status).toBe(404);
    const ids = new Set(next.quotes.map((q) => q.id));
    const lost = base.quotes.filter((q) => !ids.has(q.id));
    expect(lost.filter((q) => q.author !== removedAuthor.name)).toHaveLength(3);
    expect(lost.filter((q) => q.author === removedAuthor.name)).toEqual(
      base.quotes.filter((q) => q.author === removedAuthor.name),
    );
    expect(next.quotePaths).toEqual(base.quotePaths.filter((path) => !path.startsWith(removedAuthor.url)));
    // The crawl of the next version scrapes back to its ground truth.
    const crawl = crawlSite(next);
    expect(crawl.authors).toEqual(expect.arrayContaining(next.authors));
    expect(crawl.authors).toHaveLength(next.authors.length);
    expect(crawl.quotes).toEqual(expect.arrayContaining(next.quotes));
    expect(crawl.quotes).toHaveLength(next.quotes.length);
  });

  it('drops the author of removed books from the site when no book links it any more', () => {
    const base = generateSite({ seed: 5, books: 30, authors: 12 });
    const next = generateSite({ seed: 5, books: 30, authors: 12, edits: { remove: 20 } });
    const linked = (site: Site) => new Set(site.books.map((b) => b.author));
    expect(base.authors.map((a) => a.name).sort()).toEqual([...linked(base)].sort());
    expect(next.authors.map((a) => a.name).sort()).toEqual([...linked(next)].sort());
    expect(next.authors.length).toBeLessThan(base.authors.length);
    for (const author of base.authors.filter((a) => !linked(next).has(a.name))) {
      expect(next.page(author.url.slice(0, -1)).status).toBe(404);
      expect(next.page(author.url).status).toBe(404);
    }
  });

  it('breaks a selector on every detail page when asked', () => {
    const priceBroken = generateSite({ books: 50, edits: { breakSelector: 'price' } });
    for (const book of priceBroken.books) {
      const $ = load(priceBroken.page(book.url).body);
      expect($('p.price_color')).toHaveLength(0);
      expect($('div.product_main p.price').text()).toBe(`£${book.price.toFixed(2)}`);
    }
    expect(load(priceBroken.page('/catalogue/page-1.html').body)('p.price_color').length).toBeGreaterThan(0);
    const titleBroken = generateSite({ books: 50, edits: { breakSelector: 'title' } });
    for (const book of titleBroken.books) {
      expect(load(titleBroken.page(book.url).body)('div.product_main h1')).toHaveLength(0);
    }
  });

  it('rejects impossible options', () => {
    expect(() => generateSite({ books: 10, edits: { change: 6, remove: 5 } })).toThrow(RangeError);
    expect(() => generateSite({ perPage: 0 })).toThrow(RangeError);
    expect(() => generateSite({ books: -1 })).toThrow(RangeError);
    expect(() => generateSite({ authors: 0 })).toThrow(RangeError);
    expect(() => generateSite({ books: 40, edits: { changeAuthors: 1, removeAuthors: 2 } })).toThrow(RangeError);
    expect(() => generateSite({ books: 40, edits: { removeQuotes: 1000 } })).toThrow(RangeError);
  });

  it('still has one listing page when empty', () => {
    const empty = generateSite({ books: 0, brokenNotFound: 0, brokenServerError: 0 });
    expect(empty.listingPaths).toEqual(['/catalogue/page-1.html']);
    expect(empty.page('/catalogue/page-1.html').status).toBe(200);
  });
});

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** node:http instead of fetch, which would hide Content-Encoding by decoding for us. */
function rawGet(url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('startDemoServer', () => {
  const site = generateSite({ books: 60 });
  let server: DemoServer;
  const book = site.books[0] as Book;

  beforeAll(async () => {
    server = await startDemoServer({ site });
  });
  afterAll(async () => {
    await server.close();
  });

  it('listens on a random local port', () => {
    expect(server.port).toBeGreaterThan(0);
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
  });

  it('serves pages with validators and answers If-None-Match with 304', async () => {
    const res = await rawGet(server.url + book.url);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['content-length']).toBe(String(res.body.length));
    expect(res.body.toString('utf8')).toBe(site.page(book.url).body);
    const etag = res.headers.etag as string;
    expect(etag).toMatch(/^"[^"]+"$/);
    const lastModified = res.headers['last-modified'];
    expect(Number.isNaN(Date.parse(String(lastModified)))).toBe(false);

    const again = await rawGet(server.url + book.url);
    expect(again.headers.etag).toBe(etag);
    expect(again.headers['last-modified']).toBe(lastModified);

    const notModified = await rawGet(server.url + book.url, { 'If-None-Match': etag });
    expect(notModified.status).toBe(304);
    expect(notModified.body).toHaveLength(0);
    expect(notModified.headers.etag).toBe(etag);

    const stale = await rawGet(server.url + book.url, { 'If-None-Match': '"nope"' });
    expect(stale.status).toBe(200);
  });

  it('gzips when asked', async () => {
    const res = await rawGet(server.url + book.url, { 'Accept-Encoding': 'gzip, deflate' });
    expect(res.headers['content-encoding']).toBe('gzip');
    expect(res.headers['content-length']).toBe(String(res.body.length));
    expect(res.headers.vary).toBe('Accept-Encoding');
    expect(gunzipSync(res.body).toString('utf8')).toBe(site.page(book.url).body);
    const etag = res.headers.etag as string;
    const notModified = await rawGet(server.url + book.url, { 'Accept-Encoding': 'gzip', 'If-None-Match': etag });
    expect(notModified.status).toBe(304);
    const refused = await rawGet(server.url + book.url, { 'Accept-Encoding': 'gzip;q=0' });
    expect(refused.headers['content-encoding']).toBeUndefined();
    const small = await rawGet(`${server.url}/robots.txt`, { 'Accept-Encoding': 'gzip' });
    expect(small.headers['content-encoding']).toBeUndefined();
  });

  it('works with fetch, HEAD and error statuses', async () => {
    const res = await fetch(server.url + book.url);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(site.page(book.url).body);
    const head = await rawGet(server.url + book.url, {}, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.body).toHaveLength(0);
    expect(head.headers['content-length']).toBe(String(Buffer.byteLength(site.page(book.url).body)));
    expect((await fetch(`${server.url}/nope`)).status).toBe(404);
    for (const { path, status } of site.broken) expect((await fetch(server.url + path)).status).toBe(status);
    expect((await fetch(server.url + book.url, { method: 'POST' })).status).toBe(405);
  });

  it('redirects an author link to the author page with a trailing slash', async () => {
    const { path, location } = site.redirects[0] as { path: string; location: string };
    const moved = await rawGet(server.url + path);
    expect(moved.status).toBe(301);
    expect(moved.headers.location).toBe(location);
    expect(moved.headers.etag).toBeUndefined();
    const followed = await fetch(server.url + path);
    expect(followed.status).toBe(200);
    expect(followed.url).toBe(server.url + location);
    expect(await followed.text()).toBe(site.page(location).body);
  });

  it('puts the real origin into robots.txt and sitemap.xml', async () => {
    const robots = await (await fetch(`${server.url}/robots.txt`)).text();
    expect(robots).toContain(`Sitemap: ${server.url}/sitemap.xml`);
    const sitemap = await (await fetch(`${server.url}/sitemap.xml`)).text();
    expect(sitemap).toContain(`<loc>${server.url}${book.url}</loc>`);
    expect(sitemap).not.toContain(ORIGIN_PLACEHOLDER);
  });

  it('keeps connections alive', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const get = () =>
      new Promise<boolean>((resolve, reject) => {
        const req = request(`${server.url}/`, { agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(req.reusedSocket));
        });
        req.on('error', reject);
        req.end();
      });
    try {
      expect(await get()).toBe(false);
      expect(await get()).toBe(true);
    } finally {
      agent.destroy();
    }
  });

  it('records requests', async () => {
    const before = server.requests.length;
    await fetch(`${server.url}/catalogue/page-1.html?x=1`, { headers: { 'User-Agent': 'demo-test' } });
    const last = server.requests.at(-1);
    expect(server.requests).toHaveLength(before + 1);
    expect(last?.path).toBe('/catalogue/page-1.html?x=1');
    expect(last?.method).toBe('GET');
    expect(last?.headers['user-agent']).toBe('demo-test');
  });

  it('swaps the site at run time', async () => {
    const edited = generateSite({ books: 60, edits: { change: 60 } });
    const old = await rawGet(server.url + book.url);
    server.setSite(edited);
    try {
      const res = await rawGet(server.url + book.url, { 'If-None-Match': old.headers.etag as string });
      expect(res.status).toBe(200);
      expect(res.body.toString('utf8')).toBe(edited.page(book.url).body);
    } finally {
      server.setSite(site);
    }
  });

  it('closes, including idle keep-alive connections', async () => {
    const other = await startDemoServer({ site });
    await fetch(`${other.url}/`).then((r) => r.text());
    await other.close();
    await expect(fetch(`${other.url}/`)).rejects.toThrow();
    await other.close();
  });
});
