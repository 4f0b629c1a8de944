import { Agent, request } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { load } from 'cheerio/slim';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoServer, startDemoServer } from '../demo/server.js';
import { type Book, generateSite, ORIGIN_PLACEHOLDER, type Site } from '../demo/site.js';

const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];
const RATINGS = ['One', 'Two', 'Three', 'Four', 'Five'];

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
  const [month = '', day = '', year = ''] = row('Published').replace(',', '').split(' ');
  const monthNumber = String(MONTHS.indexOf(month) + 1).padStart(2, '0');
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
    published: `${year}-${monthNumber}-${day.padStart(2, '0')}`,
    url,
  };
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
    expect(generateSite({ seed: 7 }).books).not.toEqual(site.books);
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

  it('reaches every book and broken link by following pagination', () => {
    const { pages, links } = crawlListings(site);
    expect(pages).toEqual(site.listingPaths);
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
