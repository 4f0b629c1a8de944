import { describe, expect, it } from 'vitest';
import { extractPage } from '../../../shared/extract/page.js';
import { JobValidationError } from '../../../shared/job/errors.js';
import { parseJob } from '../../../shared/job/load.js';
import { jobInput, pageSource, productJob, SHOP, validationProblems } from '../../fixtures/jobs.js';

const URL = `${SHOP}/p/lamp`;

/** A product page publishing JSON-LD (with a `@graph` and a reference), microdata and OpenGraph tags. */
const PRODUCT_PAGE = `<!doctype html>
<html><head>
  <meta property="og:title" content="Desk Lamp">
  <meta property="og:image" content="/img/lamp-1.jpg">
  <meta property="og:image" content="/img/lamp-2.jpg">
  <meta name="Description" content="  A lamp   for desks. ">
  <meta property="product:price:amount" content="24,90">
  <script type="application/ld+json">
    {"@context": "https://schema.org", "@type": "BreadcrumbList", "itemListElement": []}
  </script>
  <script type="Application/LD+JSON; charset=utf-8">
  {
    "@context": "https://schema.org",
    "@graph": [
      {"@id": "#brand", "@type": "Brand", "name": "Lumen"},
      {
        "@type": ["Product", "IndividualProduct"],
        "sku": "LMP-1",
        "name": "  Desk   Lamp ",
        "brand": {"@id": "#brand"},
        "offers": [
          {"@type": "Offer", "price": 24.9, "priceCurrency": "EUR", "availability": "https://schema.org/InStock"},
          {"@type": "Offer", "price": "22.50", "priceCurrency": "EUR"}
        ],
        "aggregateRating": {"@type": "AggregateRating", "ratingValue": {"@value": "4.5"}, "reviewCount": 12},
        "releaseDate": "2024-03-05",
        "isAccessoryOrSparePartFor": true
      }
    ]
  }
  </script>
</head><body>
  <div itemscope itemtype="https://schema.org/Article">
    <h1 itemprop="headline">Lamps of the year</h1>
    <span itemprop="author" itemscope itemtype="https://schema.org/Person"><span itemprop="name">Ada</span></span>
    <time itemprop="datePublished" datetime="2024-05-01">May 1st</time>
    <a itemprop="url" href="/blog/lamps">read</a>
    <meta itemprop="keywords" content="lamps"><meta itemprop="keywords" content="desks">
  </div>
</body></html>`;

async function extractOne(fields: Record<string, unknown>, html = PRODUCT_PAGE, options: { items?: string } = {}) {
  const job = productJob(fields, options);
  const { items } = await extractPage(html, job, pageSource(URL));
  return items;
}

describe('Function: extractPage (structured data)', () => {
  it('reads JSON-LD by type and property path, through @graph, references, lists and @value', async () => {
    // Act
    const [item] = await extractOne({
      sku: { from: 'jsonld', itemType: 'Product', path: 'sku' },
      name: { from: 'jsonld', itemType: 'https://schema.org/Product', path: 'name' },
      brand: { from: 'jsonld', itemType: 'schema:Product', path: 'brand.name' },
      price: { from: 'jsonld', itemType: 'Product', path: 'offers.price', type: 'number' },
      prices: { from: 'jsonld', itemType: 'Product', path: 'offers.price', type: 'number', many: true },
      inStock: {
        from: 'jsonld',
        itemType: 'Product',
        path: 'offers.availability',
        pattern: '(InStock|OutOfStock)$',
        map: { InStock: true, OutOfStock: false },
        type: 'boolean',
      },
      rating: { from: 'jsonld', itemType: 'Product', path: 'aggregateRating.ratingValue', type: 'number' },
      reviews: { from: 'jsonld', itemType: 'Product', path: 'aggregateRating.reviewCount' },
      released: { from: 'jsonld', itemType: 'Product', path: 'releaseDate', type: 'date' },
      accessory: { from: 'jsonld', itemType: 'IndividualProduct', path: 'isAccessoryOrSparePartFor', type: 'boolean' },
      gtin: { from: 'jsonld', itemType: 'Product', path: 'gtin13' },
    });

    // Assess: numbers stay numbers, a number read as a string is its text, a missing property is no value
    expect(item).toEqual({
      key: 'LMP-1',
      data: {
        sku: 'LMP-1',
        name: 'Desk Lamp',
        brand: 'Lumen',
        price: 24.9,
        prices: [24.9, 22.5],
        inStock: true,
        rating: 4.5,
        reviews: '12',
        released: '2024-03-05',
        accessory: true,
      },
      problems: [],
    });
  });

  it('reads OpenGraph and other meta tags by property or name, in any case', async () => {
    // Act
    const [item] = await extractOne({
      title: { from: 'meta', name: 'og:title' },
      images: { from: 'meta', name: 'og:image', type: 'url', many: true },
      description: { from: 'meta', name: 'description' },
      price: { from: 'meta', name: 'product:price:amount', type: 'number', decimal: ',' },
      card: { from: 'meta', name: 'twitter:card' },
    });

    // Assess
    expect(item).toEqual({
      key: 'Desk Lamp',
      data: {
        title: 'Desk Lamp',
        images: [`${SHOP}/img/lamp-1.jpg`, `${SHOP}/img/lamp-2.jpg`],
        description: 'A lamp for desks.',
        price: 24.9,
      },
      problems: [],
    });
  });

  it('reads microdata: nested items, the values of meta, time and link elements, repeated properties', async () => {
    // Act
    const [item] = await extractOne({
      headline: { from: 'microdata', itemType: 'Article', path: 'headline' },
      author: { from: 'microdata', itemType: 'Article', path: 'author.name' },
      published: { from: 'microdata', itemType: 'Article', path: 'datePublished', type: 'date' },
      url: { from: 'microdata', itemType: 'Article', path: 'url', type: 'url' },
      keywords: { from: 'microdata', itemType: 'Article', path: 'keywords', many: true },
      person: { from: 'microdata', itemType: 'Person', path: 'name' },
    });

    // Assess
    expect(item).toEqual({
      key: 'Lamps of the year',
      data: {
        headline: 'Lamps of the year',
        author: 'Ada',
        published: '2024-05-01',
        url: `${SHOP}/blog/lamps`,
        keywords: ['lamps', 'desks'],
        person: 'Ada',
      },
      problems: [],
    });
  });

  it('reads microdata inside each item root when the template has items', async () => {
    // Prepare
    const html = `<ul>
      <li itemscope itemtype="http://schema.org/Product"><b itemprop="name">A</b><i itemprop="sku">1</i></li>
      <li itemscope itemtype="http://schema.org/Product"><b itemprop="name">B</b><i itemprop="sku">2</i></li>
    </ul>`;

    // Act
    const items = await extractOne(
      {
        sku: { from: 'microdata', itemType: 'Product', path: 'sku' },
        name: { from: 'microdata', itemType: 'Product', path: 'name' },
      },
      html,
      { items: 'li' },
    );

    // Assess
    expect(items.map((item) => item.data)).toEqual([
      { sku: '1', name: 'A' },
      { sku: '2', name: 'B' },
    ]);
  });

  it('records a problem when the path ends at an object, naming the properties to go on with', async () => {
    // Act
    const [item] = await extractOne({
      sku: { from: 'jsonld', itemType: 'Product', path: 'sku' },
      brand: { from: 'jsonld', itemType: 'Product', path: 'brand' },
    });

    // Assess
    expect(item?.problems).toEqual([
      { field: 'brand', message: '"brand" is an object (@id, @type, name), not a value: extend the path, e.g. "brand.name"' },
    ]);
    expect(item?.data).toEqual({ sku: 'LMP-1' });
  });

  it('records malformed JSON-LD as a problem of the fields it leaves without a value, never a crash', async () => {
    // Prepare: one block is cut short, the other is fine
    const html = `<script type="application/ld+json">{"@type": "Product", "sku": "X-1", "offers": {"price": </script>
      <script type="application/ld+json"><!-- {"@type": "Organization", "name": "Shop"} --></script>
      <h1>X</h1>`;

    // Act
    const [item] = await extractOne(
      {
        title: 'h1',
        sku: { from: 'jsonld', itemType: 'Product', path: 'sku' },
        seller: { from: 'jsonld', itemType: 'Organization', path: 'name' },
      },
      html,
    );

    // Assess: the readable block (wrapped in an HTML comment) still counts
    expect(item?.data).toEqual({ title: 'X', seller: 'Shop' });
    expect(item?.problems).toHaveLength(1);
    expect(item?.problems[0]?.field).toBe('sku');
    expect(item?.problems[0]?.message).toMatch(/^no Product node; JSON-LD block 1 is not valid JSON: /);
  });

  it('leaves a field without structured data missing, and the item invalid only when the field is required', async () => {
    // Act
    const [item] = await extractOne(
      {
        title: 'h1',
        sku: { from: 'jsonld', itemType: 'Product', path: 'sku', required: true },
        og: { from: 'meta', name: 'og:title', default: 'none' },
        md: { from: 'microdata', itemType: 'Product', path: 'name' },
      },
      '<h1>Plain</h1>',
    );

    // Assess
    expect(item).toEqual({
      key: 'Plain',
      data: { title: 'Plain', og: 'none' },
      problems: [{ field: 'sku', message: 'required field is missing' }],
    });
  });
});

describe('Job model: structured-data fields', () => {
  function problemsOf(fields: Record<string, unknown>): string[] {
    return validationProblems(() => productJob({ id: 'h1', ...fields }));
  }

  it('requires the keys of each source and refuses those of other sources', () => {
    // Act
    const problems = problemsOf({
      a: { from: 'jsonld', path: 'sku' },
      b: { from: 'microdata', itemType: 'Product' },
      c: { from: 'meta' },
      d: { from: 'meta', name: 'og:title', selector: 'h1', path: 'x' },
      e: { from: 'jsonld', itemType: 'Product', path: 'offers..price', attr: 'href' },
      f: { selector: 'h1', itemType: 'Product' },
      g: { from: 'jsonld', itemType: 'Some Product', path: 'name' },
    });

    // Assess
    expect(problems).toEqual([
      'templates.product.fields.a.itemType: required with from: "jsonld"',
      'templates.product.fields.b.path: required with from: "microdata"',
      'templates.product.fields.c.name: required with from: "meta"',
      'templates.product.fields.d.selector: not allowed with from: "meta" (only with from: "selector")',
      'templates.product.fields.d.path: not allowed with from: "meta" (only with from: "jsonld" or "microdata")',
      'templates.product.fields.e.path: property names separated by dots, e.g. "offers.price"',
      'templates.product.fields.e.attr: reads a selector match: not allowed with from: "jsonld"',
      'templates.product.fields.f.itemType: not allowed with from: "selector" (only with from: "jsonld" or "microdata")',
      'templates.product.fields.g.itemType: one schema.org type or type IRI, without spaces',
    ]);
  });
});

describe('Function: extractPage (fallbacks and presets)', () => {
  it('reads a fallback only when the sources before it give no value, keeping their problems only when none does', async () => {
    // Prepare: the JSON-LD block is broken; the microdata has the SKU, nothing has the GTIN
    const html = `<script type="application/ld+json">{"@type": "Product", </script>
      <div itemscope itemtype="https://schema.org/Product"><span itemprop="sku">MD-7</span></div>`;
    const sources = (path: string) => ({
      from: 'jsonld',
      itemType: 'Product',
      path,
      fallback: [{ from: 'microdata', itemType: 'Product', path }, { selector: `.${path}` }],
    });

    // Act
    const [item] = await extractOne({ sku: sources('sku'), gtin: sources('gtin13') }, html);

    // Assess
    expect(item?.data).toEqual({ sku: 'MD-7' });
    expect(item?.problems.map((problem) => problem.field)).toEqual(['gtin']);
    expect(item?.problems[0]?.message).toMatch(/^no Product node; JSON-LD block 1 is not valid JSON/);
  });

  it('emits schema.org Products from JSON-LD, microdata or OpenGraph tags, whichever the page has', async () => {
    // Prepare
    const job = parseJob(
      jobInput({ start: { urls: [`${SHOP}/`], template: 'product' }, templates: { product: { preset: 'Product' } } }),
      'preset.yaml',
    );
    const pages = {
      jsonld: PRODUCT_PAGE,
      microdata: `<div itemscope itemtype="http://schema.org/Product">
          <h1 itemprop="name">Chair</h1><span itemprop="sku">CH-2</span>
          <div itemprop="brand" itemscope itemtype="http://schema.org/Brand"><span itemprop="name">Sitwell</span></div>
          <img itemprop="image" src="/chair.jpg">
          <div itemprop="offers" itemscope itemtype="http://schema.org/Offer">
            <meta itemprop="price" content="49.00"><meta itemprop="priceCurrency" content="GBP">
            <link itemprop="availability" href="http://schema.org/OutOfStock">
          </div>
        </div>`,
      opengraph: `<meta property="og:title" content="Rug"><meta property="og:image" content="https://cdn.example/rug.jpg">
        <meta property="product:price:amount" content="120"><meta property="product:price:currency" content="USD">
        <meta property="product:availability" content="instock"><meta name="description" content="A rug.">`,
    };

    // Act
    const items = await Promise.all(
      Object.entries(pages).map(async ([name, html]) => (await extractPage(html, job, pageSource(`${SHOP}/${name}`))).items[0]),
    );

    // Assess
    expect(items).toEqual([
      {
        key: `${SHOP}/jsonld`,
        data: {
          url: `${SHOP}/jsonld`,
          name: 'Desk Lamp',
          sku: 'LMP-1',
          brand: 'Lumen',
          image: `${SHOP}/img/lamp-1.jpg`,
          description: 'A lamp for desks.',
          price: 24.9,
          currency: 'EUR',
          availability: 'InStock',
          rating: 4.5,
          reviewCount: 12,
        },
        problems: [],
      },
      {
        key: `${SHOP}/microdata`,
        data: {
          url: `${SHOP}/microdata`,
          name: 'Chair',
          sku: 'CH-2',
          brand: 'Sitwell',
          image: `${SHOP}/chair.jpg`,
          price: 49,
          currency: 'GBP',
          availability: 'OutOfStock',
        },
        problems: [],
      },
      {
        key: `${SHOP}/opengraph`,
        data: {
          url: `${SHOP}/opengraph`,
          name: 'Rug',
          image: 'https://cdn.example/rug.jpg',
          description: 'A rug.',
          price: 120,
          currency: 'USD',
          availability: 'instock',
        },
        problems: [],
      },
    ]);
  });

  it('emits schema.org Articles, keeping the calendar date of a timestamp without a zone', async () => {
    // Prepare
    const job = parseJob(
      jobInput({
        start: { urls: [`${SHOP}/`], template: 'article' },
        templates: { article: { preset: 'Article', key: 'headline', fields: { body: 'div.body' } } },
      }),
      'preset.yaml',
    );
    const html = `<script type="application/ld+json">{"@context": "https://schema.org", "@type": "NewsArticle",
        "headline": "Lamps win", "datePublished": "2024-05-01T10:00:00", "dateModified": "2024-05-02T08:00:00+02:00",
        "author": [{"@type": "Person", "name": "Ada"}], "publisher": {"@type": "Organization", "name": "Daily"},
        "image": {"@type": "ImageObject", "url": "https://cdn.example/a.jpg"}}</script>
      <meta property="article:section" content="Home"><div class="body">Text</div>`;

    // Act
    const { items } = await extractPage(html, job, pageSource(`${SHOP}/news/1`, { template: 'article' }));

    // Assess
    expect(items).toEqual([
      {
        key: 'Lamps win',
        data: {
          url: `${SHOP}/news/1`,
          headline: 'Lamps win',
          author: 'Ada',
          published: '2024-05-01',
          modified: '2024-05-02T06:00:00.000Z',
          section: 'Home',
          publisher: 'Daily',
          image: 'https://cdn.example/a.jpg',
          body: 'Text',
        },
        problems: [],
      },
    ]);
  });

  it('refuses an unknown preset, and a template without fields or key unless it has a preset', () => {
    // Act
    const attempt = () =>
      parseJob(
        jobInput({ templates: { a: { preset: 'Recipe' }, b: { fields: { x: 'h1' } }, c: { key: 'x' } } as never }),
        'presets.yaml',
      );

    // Assess
    expect(attempt).toThrow(JobValidationError);
    expect(validationProblems(attempt)).toEqual([
      'templates.a.preset: expected one of "Product", "Article"',
      'templates.b.key: required (string) unless preset is set',
      'templates.c.fields: required (object) unless preset is set',
    ]);
  });
});

describe('Job model: a validated job validates again to itself', () => {
  it('holds for structured-data fields, fallbacks, presets and request options', () => {
    // Prepare
    const job = parseJob(
      jobInput({
        start: { urls: [`${SHOP}/`], template: 'product' },
        fetch: { request: { form: { q: 'x' }, cookies: { a: '1' } } },
        follow: [{ selector: 'a', template: 'article', request: { method: 'GET', query: { page: 1 } } }],
        templates: {
          product: { preset: 'Product', fields: { title: { selector: 'h1', fallback: [{ from: 'meta', name: 'og:title' }] } } },
          article: { preset: 'Article', key: 'headline' },
        },
      }),
      'round-trip.yaml',
    );

    // Act
    const again = parseJob(JSON.parse(JSON.stringify(job)), 'round-trip.json');

    // Assess
    expect(JSON.parse(JSON.stringify(again))).toEqual(JSON.parse(JSON.stringify(job)));
  });
});

describe('Function: extractPage (hostile structured data)', () => {
  it('reads items nested as deep as the parser allows, and JSON-LD nested 100,000 deep, without overflowing the stack', async () => {
    // Prepare
    const depth = 19_000;
    const nested = `${'<div itemprop="part" itemscope itemtype="https://schema.org/Thing"><i itemprop="n">x</i>'.repeat(depth)}${'</div>'.repeat(depth)}`;
    const html = `<script type="application/ld+json">{"@type": "Thing", "deep": ${'['.repeat(100_000)}${']'.repeat(100_000)}, "n": "j"}</script>
      <div itemscope itemtype="https://schema.org/Thing"><b itemprop="n">top</b>${nested}</div>`;

    // Act
    const [item] = await extractOne(
      {
        md: { from: 'microdata', itemType: 'Thing', path: 'n' },
        deep: { from: 'microdata', itemType: 'Thing', path: 'part.part.part.n' },
        ld: { from: 'jsonld', itemType: 'Thing', path: 'n' },
      },
      html,
    );

    // Assess
    expect(item?.data).toEqual({ md: 'top', deep: 'x', ld: 'j' });
  });
});
