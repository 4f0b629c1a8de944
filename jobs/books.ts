import { defineJob } from '../shared/job/define.js';

/**
 * The demo job: the bundled bookstore (`npm run demo` serves it on 127.0.0.1:8321). Listing pages are followed
 * through the pager; every product page becomes one item keyed by its UPC; each book's author link (which
 * redirects to the author page with a trailing slash) becomes one `author` item keyed by name, and the author's
 * quote page several `quote` items. It has no schedule: deployed, it would find no site on 127.0.0.1 (see
 * `toscrape.yaml` for the books part of it against the public sandbox).
 */
export default defineJob({
  name: 'books',
  description: 'Every book of the demo bookstore, with price, stock and rating; its authors and their quotes.',
  start: { urls: ['http://127.0.0.1:8321/catalogue/page-1.html'] },
  follow: [
    { selector: 'ul.pager li.next a' },
    { selector: 'article.product_pod h3 a', template: 'book' },
    { selector: 'div.product_main p.author a', template: 'author', from: ['book'] },
    { selector: 'a.quotes-link', template: 'quote', from: ['author'] },
  ],
  templates: {
    book: {
      key: 'upc',
      fields: {
        upc: { selector: 'table.table tr:has(th:contains("UPC")) td', required: true },
        title: { selector: 'div.product_main h1', required: true },
        price: { selector: 'div.product_main p.price_color', type: 'number', required: true },
        inStock: { selector: 'div.product_main p.availability', type: 'boolean', pattern: '^(In stock|Out of stock)' },
        stock: { selector: 'div.product_main p.availability', type: 'integer', pattern: '\\((\\d+) available\\)', default: 0 },
        rating: {
          selector: 'div.product_main p.star-rating',
          attr: 'class',
          pattern: '(One|Two|Three|Four|Five)',
          map: { One: 1, Two: 2, Three: 3, Four: 4, Five: 5 },
          type: 'integer',
        },
        category: 'ul.breadcrumb li:nth-child(2) a',
        tags: { selector: 'ul.tags li.tag', many: true },
        description: '#product_description + p',
        reviews: { selector: 'table.table tr:has(th:contains("Number of reviews")) td', type: 'integer' },
        published: { selector: 'table.table tr:has(th:contains("Published")) td', type: 'date' },
        author: 'div.product_main p.author a',
        url: { from: 'url', type: 'url' },
      },
    },
    author: {
      key: 'name',
      fields: {
        name: { selector: 'div.author-details h1.author-title', required: true },
        born: { selector: 'div.author-details span.author-born-date', type: 'date' },
        birthplace: { selector: 'div.author-details span.author-born-location', pattern: '^in (.+)$' },
        bio: 'div.author-details div.author-description',
        url: { from: 'url', type: 'url' },
      },
    },
    quote: {
      key: 'id',
      items: 'div.quotes div.quote',
      fields: {
        id: { selector: 'meta[itemprop="identifier"]', attr: 'content', required: true },
        text: { selector: 'span.text', pattern: '^“(.*)”$', required: true },
        author: 'small.author',
        tags: { selector: 'div.tags a.tag', many: true },
        likes: { selector: 'span.likes', type: 'integer' },
        url: { from: 'url', type: 'url' },
      },
    },
  },
  limits: { maxPages: 5000, maxDepth: 100 },
  politeness: { perHostConcurrency: 8, minDelayMs: 0 },
});
