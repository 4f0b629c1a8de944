import { fmix32, mulberry32, type Rng } from '../demo/random.js';
/**
 * The benchmark fixture: a deterministic online store with N product (detail) pages and N / perPage listing
 * pages, with the markup weight of a real store (mega-menu navigation, inline scripts and JSON-LD, spec tables,
 * repeated review and related-product blocks). Everything derives from a seed, so every tool crawls byte-identical
 * pages and every extracted item can be checked against the ground truth ({@link Product}).
 *
 * Paths: `/catalogue/page-N.html` (listings, N = 1..pages; the pager links the 5 pages on either side, first,
 * last, previous and next), `/product/<index>-<slug>.html` (details), `/robots.txt`, and `/` (links to page 1).
 */

/** One product exactly as a correct scraper extracts it (the same fields for every tool). */
export interface Product {
  readonly sku: string;
  /** Decoded title: may contain `&`, quotes, `<` and non-ASCII characters. */
  readonly title: string;
  readonly price: number;
  readonly inStock: boolean;
  /** Units available; 0 when out of stock. */
  readonly stock: number;
  /** 1..5 */
  readonly rating: number;
  readonly category: string;
  /** 0..4 tags in page order. */
  readonly tags: readonly string[];
  readonly reviews: number;
  /** Absolute path of the detail page. */
  readonly path: string;
}

/** Options of the fixture. */
export interface FixtureOptions {
  /** Product pages. @default 10000 */
  readonly products?: number;
  /** Products per listing page. @default 20 */
  readonly perPage?: number;
  /** @default 7 */
  readonly seed?: number;
  /** Size range of detail pages in bytes (uniform). @default [30000, 58000] (mean ~44 KB) */
  readonly detailBytes?: readonly [number, number];
  /** Size of the navigation menu: `full` (~9 KB, realistic) or `compact` (~2 KB, for small-page runs). @default 'full' */
  readonly chrome?: 'full' | 'compact';
}

export interface Fixture {
  readonly options: Required<FixtureOptions>;
  readonly products: readonly Product[];
  readonly listingPages: number;
  /** Every crawlable path: listings first, then details. */
  readonly paths: readonly string[];
  readonly startPath: string;
  /** Renders a path (undefined: 404). Pure: the same path always gives the same bytes. */
  render(path: string): string | undefined;
}

function stream(seed: number, kind: number, index: number): Rng {
  return mulberry32(fmix32(fmix32(seed ^ 0x9e3779b9) ^ fmix32(kind * 0x01000193 + index)));
}

function int(rng: Rng, min: number, max: number): number {
  return min + Math.floor(rng() * (max - min + 1));
}

function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[Math.floor(rng() * items.length)] as T;
}

const ADJECTIVES = ['Silent', 'Crimson', 'Hidden', 'Golden', 'Broken', 'Naïve', 'Electric', 'Quiet', 'Wild', 'Fragile'];
const NOUNS = ['Garden', 'River', 'Café', 'Atlas', 'Lighthouse', 'Mirror', 'Storm', 'Orchard', 'Harbor', 'Compass'];
const MAKERS = ["O'Brien", 'Brontë', 'Müller', 'Søren', 'Chloé', 'Zoë', 'José', "D'Arcy"];
export const CATEGORIES = [
  'Home & Garden',
  'Kitchen',
  'Books',
  'Toys',
  'Outdoor',
  'Electronics',
  'Music',
  'Office',
  'Sports',
  'Travel',
  'Art',
  'Health',
  'Pets',
  'Tools',
  'Beauty',
  'Baby',
  'Grocery',
  'Games',
  'Fashion',
  'Auto',
];
const TAGS = ['bestseller', 'staff pick', 'new', 'eco', 'limited', 'gift idea', 'sale', 'rock & roll', '"cult" classic', 'café'];
const RATING_WORDS = ['One', 'Two', 'Three', 'Four', 'Five'];
const LOREM =
  'Solid build, arrived quickly & works as described. Would buy again — though the manual is "optimistic" about assembly time. ' +
  'Colours are a bit darker than on the photos; customer service answered within a day. Not for <12 year olds.';

function title(rng: Rng): string {
  const adjective = pick(rng, ADJECTIVES);
  const noun = pick(rng, NOUNS);
  switch (int(rng, 0, 4)) {
    case 0:
      return `The ${adjective} ${noun}`;
    case 1:
      return `${noun} & ${pick(rng, NOUNS)} Set`;
    case 2:
      return `${pick(rng, MAKERS)}'s ${adjective} ${noun}`;
    case 3:
      return `"${adjective}" ${noun} <Deluxe>`;
    default:
      return `${adjective} ${noun} ${int(rng, 2, 9)}000`;
  }
}

function slug(text: string): string {
  return (
    text
      .normalize('NFKD')
      .replace(/[\u0300-\u036f]/g, '')
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '') || 'item'
  );
}

function product(seed: number, index: number): Product {
  const rng = stream(seed, 1, index);
  const name = title(rng);
  const inStock = rng() < 0.85;
  const tagCount = int(rng, 0, 4);
  const tags: string[] = [];
  while (tags.length < tagCount) {
    const tag = pick(rng, TAGS);
    if (!tags.includes(tag)) tags.push(tag);
  }
  return {
    sku: `SKU-${fmix32(index ^ fmix32(seed))
      .toString(16)
      .padStart(8, '0')}-${index}`,
    title: name,
    price: int(rng, 100, 99_999) / 100,
    inStock,
    stock: inStock ? int(rng, 1, 40) : 0,
    rating: int(rng, 1, 5),
    category: pick(rng, CATEGORIES),
    tags,
    reviews: int(rng, 0, 500),
    path: `/product/${index + 1}-${slug(name)}.html`,
  };
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
function esc(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => ESCAPES[ch] ?? ch);
}

/** `£1,234.56` (grouped thousands, as shops print prices). */
function money(price: number): string {
  const [whole = '0', cents = '00'] = price.toFixed(2).split('.');
  return `£${whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',')}.${cents}`;
}

const STYLE = `<style>
body{font-family:"Helvetica Neue",Helvetica,Arial,sans-serif;font-size:14px;line-height:20px;color:#333;background:#f9f9f9}
.header{background:#f8f8f8;border-bottom:1px solid #e7e7e7;padding:10px 0}.mega a{color:#555;padding:2px 6px}.mega ul{list-style:none}
.breadcrumb{list-style:none;padding:8px 15px;background:#f5f5f5}.breadcrumb>li{display:inline-block}.price_color{color:#458b00;font-weight:bold}
.star-rating{color:#e6ce31}.star-rating.One i:nth-child(n+2),.star-rating.Two i:nth-child(n+3),.star-rating.Three i:nth-child(n+4){color:#ddd}
.tags{list-style:none;padding:0}.tags .tag{display:inline-block;margin:0 4px 4px 0;padding:2px 8px;border-radius:10px;background:#eee}
.review{border-top:1px solid #eee;padding:10px 0}.review .meta{color:#999;font-size:12px}.related .card{display:inline-block;width:23%}
.pager li{display:inline}.pager .next{float:right}.pager .previous{float:left}.footer{padding:20px 0;color:#999;font-size:12px}
</style>`;

const SCRIPT = `<script>
(function () {
  'use strict';
  // Analytics stub, kept for weight: a scraper must not read prices from here ('p.price_color', '.availability').
  var q = window.__q = window.__q || [];
  function track(n, d) { q.push({ n: n, d: d, t: Date.now() }); }
  document.addEventListener('DOMContentLoaded', function () {
    track('view', { path: location.pathname, price: !!document.querySelector('p.price_color') });
    var b = document.querySelectorAll('button[data-track]');
    for (var i = 0; i < b.length; i++) b[i].addEventListener('click', function (e) { track('click', this.getAttribute('data-track')); });
    var lazy = document.querySelectorAll('img[data-src]');
    if ('IntersectionObserver' in window) {
      var io = new IntersectionObserver(function (es) { es.forEach(function (e) { if (e.isIntersecting) { e.target.src = e.target.getAttribute('data-src'); io.unobserve(e.target); } }); });
      lazy.forEach(function (img) { io.observe(img); });
    }
  });
})();
</script>`;

function megaMenu(compact: boolean): string {
  const sub = compact ? 1 : 7;
  const columns = CATEGORIES.map((category) => {
    const links = Array.from(
      { length: sub },
      (_, k) => `<li><a href="/category/${slug(category)}/${k + 1}/" data-track="nav">${esc(category)} ${k + 1}</a></li>`,
    ).join('');
    return `<li class="col"><a href="/category/${slug(category)}/">${esc(category)}</a><ul>${links}</ul></li>`;
  }).join('\n');
  return `<nav class="mega"><ul class="nav">\n${columns}\n</ul></nav>`;
}

const FOOTER = `<footer class="footer"><div class="row">
<div class="col"><h4>Shop</h4><ul><li><a href="/new/">New arrivals</a></li><li><a href="/best/">Bestsellers</a></li><li><a href="/gift/">Gift cards</a></li><li><a href="/offers/">Offers &amp; deals</a></li></ul></div>
<div class="col"><h4>Help</h4><ul><li><a href="/help/delivery">Delivery</a></li><li><a href="/help/returns">Returns</a></li><li><a href="/help/track">Order tracking</a></li><li><a href="/help/faq">FAQ</a></li></ul></div>
<div class="col"><h4>About</h4><ul><li><a href="/about/">Our story</a></li><li><a href="/contact/">Contact</a></li><li><a href="/terms/">Terms &amp; conditions</a></li><li><a href="/privacy/">Privacy</a></li></ul></div>
</div><form class="newsletter"><label for="nl">Newsletter</label><input id="nl" type="email"><button type="submit" data-track="newsletter">Subscribe</button></form>
<p>Fixture data for scraper benchmarks. Prices, ratings and stock are made up.</p></footer>`;

function layout(pageTitle: string, menu: string, content: string, head = ''): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(pageTitle)} | Fixture Store</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/app.css"><link rel="icon" href="/favicon.ico">
${head}${STYLE}
</head>
<body class="default">
<header class="header"><div class="brand"><a href="/">Fixture Store</a> <small>benchmark fixture</small></div>
<form class="search" action="/search"><input name="q" placeholder="Search"><button data-track="search">Go</button></form>
${menu}
</header>
<div class="container page">
${content}
</div>
${FOOTER}
${SCRIPT}
</body></html>
`;
}

function stars(rating: number): string {
  return `<p class="star-rating ${RATING_WORDS[rating - 1]}"><i></i><i></i><i></i><i></i><i></i></p>`;
}

function availability(item: Product): string {
  return item.inStock ? `In stock (${item.stock} available)` : 'Out of stock';
}

function pod(item: Product, position: number): string {
  const name = esc(item.title);
  // Relative and root-relative hrefs: a scraper must resolve links, not paste them.
  const href = position % 2 === 0 ? `..${item.path}` : item.path;
  return `<li class="col">
<article class="product_pod">
<div class="image_container"><a href="${href}"><img data-src="/img/${item.sku}.jpg" src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt="${name}"></a></div>
${stars(item.rating)}
<h3><a href="${href}" title="${name}">${name}</a></h3>
<div class="product_price"><p class="price_color">${money(item.price)}</p>
<p class="${item.inStock ? 'instock' : 'outofstock'} availability">${item.inStock ? 'In stock' : 'Out of stock'}</p>
<form><button type="submit" class="btn" data-track="basket">Add to basket</button></form></div>
</article></li>`;
}

function pager(page: number, pages: number): string {
  const link = (n: number, text: string, cls = '') =>
    `<li${cls ? ` class="${cls}"` : ''}><a href="page-${n}.html">${text}</a></li>`;
  const parts: string[] = [];
  if (page > 1) parts.push(link(1, 'first', 'first'), link(page - 1, 'previous', 'previous'));
  for (let n = Math.max(1, page - 5); n <= Math.min(pages, page + 5); n++) {
    parts.push(n === page ? `<li class="current">${n}</li>` : link(n, String(n)));
  }
  if (page < pages) parts.push(link(page + 1, 'next', 'next'), link(pages, 'last', 'last'));
  return `<ul class="pager">${parts.join('')}</ul>`;
}

function review(rng: Rng): string {
  const rating = int(rng, 1, 5);
  const author = pick(rng, MAKERS);
  const day = int(rng, 1, 28);
  const text = LOREM.slice(0, int(rng, 120, LOREM.length));
  return `<div class="review" itemprop="review" itemscope itemtype="https://schema.org/Review">
<div class="meta"><span class="author" itemprop="author">${esc(author)}</span> · <time datetime="2025-03-${String(day).padStart(2, '0')}">March ${day}, 2025</time> ${stars(rating)}</div>
<p itemprop="reviewBody">${esc(text)}</p>
<div class="actions"><button data-track="helpful">Helpful (${int(rng, 0, 99)})</button> <button data-track="report">Report</button></div></div>\n`;
}

function relatedCard(item: Product): string {
  return `<div class="card"><a href="${item.path}"><img data-src="/img/${item.sku}-s.jpg" alt="${esc(item.title)}"></a><h4><a href="${item.path}">${esc(item.title)}</a></h4><span class="rv-price">${money(item.price)}</span></div>\n`;
}

/**
 * Builds the fixture. Cheap: products are computed eagerly (ground truth), pages render on demand.
 */
export function createFixture(input: FixtureOptions = {}): Fixture {
  const options: Required<FixtureOptions> = {
    products: input.products ?? 10_000,
    perPage: input.perPage ?? 20,
    seed: input.seed ?? 7,
    detailBytes: input.detailBytes ?? [30_000, 58_000],
    chrome: input.chrome ?? 'full',
  };
  const products = Array.from({ length: options.products }, (_, index) => product(options.seed, index));
  const listingPages = Math.max(1, Math.ceil(products.length / options.perPage));
  const menu = megaMenu(options.chrome === 'compact');
  const byPath = new Map<string, number>();
  products.forEach((item, index) => {
    byPath.set(item.path, index);
  });

  function listing(page: number): string {
    const items = products.slice((page - 1) * options.perPage, page * options.perPage);
    const content = `<ul class="breadcrumb"><li><a href="/">Home</a></li><li class="active">All products</li></ul>
<div class="page-header"><h1>All products</h1><p><strong>${products.length}</strong> results, page ${page} of ${listingPages}</p></div>
<section><ol class="row">
${items.map(pod).join('\n')}
</ol>
${pager(page, listingPages)}
</section>`;
    return layout(`All products, page ${page}`, menu, content);
  }

  function detail(index: number): string {
    const item = products[index] as Product;
    const rng = stream(options.seed, 2, index);
    const [low, high] = options.detailBytes;
    const target = int(rng, low, high);
    const name = esc(item.title);
    const ld = JSON.stringify({
      '@context': 'https://schema.org',
      '@type': 'Product',
      name: item.title,
      sku: item.sku,
      offers: { '@type': 'Offer', priceCurrency: 'GBP', price: item.price.toFixed(2) },
    }).replace(/</g, '\\u003c');
    const head = `<script type="application/ld+json">${ld}</script>\n`;
    const specs: [string, string][] = [
      ['SKU', item.sku],
      ['Product Type', item.category],
      ['Price (excl. tax)', money(item.price / 1.2)],
      ['Price (incl. tax)', money(item.price)],
      ['Availability', availability(item)],
      ['Number of reviews', String(item.reviews)],
      ['Weight', `${int(rng, 1, 90) / 10} kg`],
      ['Dimensions', `${int(rng, 5, 90)} × ${int(rng, 5, 90)} × ${int(rng, 1, 40)} cm`],
    ];
    const table = specs.map(([th, td]) => `<tr><th>${th}</th><td>${esc(td)}</td></tr>`).join('\n');
    const related = Array.from({ length: 8 }, (_, k) => relatedCard(products[(index + 1 + k * 37) % products.length] as Product));
    const top = `<ul class="breadcrumb"><li><a href="/">Home</a></li><li><a href="/category/${slug(item.category)}/">${esc(item.category)}</a></li><li class="active">${name}</li></ul>
<article class="product_page"><div class="row">
<div class="gallery"><img data-src="/img/${item.sku}-l.jpg" src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt="${name}"></div>
<div class="product_main">
<h1>${name}</h1>
<p class="price_color">${money(item.price)}</p>
<p class="${item.inStock ? 'instock' : 'outofstock'} availability">${availability(item)}</p>
${stars(item.rating)}
<form class="basket"><select name="qty"><option>1</option><option>2</option><option>3</option></select><button data-track="basket">Add to basket</button></form>
</div></div>
<ul class="tags">${item.tags.map((tag) => `<li class="tag">${esc(tag)}</li>`).join('')}</ul>
<div id="product_description"><h2>Product description</h2></div>
<p>${esc(LOREM)}</p>
<table class="table table-striped specs">
${table}
</table>
</article>
<aside class="related"><h2>Customers also viewed</h2>
${related.join('')}</aside>
<section class="reviews"><h2>Reviews</h2>
`;
    const end = `</section>`;
    const shell = layout(item.title, menu, `${top}${end}`, head);
    // Reviews fill the page up to its target size (repeated markup, as on real product pages).
    let reviews = '';
    let size = Buffer.byteLength(shell);
    while (size < target) {
      const block = review(rng);
      size += Buffer.byteLength(block);
      if (size > high) break;
      reviews += block;
    }
    return layout(item.title, menu, `${top}${reviews}${end}`, head);
  }

  const listingPaths = Array.from({ length: listingPages }, (_, k) => `/catalogue/page-${k + 1}.html`);
  return {
    options,
    products,
    listingPages,
    paths: [...listingPaths, ...products.map((item) => item.path)],
    startPath: '/catalogue/page-1.html',
    render(path) {
      if (path === '/robots.txt') return 'User-agent: *\nAllow: /\n';
      if (path === '/' || path === '/index.html') {
        return layout('Home', menu, '<h1>Fixture Store</h1><p><a href="/catalogue/page-1.html">All products</a></p>');
      }
      const listingMatch = /^\/catalogue\/page-(\d+)\.html$/.exec(path);
      if (listingMatch) {
        const page = Number(listingMatch[1]);
        return page >= 1 && page <= listingPages ? listing(page) : undefined;
      }
      const index = byPath.get(path);
      return index === undefined ? undefined : detail(index);
    },
  };
}
