/**
 * One measurement of the extraction ceiling, in a fresh process (the harness pins it to one CPU):
 * - `parse`: bare htmlparser2 `parseDocument` (the very module instance cheerio/slim uses),
 * - `load`: cheerio/slim `load` (parse plus the cheerio wrapper),
 * - `extract`: scrapeline's `extractPage` with the bench job (items from product pages, links from listings).
 * The pages are the fixture's own (the same bytes the crawl fetches), decoded to strings before timing.
 *
 * `node --import tsx bench/extract-child.ts '{"mode":"extract","details":2000,"listings":100,"seconds":4}'`
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { extractPage } from '../shared/extract/page.js';
import { REPO_ROOT } from './common.js';
import { benchJob } from './job.js';
import { createFixture } from './site.js';

export type ExtractMode = 'parse' | 'load' | 'extract';

export interface ExtractResult {
  readonly mode: ExtractMode;
  readonly pages: number;
  readonly seconds: number;
  readonly pagesPerSecond: number;
  readonly cpuMsPerPage: number;
  readonly mbPerSecond: number;
  readonly items: number;
  readonly links: number;
}

/** The ESM entry of a package as the main repo resolves it (the bench's own node_modules may hold another version). */
export async function importFromMainRepo<T>(name: string, subpath = '.'): Promise<T> {
  const directory = join(REPO_ROOT, 'node_modules', name);
  const manifest = JSON.parse(readFileSync(join(directory, 'package.json'), 'utf8')) as {
    exports?: Record<string, { import?: { default?: string } | string }>;
    module?: string;
    main?: string;
  };
  const entry = manifest.exports?.[subpath]?.import;
  const relative = (typeof entry === 'string' ? entry : entry?.default) ?? manifest.module ?? manifest.main ?? 'index.js';
  return (await import(pathToFileURL(join(directory, relative)).href)) as T;
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '{}') as {
    mode: ExtractMode;
    details?: number;
    listings?: number;
    seconds?: number;
  };
  const base = 'http://127.0.0.1:8000';
  const fixture = createFixture();
  const details = fixture.products.slice(0, args.details ?? 2000).map((product) => product.path);
  const listings = fixture.paths.slice(0, Math.min(args.listings ?? 100, fixture.listingPages));
  // Interleave: one listing page per 20 detail pages, as in the crawl.
  const paths: string[] = [];
  details.forEach((path, index) => {
    if (index % 20 === 0 && listings[index / 20] !== undefined) paths.push(listings[index / 20] as string);
    paths.push(path);
  });
  const pages = paths.map((path) => ({
    html: Buffer.from(fixture.render(path) as string, 'utf8').toString('utf8'),
    url: base + path,
    template: path.startsWith('/product/') ? 'product' : undefined,
  }));
  const bytes = pages.reduce((sum, page) => sum + Buffer.byteLength(page.html), 0) / pages.length;
  const job = benchJob(base);
  const hosts = ['127.0.0.1:8000'];
  const { parseDocument } = await importFromMainRepo<typeof import('htmlparser2')>('htmlparser2');
  const { load } = await importFromMainRepo<typeof import('cheerio/slim')>('cheerio', './slim');
  let items = 0;
  let links = 0;
  let sink = 0;
  const one = async (page: (typeof pages)[number]) => {
    switch (args.mode) {
      case 'parse':
        sink += parseDocument(page.html).children.length;
        break;
      case 'load':
        sink += load(page.html, { baseURI: page.url }).root().length;
        break;
      case 'extract': {
        const extraction = await extractPage(page.html, job, {
          url: page.url,
          finalUrl: page.url,
          template: page.template,
          hosts,
        });
        items += extraction.items.length;
        links += extraction.links.length;
        break;
      }
    }
  };
  // Warm-up: let the JIT settle on the hot paths.
  for (const page of pages.slice(0, 300)) await one(page);
  items = 0;
  links = 0;
  const budgetMs = (args.seconds ?? 4) * 1000;
  const before = process.cpuUsage();
  const started = performance.now();
  let done = 0;
  while (performance.now() - started < budgetMs) {
    for (const page of pages) {
      await one(page);
      done++;
      if ((done & 63) === 0 && performance.now() - started >= budgetMs) break;
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(before);
  const result: ExtractResult = {
    mode: args.mode,
    pages: done,
    seconds,
    pagesPerSecond: done / seconds,
    cpuMsPerPage: (cpu.user + cpu.system) / 1000 / done,
    mbPerSecond: (done * bytes) / seconds / 2 ** 20,
    items,
    links,
  };
  if (sink < 0) console.error(sink);
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
