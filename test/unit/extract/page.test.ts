import { describe, expect, it } from 'vitest';
import { ExtractionError, extractPage } from '../../../shared/extract/page.js';
import { parseJob } from '../../../shared/job/load.js';
import type { Job, PageContext } from '../../../shared/job/schema.js';
import { jobInput, pageSource, productJob, SHOP } from '../../fixtures/jobs.js';

const PRODUCT_PAGE = `<!doctype html>
<html><head><title>A Light in the Attic</title></head>
<body>
  <div class="product_main">
    <h1>  A Light
      in the   Attic </h1>
    <p class="price_color">£51.77</p>
    <p class="availability">
      In stock (22 available)
    </p>
    <p class="star-rating Three"></p>
    <img src="../media/cover.jpg" alt="cover">
    <div class="desc"><b>Bold</b> text</div>
  </div>
  <table class="table">
    <tr><th>UPC</th><td>a897fe39b1053632</td></tr>
    <tr><th>Published</th><td>March 5, 2019</td></tr>
    <tr><th>Number of reviews</th><td>0</td></tr>
  </table>
  <ul class="tags"><li class="tag">poetry</li><li class="tag"> kids </li><li class="tag"></li></ul>
</body></html>`;

const URL = `${SHOP}/catalogue/a-light-in-the-attic_1000/index.html`;

async function extractOne(fields: Record<string, unknown>, html = PRODUCT_PAGE, key?: string) {
  const job = productJob(fields, key === undefined ? {} : { key });
  const { items } = await extractPage(html, job, pageSource(URL));
  expect(items).toHaveLength(1);
  const [item] = items;
  if (!item) throw new Error('no item');
  return item;
}

function linkJob(follow: unknown[], templates: Record<string, unknown> = {}): Job {
  return parseJob(jobInput({ follow: follow as never, templates: templates as never }), 'links.yaml');
}

const LISTING_TEMPLATES = {
  listing: { key: 'page', fields: { page: { from: 'url' } } },
  product: { key: 'page', fields: { page: { from: 'url' } } },
};

describe('Function: extractPage (declarative fields)', () => {
  it('reads text, collapsing white space', async () => {
    // Act
    const item = await extractOne({ upc: 'table tr:has(th:contains("UPC")) td', title: 'h1' });

    // Assess
    expect(item).toEqual({
      key: 'a897fe39b1053632',
      data: { upc: 'a897fe39b1053632', title: 'A Light in the Attic' },
      problems: [],
    });
  });

  it('keeps white space when trim is false', async () => {
    // Act
    const item = await extractOne({ title: { selector: 'h1', trim: false } });

    // Assess
    expect(item.data.title).toBe('  A Light\n      in the   Attic ');
  });

  it('reads inner HTML with extract: html', async () => {
    // Act
    const item = await extractOne({ desc: { selector: 'div.desc', extract: 'html' } });

    // Assess
    expect(item.data.desc).toBe('<b>Bold</b> text');
  });

  it('reads an attribute, and resolves it with type url against the final URL', async () => {
    // Act
    const item = await extractOne({
      alt: { selector: 'img', attr: 'alt' },
      cover: { selector: 'img', attr: 'src', type: 'url' },
    });

    // Assess
    expect(item.data).toEqual({ alt: 'cover', cover: `${SHOP}/catalogue/media/cover.jpg` });
  });

  it('treats a missing attribute as no value', async () => {
    // Act
    const item = await extractOne({ upc: 'td', title: { selector: 'img', attr: 'title' } });

    // Assess
    expect(item.data).not.toHaveProperty('title');
    expect(item.problems).toEqual([]);
  });

  it('reads whether an element exists', async () => {
    // Act
    const item = await extractOne({
      upc: 'td',
      hasRating: { selector: 'p.star-rating', extract: 'exists', type: 'boolean' },
      onSale: { selector: 'p.sale', extract: 'exists', type: 'boolean' },
    });

    // Assess
    expect(item.data).toMatchObject({ hasRating: true, onSale: false });
  });

  it('collects every match with many, skipping empty ones', async () => {
    // Act
    const item = await extractOne({ upc: 'td', tags: { selector: 'li.tag', many: true } });

    // Assess
    expect(item.data.tags).toEqual(['poetry', 'kids']);
  });

  it('gives an empty list for a many field that matched nothing', async () => {
    // Act
    const item = await extractOne({ upc: 'td', badges: { selector: 'li.badge', many: true } });

    // Assess
    expect(item.data.badges).toEqual([]);
    expect(item.problems).toEqual([]);
  });

  it('converts every match of a many field and reports the ones that fail', async () => {
    // Prepare
    const html = '<ul><li>1</li><li>two</li><li>3.5</li></ul><b>k</b>';

    // Act
    const item = await extractOne({ id: 'b', numbers: { selector: 'li', many: true, type: 'integer' } }, html);

    // Assess
    expect(item.data.numbers).toEqual([1]);
    expect(item.problems).toEqual([
      { field: 'numbers', message: 'expected an integer, got "two"' },
      { field: 'numbers', message: 'expected an integer, got "3.5"' },
    ]);
  });

  it('reads the page URL with from: url', async () => {
    // Act
    const item = await extractOne({ url: { from: 'url', type: 'url' } });

    // Assess
    expect(item).toEqual({ key: URL, data: { url: URL }, problems: [] });
  });

  it('reads the final URL after redirects with from: url, where the item lives', async () => {
    // Prepare
    const job = productJob({ url: { from: 'url', type: 'url' }, slug: { from: 'url', pattern: '/author/([^/]+)/$' } });

    // Act
    const { items } = await extractPage('<h1>x</h1>', job, pageSource(`${SHOP}/author/zoe`, { finalUrl: `${SHOP}/author/zoe/` }));

    // Assess
    expect(items).toEqual([{ key: `${SHOP}/author/zoe/`, data: { url: `${SHOP}/author/zoe/`, slug: 'zoe' }, problems: [] }]);
  });

  it('applies the pattern of a from: url field', async () => {
    // Act
    const item = await extractOne({ id: { from: 'url', pattern: '/catalogue/([^/]+)_\\d+/' } });

    // Assess
    expect(item.data.id).toBe('a-light-in-the-attic');
  });

  it('applies the map of a from: url field, after its pattern', async () => {
    // Act
    const item = await extractOne({
      id: 'table tr:has(th:contains("UPC")) td',
      section: { from: 'url', pattern: '^https://[^/]+/([^/]+)/', map: { catalogue: 'books' } },
      missing: { from: 'url', pattern: '/nowhere/' },
    });

    // Assess
    expect(item.data).toEqual({ id: 'a897fe39b1053632', section: 'books' });
    expect(item.problems).toEqual([]);
  });

  it('types values: number, integer, boolean, date', async () => {
    // Act
    const item = await extractOne({
      upc: 'table tr:has(th:contains("UPC")) td',
      price: { selector: 'p.price_color', type: 'number' },
      stock: { selector: 'p.availability', type: 'integer', pattern: '\\((\\d+) available\\)' },
      inStock: { selector: 'p.availability', type: 'boolean', pattern: '^(In stock|Out of stock)' },
      published: { selector: 'table tr:has(th:contains("Published")) td', type: 'date' },
      reviews: { selector: 'table tr:has(th:contains("reviews")) td', type: 'integer' },
    });

    // Assess
    expect(item.data).toEqual({
      upc: 'a897fe39b1053632',
      price: 51.77,
      stock: 22,
      inStock: true,
      published: '2019-03-05',
      reviews: 0,
    });
  });

  it('reads numbers with a decimal comma', async () => {
    // Act
    const item = await extractOne(
      { id: 'b', price: { selector: 'i', type: 'number', decimal: ',' } },
      '<b>k</b><i>1.234,56 €</i>',
    );

    // Assess
    expect(item.data.price).toBe(1234.56);
  });

  it('keeps the whole match of a pattern without a group, and no value when it does not match', async () => {
    // Act
    const item = await extractOne({
      upc: 'td',
      digits: { selector: 'p.availability', pattern: '\\d+' },
      nothing: { selector: 'p.availability', pattern: 'Out of stock' },
    });

    // Assess
    expect(item.data.digits).toBe('22');
    expect(item.data).not.toHaveProperty('nothing');
  });

  it('maps text to values, and reports text without an entry', async () => {
    // Prepare
    const map = { One: 1, Two: 2, Three: 3 };

    // Act
    const item = await extractOne({
      upc: 'td',
      rating: { selector: 'p.star-rating', attr: 'class', pattern: '(One|Two|Three|Four|Five)', map, type: 'integer' },
      other: { selector: 'h1', map },
    });

    // Assess
    expect(item.data.rating).toBe(3);
    expect(item.data).not.toHaveProperty('other');
    expect(item.problems).toEqual([{ field: 'other', message: 'no entry in map for "A Light in the Attic"' }]);
  });

  it('applies defaults when nothing matched, including falsy defaults', async () => {
    // Act
    const item = await extractOne({
      upc: 'td',
      stock: { selector: 'p.none', type: 'integer', default: 0 },
      label: { selector: 'p.none', default: 'n/a' },
      tags: { selector: 'li.none', many: true, default: ['untagged'] },
    });

    // Assess
    expect(item.data).toMatchObject({ stock: 0, label: 'n/a', tags: ['untagged'] });
    expect(item.problems).toEqual([]);
  });

  it('reports required fields without a value, and leaves them out', async () => {
    // Act
    const item = await extractOne({
      upc: 'td',
      isbn: { selector: 'p.isbn', required: true },
      empty: { selector: 'li.tag:last-child', required: true },
      optional: 'p.none',
    });

    // Assess
    expect(item.data).toEqual({ upc: 'a897fe39b1053632' });
    expect(item.problems).toEqual([
      { field: 'isbn', message: 'required field is missing' },
      { field: 'empty', message: 'required field is missing' },
    ]);
  });

  it('reports a conversion failure and then the missing required value', async () => {
    // Act
    const item = await extractOne({ upc: 'td', price: { selector: 'h1', type: 'number', required: true } });

    // Assess
    expect(item.problems).toEqual([
      { field: 'price', message: 'expected a number, got "A Light in the Attic"' },
      { field: 'price', message: 'required field is missing' },
    ]);
  });

  it('reports an item without its key, whose key is then undefined', async () => {
    // Act
    const item = await extractOne({ sku: 'p.sku', title: 'h1' }, PRODUCT_PAGE, 'sku');

    // Assess
    expect(item.key).toBeUndefined();
    expect(item.data).toEqual({ title: 'A Light in the Attic' });
    expect(item.problems).toEqual([{ field: 'sku', message: 'required field is missing' }]);
  });

  it('renders a numeric key as a string', async () => {
    // Act
    const item = await extractOne({ reviews: { selector: 'table tr:has(th:contains("reviews")) td', type: 'integer' } });

    // Assess
    expect(item.key).toBe('0');
  });

  it('extracts one item per match of items, with fields relative to each', async () => {
    // Prepare
    const html = `<ol>
      <li class="pod"><h3><a href="p/1.html">One</a></h3><p class="price">£1.00</p></li>
      <li class="pod"><h3><a href="p/2.html">Two</a></h3><p class="price">£2.50</p></li>
      <li class="pod"><h3><a href="/p/3.html">Three</a></h3></li>
    </ol><p class="price">£99</p>`;
    const job = productJob(
      {
        link: { selector: 'h3 a', attr: 'href', type: 'url' },
        title: 'h3 a',
        price: { selector: 'p.price', type: 'number', required: true },
      },
      { items: 'li.pod' },
    );

    // Act
    const { items } = await extractPage(html, job, pageSource(`${SHOP}/catalogue/page-1.html`));

    // Assess
    expect(items).toEqual([
      {
        key: `${SHOP}/catalogue/p/1.html`,
        data: { link: `${SHOP}/catalogue/p/1.html`, title: 'One', price: 1 },
        problems: [],
      },
      {
        key: `${SHOP}/catalogue/p/2.html`,
        data: { link: `${SHOP}/catalogue/p/2.html`, title: 'Two', price: 2.5 },
        problems: [],
      },
      {
        key: `${SHOP}/p/3.html`,
        data: { link: `${SHOP}/p/3.html`, title: 'Three' },
        problems: [{ field: 'price', message: 'required field is missing' }],
      },
    ]);
  });

  it('extracts no items when the items selector matches nothing', async () => {
    // Prepare
    const job = productJob({ title: 'h3' }, { items: 'li.pod' });

    // Act
    const { items } = await extractPage('<p>empty</p>', job, pageSource());

    // Assess
    expect(items).toEqual([]);
  });

  it('extracts no items from a page fetched without a template', async () => {
    // Prepare
    const job = productJob({ title: 'h1' });

    // Act
    const { items } = await extractPage(PRODUCT_PAGE, job, pageSource(URL, { template: undefined }));

    // Assess
    expect(items).toEqual([]);
  });

  it('resolves url fields against the final URL after redirects', async () => {
    // Prepare
    const job = productJob({ cover: { selector: 'img', attr: 'src', type: 'url' } });

    // Act
    const { items } = await extractPage(PRODUCT_PAGE, job, pageSource(`${SHOP}/old`, { finalUrl: `${SHOP}/new/deep/page.html` }));

    // Assess
    expect(items[0]?.data.cover).toBe(`${SHOP}/new/media/cover.jpg`);
  });

  it('resolves url fields against <base href>', async () => {
    // Prepare
    const html = '<head><base href="https://cdn.example/assets/"></head><body><img src="cover.jpg"></body>';
    const job = productJob({ cover: { selector: 'img', attr: 'src', type: 'url' } });

    // Act
    const { items } = await extractPage(html, job, pageSource());

    // Assess
    expect(items[0]?.data.cover).toBe('https://cdn.example/assets/cover.jpg');
  });

  it('resolves url values of a code extractor, and its resolver, against <base href>', async () => {
    // Prepare
    const html = '<head><base href="https://cdn.example/assets/"></head><body></body>';
    const job = productJob(
      { cover: { selector: 'img', type: 'url' }, page: 'h1' },
      { extractor: (page: PageContext) => [{ cover: 'cover.jpg', page: page.resolve('x.html') }] },
    );

    // Act
    const { items } = await extractPage(html, job, pageSource());

    // Assess
    expect(items[0]?.data).toEqual({ cover: 'https://cdn.example/assets/cover.jpg', page: 'https://cdn.example/assets/x.html' });
  });
});

describe('Function: extractPage (follow rules)', () => {
  const LINKS = `<html><body>
    <ul class="pager"><li class="next"><a href="page-2.html">next</a></li></ul>
    <ol>
      <li><h3><a href="p/1.html">One</a></h3></li>
      <li><h3><a href="p/2.html#reviews">Two</a></h3></li>
      <li><h3><a href="/catalogue/p/2.html?utm_source=x">Two again</a></h3></li>
      <li><h3><a href="HTTPS://SHOP.EXAMPLE:443/catalogue/p/1.html">One again</a></h3></li>
    </ol>
    <a href="https://elsewhere.example/p/9.html">elsewhere</a>
    <a href="mailto:shop@example.com">mail</a>
    <a href="javascript:void(0)">js</a>
    <a href="tel:+441234">tel</a>
    <a href="data:text/html,hi">data</a>
    <a href="ftp://shop.example/file">ftp</a>
    <a>no href</a>
    <map><area href="/catalogue/area.html"></map>
  </body></html>`;
  const PAGE = pageSource(`${SHOP}/catalogue/page-1.html`, { template: undefined });

  it('follows every link with a pattern-only rule, normalised, deduplicated, on allowed hosts, http(s) only', async () => {
    // Prepare
    const job = linkJob([{ pattern: '.' }]);

    // Act
    const { links } = await extractPage(LINKS, job, PAGE);

    // Assess
    expect(links).toEqual([
      { url: `${SHOP}/catalogue/page-2.html`, template: undefined },
      { url: `${SHOP}/catalogue/p/1.html`, template: undefined },
      { url: `${SHOP}/catalogue/p/2.html`, template: undefined },
    ]);
  });

  it('follows links inside a container and links selected directly, with the rule template', async () => {
    // Prepare
    const job = linkJob(
      [
        { selector: 'ul.pager li.next', template: 'listing' },
        { selector: 'ol h3 a', template: 'product' },
      ],
      LISTING_TEMPLATES,
    );

    // Act
    const { links } = await extractPage(LINKS, job, PAGE);

    // Assess
    expect(links).toEqual([
      { url: `${SHOP}/catalogue/page-2.html`, template: 'listing' },
      { url: `${SHOP}/catalogue/p/1.html`, template: 'product' },
      { url: `${SHOP}/catalogue/p/2.html`, template: 'product' },
    ]);
  });

  it('follows area elements selected directly', async () => {
    // Prepare
    const job = linkJob([{ selector: 'area' }]);

    // Act
    const { links } = await extractPage(LINKS, job, PAGE);

    // Assess
    expect(links).toEqual([{ url: `${SHOP}/catalogue/area.html`, template: undefined }]);
  });

  it('keeps only links whose normalised URL matches the pattern', async () => {
    // Prepare
    const job = linkJob([{ selector: 'body', pattern: '/p/\\d+\\.html$' }]);

    // Act
    const { links } = await extractPage(LINKS, job, PAGE);

    // Assess
    expect(links.map((link) => link.url)).toEqual([`${SHOP}/catalogue/p/1.html`, `${SHOP}/catalogue/p/2.html`]);
  });

  it('follows links to every allowed host, and none elsewhere', async () => {
    // Prepare
    const job = linkJob([{ pattern: '/p/9' }]);

    // Act
    const allowed = await extractPage(LINKS, job, { ...PAGE, hosts: ['shop.example', 'elsewhere.example'] });
    const refused = await extractPage(LINKS, job, PAGE);

    // Assess
    expect(allowed.links).toEqual([{ url: 'https://elsewhere.example/p/9.html', template: undefined }]);
    expect(refused.links).toEqual([]);
  });

  it('compares hosts with their non-default port', async () => {
    // Prepare
    const html = '<a href="http://127.0.0.1:8321/a">a</a><a href="http://127.0.0.1:9999/b">b</a>';
    const job = linkJob([{ selector: 'a' }]);

    // Act
    const { links } = await extractPage(
      html,
      job,
      pageSource('http://127.0.0.1:8321/', { template: undefined, hosts: ['127.0.0.1:8321'] }),
    );

    // Assess
    expect(links.map((link) => link.url)).toEqual(['http://127.0.0.1:8321/a']);
  });

  it('applies a rule only on pages of the templates in its from list', async () => {
    // Prepare
    const job = linkJob(
      [
        { selector: 'ul.pager a', template: 'listing', from: ['start', 'listing'] },
        { selector: 'ol a', template: 'product', from: ['listing'] },
      ],
      LISTING_TEMPLATES,
    );

    // Act
    const onStart = await extractPage(LINKS, job, PAGE);
    const onListing = await extractPage(LINKS, job, { ...PAGE, template: 'listing' });
    const onProduct = await extractPage(LINKS, job, { ...PAGE, template: 'product' });

    // Assess
    expect(onStart.links.map((link) => link.template)).toEqual(['listing']);
    expect(onListing.links.map((link) => link.template)).toEqual(['listing', 'product', 'product']);
    expect(onProduct.links).toEqual([]);
  });

  it('lists a link matched by two rules once', async () => {
    // Prepare
    const job = linkJob([{ selector: 'ol a' }, { pattern: '/p/1\\.html' }]);

    // Act
    const { links } = await extractPage(LINKS, job, PAGE);

    // Assess
    expect(links.map((link) => link.url)).toEqual([`${SHOP}/catalogue/p/1.html`, `${SHOP}/catalogue/p/2.html`]);
  });

  it('resolves links against <base href>, falling back to the final URL for an unusable base', async () => {
    // Prepare
    const job = linkJob([{ selector: 'a' }]);
    const withBase = '<head><base href="/shelf/"></head><a href="x.html">x</a>';
    const badBase = '<head><base href="javascript:alert(1)"></head><a href="x.html">x</a>';

    // Act
    const based = await extractPage(withBase, job, pageSource(`${SHOP}/a/b.html`, { template: undefined }));
    const fallback = await extractPage(badBase, job, pageSource(`${SHOP}/a/b.html`, { template: undefined }));

    // Assess
    expect(based.links.map((link) => link.url)).toEqual([`${SHOP}/shelf/x.html`]);
    expect(fallback.links.map((link) => link.url)).toEqual([`${SHOP}/a/x.html`]);
  });

  it('resolves links against the final URL, not the requested one', async () => {
    // Prepare
    const job = linkJob([{ selector: 'a' }]);

    // Act
    const { links } = await extractPage(
      '<a href="next.html">n</a>',
      job,
      pageSource(`${SHOP}/old/start.html`, { template: undefined, finalUrl: `${SHOP}/new/start.html` }),
    );

    // Assess
    expect(links.map((link) => link.url)).toEqual([`${SHOP}/new/next.html`]);
  });

  it('finds no links in a job without follow rules', async () => {
    // Prepare
    const job = linkJob([]);

    // Act
    const { links } = await extractPage(LINKS, job, PAGE);

    // Assess
    expect(links).toEqual([]);
  });
});

describe('Function: extractPage (code extractors)', () => {
  it('types and validates the items an extractor returns, keeping extra keys', async () => {
    // Prepare
    const job = productJob(
      {
        sku: '.sku',
        price: { selector: '.p', type: 'number' },
        stock: { selector: '.s', type: 'integer' },
        link: { selector: 'a', type: 'url' },
      },
      {
        extractor: () => [
          { sku: 'A1', price: '£3.50', stock: 4, link: '/p/a1', extra: { nested: true } },
          { sku: 'B2', price: 'free', stock: 2.5, link: 'mailto:x@y.example' },
          { price: 1 },
        ],
      },
    );

    // Act
    const { items } = await extractPage('<p></p>', job, pageSource());

    // Assess
    expect(items).toEqual([
      { key: 'A1', data: { sku: 'A1', price: 3.5, stock: 4, link: `${SHOP}/p/a1`, extra: { nested: true } }, problems: [] },
      {
        key: 'B2',
        data: { sku: 'B2' },
        problems: [
          { field: 'price', message: 'expected a number, got "free"' },
          { field: 'stock', message: 'expected integer, got number' },
          { field: 'link', message: 'expected an http(s) URL, got "mailto:x@y.example"' },
        ],
      },
      { key: undefined, data: { price: 1 }, problems: [{ field: 'sku', message: 'required field is missing' }] },
    ]);
  });

  it('converts every element of an array value', async () => {
    // Prepare
    const job = productJob(
      { sku: '.sku', sizes: { selector: 'li', type: 'integer', many: true } },
      {
        extractor: () => [{ sku: 'A', sizes: ['1', 2, '3'] }],
      },
    );

    // Act
    const { items } = await extractPage('', job, pageSource());

    // Assess
    expect(items[0]?.data.sizes).toEqual([1, 2, 3]);
  });

  it('gives the extractor the page, its URLs, its template and a resolver', async () => {
    // Prepare
    let seen: PageContext | undefined;
    const job = productJob(
      { title: 'h1' },
      {
        extractor: async (page: PageContext) => {
          seen = page;
          return [{ title: page.$('h1').text(), resolved: page.resolve('../x.html'), refused: page.resolve('javascript:x') }];
        },
      },
    );

    // Act
    const { items } = await extractPage('<h1>Hi</h1>', job, pageSource(`${SHOP}/a/b/c.html`, { finalUrl: `${SHOP}/z/y/x.html` }));

    // Assess
    expect(seen).toMatchObject({ url: `${SHOP}/a/b/c.html`, finalUrl: `${SHOP}/z/y/x.html`, template: 'product' });
    expect(items[0]?.data).toEqual({ title: 'Hi', resolved: `${SHOP}/z/x.html`, refused: undefined });
  });

  it('applies defaults and required checks to extractor items', async () => {
    // Prepare
    const job = productJob(
      { sku: '.sku', stock: { selector: '.s', type: 'integer', default: 0 }, title: { selector: 'h1', required: true } },
      { extractor: () => [{ sku: 'A', title: '' }] },
    );

    // Act
    const { items } = await extractPage('', job, pageSource());

    // Assess
    expect(items).toEqual([
      { key: 'A', data: { sku: 'A', stock: 0 }, problems: [{ field: 'title', message: 'required field is missing' }] },
    ]);
  });

  it('reports a null key and a null required field as missing', async () => {
    // Prepare
    const job = productJob(
      { sku: '.sku', title: { selector: 'h1', required: true } },
      { extractor: () => [{ sku: null, title: null }] },
    );

    // Act
    const { items } = await extractPage('', job, pageSource());

    // Assess
    expect(items[0]?.key).toBeUndefined();
    expect(items[0]?.problems).toEqual([
      { field: 'sku', message: 'required field is missing' },
      { field: 'title', message: 'required field is missing' },
    ]);
  });

  it('turns an extractor that throws into an ExtractionError with reason extractor-error', async () => {
    // Prepare
    const cause = new Error('selector changed');
    const job = productJob(
      { sku: '.sku' },
      {
        extractor: () => {
          throw cause;
        },
      },
    );

    // Act
    const promise = extractPage('', job, pageSource());

    // Assess
    await expect(promise).rejects.toBeInstanceOf(ExtractionError);
    await expect(promise).rejects.toMatchObject({
      reason: 'extractor-error',
      retryable: false,
      cause,
      message: 'extractor of template "product" threw: selector changed',
    });
  });

  it('turns a rejected async extractor into an ExtractionError', async () => {
    // Prepare
    const job = productJob({ sku: '.sku' }, { extractor: async () => Promise.reject('plain string') });

    // Act & Assess
    await expect(extractPage('', job, pageSource())).rejects.toMatchObject({
      name: 'ExtractionError',
      message: 'extractor of template "product" threw: plain string',
    });
  });

  it.each([
    ['an object', { sku: 'A' }, 'extractor of template "product" returned object, expected an array of items'],
    ['undefined', undefined, 'extractor of template "product" returned undefined, expected an array of items'],
    ['a string', 'items', 'extractor of template "product" returned string, expected an array of items'],
    ['a list with null', [{ sku: 'A' }, null], 'extractor of template "product" returned a non-object item at index 1'],
    ['a list with a list', [['A']], 'extractor of template "product" returned a non-object item at index 0'],
    ['a list with a number', [3], 'extractor of template "product" returned a non-object item at index 0'],
  ])('refuses an extractor that returns %s', async (_what, output, message) => {
    // Prepare
    const job = productJob({ sku: '.sku' }, { extractor: () => output });

    // Act & Assess
    await expect(extractPage('', job, pageSource())).rejects.toMatchObject({
      name: 'ExtractionError',
      reason: 'extractor-error',
      message,
    });
  });

  it('returns no items for an empty list', async () => {
    // Prepare
    const job = productJob({ sku: '.sku' }, { extractor: () => [] });

    // Act & Assess
    await expect(extractPage('', job, pageSource())).resolves.toEqual({ items: [], links: [] });
  });
});

describe('Function: extractPage (malformed HTML)', () => {
  const job = productJob(
    { title: 'h1', deep: 'b.deep', attr: { selector: 'i', attr: 'data-x' } },
    {
      follow: [{ selector: 'a' }],
    },
  );

  it('reads pages with unclosed and stray tags', async () => {
    // Prepare
    const html = '<html><body><h1>Title<p>para<div><b class="deep">x</b></i></span></table><a href="/n">next';

    // Act
    const { items, links } = await extractPage(html, job, pageSource());

    // Assess
    expect(items[0]?.data.deep).toBe('x');
    expect(items[0]?.key).toMatch(/^Title/);
    expect(links).toEqual([{ url: `${SHOP}/n`, template: undefined }]);
  });

  it('reads a page nested 5,000 levels deep', async () => {
    // Prepare
    const html = `${'<div>'.repeat(5000)}<b class="deep">bottom</b><a href="/deep">d</a>${'</div>'.repeat(5000)}`;

    // Act
    const { items, links } = await extractPage(html, job, pageSource());

    // Assess
    expect(items[0]?.data.deep).toBe('bottom');
    expect(links).toEqual([{ url: `${SHOP}/deep`, template: undefined }]);
  });

  it('reads 5,000 unclosed nested elements', async () => {
    // Prepare
    const html = `${'<span><div>'.repeat(5000)}<b class="deep">bottom`;

    // Act
    const { items } = await extractPage(html, job, pageSource());

    // Assess
    expect(items[0]?.data.deep).toBe('bottom');
  });

  it('reads a huge attribute and a huge unterminated attribute', async () => {
    // Prepare
    const huge = 'x'.repeat(2_000_000);
    const html = `<h1>t</h1><i data-x="${huge}">i</i><a href="/${huge}">long</a><b class="deep" title="${huge}`;

    // Act
    const { items, links } = await extractPage(html, job, pageSource());

    // Assess
    expect(items[0]?.data.attr).toHaveLength(2_000_000);
    expect(links).toEqual([]);
  });

  it.each([
    ['an empty page', ''],
    ['binary noise', String.fromCharCode(...Array.from({ length: 4096 }, (_, index) => (index * 7919) % 256))],
    ['a lone <', '<'],
    ['comments and CDATA', '<!-- <h1>no</h1> --><![CDATA[<h1>no</h1>]]><h1>yes</h1>'],
    ['a script with markup', '<script>document.write("<h1>no</h1>")</script><h1>yes</h1>'],
  ])('never throws on %s', async (_what, html) => {
    // Act & Assess
    await expect(extractPage(html, job, pageSource())).resolves.toMatchObject({ items: [expect.any(Object)] });
  });
});
