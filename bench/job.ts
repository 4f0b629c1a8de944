/**
 * What every tool in the benchmark does, spelled once: start at listing page 1, follow the pager and the product
 * links of listing pages (not the links of product pages), and extract these fields from each product page.
 * `crawl-crawlee.ts` and `scrapy_spider.py` implement the same rules with their own APIs.
 */
import { parseJob } from '../shared/job/load.js';
import type { Job } from '../shared/job/schema.js';

export const BENCH_JOB_NAME = 'bench';
export const CONCURRENCY = 16;

/** Selectors shared by the tools (Scrapy uses the XPath equivalents of the `:has/:contains` ones). */
export const SELECTORS = {
  pager: 'ul.pager a',
  products: 'article.product_pod h3 a',
  sku: 'table.specs tr:has(th:contains("SKU")) td',
  title: 'div.product_main h1',
  price: 'div.product_main p.price_color',
  availability: 'div.product_main p.availability',
  rating: 'div.product_main p.star-rating',
  category: 'ul.breadcrumb li:nth-child(2) a',
  tags: 'ul.tags li.tag',
  reviews: 'table.specs tr:has(th:contains("Number of reviews")) td',
} as const;

/** Options of {@link benchJobInput}. */
export interface BenchJobOptions {
  readonly maxPages?: number;
  /** @default { perHostConcurrency: CONCURRENCY, minDelayMs: 0 } */
  readonly politeness?: { readonly perHostConcurrency: number; readonly minDelayMs: number };
  /** Hosts links may lead to. @default the start URL's */
  readonly allowedHosts?: readonly string[];
}

/** The scrapeline job of the benchmark. */
export function benchJob(baseUrl: string, options: BenchJobOptions = {}): Job {
  return parseJob(benchJobInput(baseUrl, options), 'bench/job.ts');
}

/** The job of {@link benchJob} as written (what a job file exports, e.g. to bundle it into the functions). */
export function benchJobInput(baseUrl: string, options: BenchJobOptions = {}): Record<string, unknown> {
  return {
    name: BENCH_JOB_NAME,
    start: { urls: [`${baseUrl}/catalogue/page-1.html`] },
    follow: [
      { selector: SELECTORS.pager, from: ['start'] },
      { selector: SELECTORS.products, template: 'product', from: ['start'] },
    ],
    templates: {
      product: {
        key: 'sku',
        fields: {
          sku: { selector: SELECTORS.sku, required: true },
          title: { selector: SELECTORS.title, required: true },
          price: { selector: SELECTORS.price, type: 'number', required: true },
          inStock: { selector: SELECTORS.availability, type: 'boolean', pattern: '^(In stock|Out of stock)' },
          stock: { selector: SELECTORS.availability, type: 'integer', pattern: '\\((\\d+) available\\)', default: 0 },
          rating: {
            selector: SELECTORS.rating,
            attr: 'class',
            pattern: '(One|Two|Three|Four|Five)',
            map: { One: 1, Two: 2, Three: 3, Four: 4, Five: 5 },
            type: 'integer',
          },
          category: SELECTORS.category,
          tags: { selector: SELECTORS.tags, many: true },
          reviews: { selector: SELECTORS.reviews, type: 'integer' },
          url: { from: 'url', type: 'url' },
        },
      },
    },
    // Every page of the largest fixture (the million-product memory run has 1,050,000): no budget may cut a bench run.
    limits: { maxPages: options.maxPages ?? 10_000_000, maxDepth: 10_000 },
    politeness: { ...(options.politeness ?? { perHostConcurrency: CONCURRENCY, minDelayMs: 0 }), robotsTxt: 'ignore' },
    fetch: {
      retries: 2,
      timeoutMs: 60_000,
      ...(options.allowedHosts ? { allowedHosts: [...options.allowedHosts] } : {}),
    },
  };
}
