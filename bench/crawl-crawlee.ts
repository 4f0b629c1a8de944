/**
 * The Crawlee peer: CheerioCrawler (@crawlee/cheerio 3.18, installed by `cd bench && npm ci`) with in-memory
 * storage (`persistStorage: false`), concurrency 16, the same link following and the same fields as
 * `job.ts`, items pushed to the default dataset. Invoked as
 * `node --import tsx bench/crawl-crawlee.ts '<json {url, itemsFile}>'`; prints `RESULT <json>`.
 *
 * The module is loaded with a computed specifier so the main repo typechecks without the bench's dependencies.
 */
import { writeFile } from 'node:fs/promises';
import type { CrawlResult } from './crawl-scrapeline.js';
import { CONCURRENCY, SELECTORS } from './job.js';

/** The slice of cheerio's API the handler uses. */
interface Selection {
  first(): Selection;
  text(): string;
  attr(name: string): string | undefined;
  length: number;
  toArray(): unknown[];
}
type Dollar = ((selector: string | unknown) => Selection) & object;

interface HandlerContext {
  request: { url: string; loadedUrl?: string; label?: string };
  $: Dollar;
  enqueueLinks(options: { selector: string; label?: string }): Promise<unknown>;
  pushData(data: Record<string, unknown>): Promise<void>;
}

interface CrawleeModule {
  CheerioCrawler: new (
    options: Record<string, unknown>,
    config?: unknown,
  ) => {
    run(urls: string[]): Promise<{ requestsFinished: number; requestsFailed: number }>;
    getData(): Promise<{ items: Record<string, unknown>[]; total: number }>;
  };
  Configuration: new (options: Record<string, unknown>) => unknown;
  log: { setLevel(level: number): void; LEVELS: { WARNING: number } };
}

const collapse = (text: string) => text.replace(/[\s\u00a0]+/g, ' ').trim();
const RATINGS: Record<string, number> = { One: 1, Two: 2, Three: 3, Four: 4, Five: 5 };

/** The fields of `job.ts`, with cheerio. */
function extract($: Dollar, url: string): Record<string, unknown> {
  const text = (selector: string) => {
    const match = $(selector).first();
    return match.length === 0 ? undefined : collapse(match.text());
  };
  const availability = text(SELECTORS.availability) ?? '';
  const stock = /\((\d+) available\)/.exec(availability);
  const rating = /(One|Two|Three|Four|Five)/.exec($(SELECTORS.rating).first().attr('class') ?? '');
  const price = text(SELECTORS.price);
  const reviews = text(SELECTORS.reviews);
  return {
    sku: text(SELECTORS.sku),
    title: text(SELECTORS.title),
    price: price === undefined ? undefined : Number(price.replace(/[^\d.]/g, '')),
    inStock: availability.startsWith('In stock') ? true : availability.startsWith('Out of stock') ? false : undefined,
    stock: stock ? Number(stock[1]) : 0,
    rating: rating ? RATINGS[rating[1] as string] : undefined,
    category: text(SELECTORS.category),
    tags: $(SELECTORS.tags)
      .toArray()
      .map((element) => collapse($(element).text())),
    reviews: reviews === undefined ? undefined : Number.parseInt(reviews, 10),
    url,
  };
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '{}') as { url: string; itemsFile: string };
  const specifier = '@crawlee/cheerio';
  const crawlee = (await import(specifier)) as CrawleeModule;
  crawlee.log.setLevel(crawlee.log.LEVELS.WARNING);
  const config = new crawlee.Configuration({ persistStorage: false, purgeOnStart: true });
  let pages = 0;
  const crawler = new crawlee.CheerioCrawler(
    {
      minConcurrency: CONCURRENCY,
      maxConcurrency: CONCURRENCY,
      maxRequestRetries: 2,
      requestHandlerTimeoutSecs: 60,
      async requestHandler({ request, $, enqueueLinks, pushData }: HandlerContext) {
        pages++;
        if (request.label === 'DETAIL') {
          await pushData(extract($, request.loadedUrl ?? request.url));
          return;
        }
        await enqueueLinks({ selector: SELECTORS.pager, label: 'LIST' });
        await enqueueLinks({ selector: SELECTORS.products, label: 'DETAIL' });
      },
    },
    config,
  );
  const before = process.cpuUsage();
  const started = performance.now();
  const stats = await crawler.run([`${args.url}/catalogue/page-1.html`]);
  const wallMs = performance.now() - started;
  const cpu = process.cpuUsage(before);
  const data = await crawler.getData();
  await writeFile(args.itemsFile, data.items.map((item) => `${JSON.stringify(item)}\n`).join(''));
  const result: CrawlResult = {
    tool: 'crawlee',
    wallMs,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    pages,
    itemsFile: args.itemsFile,
    detail: { requestsFinished: stats.requestsFinished, requestsFailed: stats.requestsFailed, datasetTotal: data.total },
  };
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  process.exit(0);
}

await main();
