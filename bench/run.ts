/**
 * `npm run bench [-- options]`: the benchmark suite of issue "Benchmarks: prove speed, memory, bundle size and cost".
 *
 * Sections (all by default; pick with `--only=server,crawl,extract,memory,lambda,cost`):
 * - server:  the fixture server alone (wrk, and an undici fetch-only loop), so it is shown not to be the bottleneck;
 * - crawl:   end-to-end crawls of the fixture, scrapeline vs Crawlee vs Scrapy, interleaved, fresh processes;
 * - extract: single-core extraction ceiling, htmlparser2 parseDocument vs cheerio/slim load vs extractPage;
 * - memory:  a long scrapeline crawl (100,000 pages by default) with RSS sampled over time;
 * - lambda:  minified bundle size and cold module-init time of each function;
 * - cost:    USD per million pages from counted AWS requests (needs the AWS adapters and peers; see cost.ts).
 * - scale:   not in the default set (about an hour): the run state's scale check, 20 concurrent invocations per
 *            stage, a 50,000-URL sitemap, about 100,000 URLs over the local AWS peers (`--scale-products=N`).
 *
 * Options: --products=10000 --reps=3 --extract-reps=5 --memory-pages=100000 --tools=scrapeline,crawlee,scrapy
 *          --quick (1,000 products, 1 rep, 5,000 memory pages, 2 extract reps) --no-save
 *          --cost-scenarios=many-hosts,polite,recurring (the cost runs to make; all by default)
 * Results: printed as one summary table, saved to bench/results/<date>.json with machine info.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BENCH_DIR,
  benchDepsInstalled,
  compiledNode,
  formatSpread,
  machineInfo,
  REPO_ROOT,
  RESULTS_DIR,
  runChild,
  type ServerProcess,
  type Spread,
  scrapyPython,
  spread,
  startServerProcess,
  TMP_DIR,
  table,
  tsNode,
  which,
} from './common.js';
import type { CrawlResult, MemorySample } from './crawl-scrapeline.js';
import type { ExtractMode, ExtractResult } from './extract-child.js';
import type { FetchOnlyResult } from './fetch-child.js';
import { measureLambdas } from './lambda.js';
import { createFixture, type FixtureOptions } from './site.js';
import { verifyItems } from './verify.js';

type Section = 'server' | 'crawl' | 'extract' | 'memory' | 'lambda' | 'cost' | 'scale';
type Tool = 'scrapeline' | 'crawlee' | 'scrapy';
const SECTIONS: Section[] = ['server', 'crawl', 'extract', 'memory', 'lambda', 'cost'];

/** Goals from shared/design/goals.md. */
export const GOALS = {
  crawlVsCrawlee: 3,
  crawlVsScrapy: 4,
  extractionShare: 0.8,
  memoryPeakMb: 300,
  bundleKb: 400,
  initMs: 150,
  /** Fetch-bound, many hosts. */
  usdPerMillionPages: 1,
  /** A polite single host. */
  usdPerMillionPagesPolite: 2,
} as const;

/** Local runtime options for the crawl: 16 requests in flight through the per-host gate (job.ts). */
export const SCRAPELINE_RUNTIME = {
  concurrency: { fetch: 2, parse: 2, postprocess: 1 },
  batchSize: 10,
  parseThreads: 1,
} as const;

interface Options {
  sections: Section[];
  products: number;
  reps: number;
  extractReps: number;
  memoryPages: number;
  tools: Tool[];
  save: boolean;
  costProducts: number;
  costHosts: number;
  costPoliteProducts: number;
  /** The cost runs to make (`many-hosts`, `polite`, `recurring`); all by default. */
  costScenarios: string[] | undefined;
  /** Products of the scale check (undefined: its default, 95,250 products and about 100,000 URLs). */
  scaleProducts: number | undefined;
}

function parseOptions(argv: readonly string[]): Options {
  const flags = new Map<string, string>();
  for (const arg of argv) {
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (match) flags.set(match[1] as string, match[2] ?? 'true');
  }
  const quick = flags.has('quick');
  const number = (name: string, fallback: number) => {
    const value = flags.get(name);
    return value === undefined ? fallback : Number(value);
  };
  return {
    sections: (flags.get('only')?.split(',') as Section[] | undefined) ?? SECTIONS,
    products: number('products', quick ? 1000 : 10_000),
    reps: number('reps', quick ? 1 : 3),
    extractReps: number('extract-reps', quick ? 2 : 5),
    memoryPages: number('memory-pages', quick ? 5000 : 100_000),
    tools: (flags.get('tools')?.split(',') as Tool[] | undefined) ?? ['scrapeline', 'crawlee', 'scrapy'],
    save: !flags.has('no-save'),
    costProducts: number('cost-products', quick ? 1000 : 10_000),
    costHosts: number('cost-hosts', 50),
    costPoliteProducts: number('cost-polite-products', quick ? 100 : 300),
    costScenarios: flags.get('cost-scenarios')?.split(','),
    scaleProducts: flags.has('scale-products') ? number('scale-products', 0) : quick ? 2_000 : undefined,
  };
}

/** Busy CPU seconds of the whole machine (all cores), from /proc/stat. */
function machineBusySeconds(): number {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
    return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / 100;
  } catch {
    return Number.NaN;
  }
}

const log = (message: string) => process.stderr.write(`[bench] ${message}\n`);

// ---------------------------------------------------------------------------------------------------------------
// server

interface ServerReport {
  wrk?: { requestsPerSecond: number; mbPerSecond: number; serverCpuMsPerRequest: number; seconds: number } | undefined;
  fetchOnly?: { pagesPerSecond: number; clientCpuMsPerPage: number; serverCpuMsPerPage: number; errors: number } | undefined;
  renderMs: number;
  bytes: number;
  meanDetailKb: number;
}

async function benchServer(server: ServerProcess, fixture: ReturnType<typeof createFixture>): Promise<ServerReport> {
  const report: ServerReport = {
    renderMs: server.info.renderMs,
    bytes: server.info.bytes,
    meanDetailKb: 0,
  };
  let detailBytes = 0;
  for (const product of fixture.products.slice(0, 500)) detailBytes += Buffer.byteLength(fixture.render(product.path) ?? '');
  report.meanDetailKb = detailBytes / Math.min(500, fixture.products.length) / 1024;
  if (which('wrk')) {
    const script = join(TMP_DIR, 'wrk-paths.lua');
    const list = fixture.paths.map((path) => JSON.stringify(path)).join(',\n');
    writeFileSync(
      script,
      `local paths = {\n${list}\n}\nlocal i = 0\nrequest = function()\n  i = i + 1\n  if i > #paths then i = 1 end\n  return wrk.format("GET", paths[i])\nend\n`,
    );
    const seconds = 8;
    const before = server.cpuSeconds() ?? Number.NaN;
    const run = await runChild<never>(['wrk', '-t1', '-c16', `-d${seconds}s`, '-s', script, server.url]);
    const after = server.cpuSeconds() ?? Number.NaN;
    const text = run.stdout;
    const rps = /Requests\/sec:\s+([\d.]+)/.exec(text);
    const transfer = /Transfer\/sec:\s+([\d.]+)(KB|MB|GB)/.exec(text);
    const requests = /(\d+) requests in/.exec(text);
    if (rps && requests) {
      const scale = { KB: 1 / 1024, MB: 1, GB: 1024 }[(transfer?.[2] ?? 'MB') as 'KB' | 'MB' | 'GB'];
      report.wrk = {
        requestsPerSecond: Number(rps[1]),
        mbPerSecond: Number(transfer?.[1] ?? 0) * scale,
        serverCpuMsPerRequest: ((after - before) * 1000) / Number(requests[1]),
        seconds,
      };
    } else {
      log(`wrk output not understood: ${text.slice(0, 300)}`);
    }
  } else {
    log('wrk not installed (apt-get install -y wrk): server measured with the undici loop only');
  }
  const pathsFile = join(TMP_DIR, 'paths.json');
  writeFileSync(pathsFile, JSON.stringify(fixture.paths));
  const before = server.cpuSeconds() ?? Number.NaN;
  const run = await runChild<FetchOnlyResult>(tsNode('fetch-child.ts', [JSON.stringify({ url: server.url, pathsFile })]));
  const after = server.cpuSeconds() ?? Number.NaN;
  if (run.result) {
    report.fetchOnly = {
      pagesPerSecond: (run.result.pages / run.result.wallMs) * 1000,
      clientCpuMsPerPage: (run.result.cpuSeconds * 1000) / run.result.pages,
      serverCpuMsPerPage: ((after - before) * 1000) / run.result.pages,
      errors: run.result.errors,
    };
  } else {
    log(`fetch-only loop failed: ${run.stderr.slice(-500)}`);
  }
  return report;
}

// ---------------------------------------------------------------------------------------------------------------
// crawl

interface CrawlRun {
  tool: Tool;
  rep: number;
  ok: boolean;
  error?: string;
  pagesPerSecond: number;
  wallSeconds: number;
  cpuSeconds: number;
  cpuMsPerPage: number;
  maxRssMb: number;
  pages: number;
  items: number;
  exact: number;
  complete: boolean;
  serverCpuMsPerPage: number;
  /** CPU used by other processes on the machine during the run, as a share of all cores. */
  othersCpuShare: number;
  detail?: unknown;
}

interface ToolSummary {
  tool: Tool;
  skipped?: string;
  runs: CrawlRun[];
  pagesPerSecond: Spread;
  cpuMsPerPage: Spread;
  maxRssMb: Spread;
  complete: boolean;
  items: number[];
}

async function crawlCommand(
  tool: Tool,
  url: string,
  itemsFile: string,
  dataDir: string,
  python: string | undefined,
): Promise<string[]> {
  switch (tool) {
    case 'scrapeline':
      return compiledNode('crawl-scrapeline.ts', [JSON.stringify({ url, dataDir, itemsFile, runtime: SCRAPELINE_RUNTIME })]);
    case 'crawlee':
      return compiledNode('crawl-crawlee.ts', [JSON.stringify({ url, itemsFile })], 'bench');
    case 'scrapy':
      return [python ?? 'python3', join(BENCH_DIR, 'scrapy_spider.py'), JSON.stringify({ url, itemsFile })];
  }
}

async function benchCrawl(
  server: ServerProcess,
  fixture: ReturnType<typeof createFixture>,
  options: Options,
): Promise<ToolSummary[]> {
  const scrapy = scrapyPython();
  const skipped = new Map<Tool, string>();
  if (options.tools.includes('crawlee') && !benchDepsInstalled()) {
    skipped.set('crawlee', 'bench dependencies not installed: run `cd bench && npm ci`');
  }
  if (options.tools.includes('scrapy') && !scrapy) {
    skipped.set('scrapy', 'Scrapy not found: apt-get install -y --no-install-recommends python3-scrapy');
  }
  for (const [tool, reason] of skipped) log(`${tool} skipped: ${reason}`);
  const tools = options.tools.filter((tool) => !skipped.has(tool));
  const runs: CrawlRun[] = [];
  for (let rep = 1; rep <= options.reps; rep++) {
    // Rotate the order each repetition so no tool always runs first (or right after the same peer).
    const order = tools.map((_, index) => tools[(index + rep - 1) % tools.length] as Tool);
    for (const tool of order) {
      const dir = join(TMP_DIR, `crawl-${tool}-${rep}-${Date.now()}`);
      mkdirSync(dir, { recursive: true });
      const itemsFile = join(dir, 'items.ndjson');
      const serverBefore = server.cpuSeconds() ?? Number.NaN;
      const busyBefore = machineBusySeconds();
      log(`crawl ${tool} rep ${rep}/${options.reps}...`);
      const child = await runChild<CrawlResult>(
        await crawlCommand(tool, server.url, itemsFile, join(dir, 'data'), scrapy?.python),
        {
          timeoutMs: 30 * 60_000,
        },
      );
      const busy = machineBusySeconds() - busyBefore;
      const serverCpu = (server.cpuSeconds() ?? Number.NaN) - serverBefore;
      const result = child.result;
      if (!result) {
        log(`${tool} failed (exit ${child.code}): ${child.stderr.slice(-1500)}`);
        runs.push({
          tool,
          rep,
          ok: false,
          error: child.stderr.slice(-500),
          pagesPerSecond: Number.NaN,
          wallSeconds: Number.NaN,
          cpuSeconds: Number.NaN,
          cpuMsPerPage: Number.NaN,
          maxRssMb: Number.NaN,
          pages: 0,
          items: 0,
          exact: 0,
          complete: false,
          serverCpuMsPerPage: Number.NaN,
          othersCpuShare: Number.NaN,
        });
        continue;
      }
      const verification = await verifyItems(itemsFile, fixture.products);
      if (!verification.complete) log(`${tool}: items incomplete or wrong: ${JSON.stringify(verification)}`);
      const wallSeconds = result.wallMs / 1000;
      const others = Math.max(0, busy - result.cpuSeconds - serverCpu);
      const run: CrawlRun = {
        tool,
        rep,
        ok: true,
        pagesPerSecond: result.pages / wallSeconds,
        wallSeconds,
        cpuSeconds: result.cpuSeconds,
        cpuMsPerPage: (result.cpuSeconds * 1000) / result.pages,
        maxRssMb: result.maxRssMb,
        pages: result.pages,
        items: verification.items,
        exact: verification.exact,
        complete: verification.complete,
        serverCpuMsPerPage: (serverCpu * 1000) / result.pages,
        othersCpuShare: Math.min(1, others / (child.wallMs / 1000) / 2),
        detail: result.detail,
      };
      log(
        `  ${tool}: ${run.pagesPerSecond.toFixed(0)} pages/s, ${run.cpuMsPerPage.toFixed(2)} ms CPU/page, ` +
          `${run.maxRssMb} MB, ${run.exact}/${fixture.products.length} items exact, others' CPU ${(run.othersCpuShare * 100).toFixed(0)}%`,
      );
      runs.push(run);
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return options.tools.map((tool) => {
    const mine = runs.filter((run) => run.tool === tool);
    const ok = mine.filter((run) => run.ok);
    const reason = skipped.get(tool);
    return {
      tool,
      ...(reason ? { skipped: reason } : {}),
      runs: mine,
      pagesPerSecond: spread(ok.map((run) => run.pagesPerSecond)),
      cpuMsPerPage: spread(ok.map((run) => run.cpuMsPerPage)),
      maxRssMb: spread(ok.map((run) => run.maxRssMb)),
      complete: mine.length > 0 && mine.every((run) => run.ok && run.complete),
      items: mine.map((run) => run.exact),
    };
  });
}

// ---------------------------------------------------------------------------------------------------------------
// extract

interface ExtractReport {
  modes: Record<ExtractMode, { pagesPerSecond: Spread; cpuMsPerPage: Spread; runs: ExtractResult[] }>;
  /** extractPage throughput / parseDocument throughput, from the medians of pages/s. */
  share: number;
  /** The same from CPU time per page (less sensitive to other load on the machine). */
  shareByCpu: number;
  pinned: boolean;
}

async function benchExtract(options: Options): Promise<ExtractReport> {
  const modes: ExtractMode[] = ['parse', 'load', 'extract'];
  const runs: ExtractResult[] = [];
  for (let rep = 1; rep <= options.extractReps; rep++) {
    for (const mode of modes) {
      log(`extract ${mode} rep ${rep}/${options.extractReps}...`);
      const child = await runChild<ExtractResult>(tsNode('extract-child.ts', [JSON.stringify({ mode, seconds: 4 })]), {
        cpus: '1',
      });
      if (child.result) runs.push(child.result);
      else log(`extract ${mode} failed: ${child.stderr.slice(-800)}`);
    }
  }
  const byMode = Object.fromEntries(
    modes.map((mode) => {
      const mine = runs.filter((run) => run.mode === mode);
      return [
        mode,
        {
          pagesPerSecond: spread(mine.map((run) => run.pagesPerSecond)),
          cpuMsPerPage: spread(mine.map((run) => run.cpuMsPerPage)),
          runs: mine,
        },
      ];
    }),
  ) as ExtractReport['modes'];
  return {
    modes: byMode,
    share: byMode.extract.pagesPerSecond.median / byMode.parse.pagesPerSecond.median,
    shareByCpu: byMode.parse.cpuMsPerPage.median / byMode.extract.cpuMsPerPage.median,
    pinned: which('taskset') !== undefined,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// memory

interface MemoryReport {
  pages: number;
  fixture: FixtureOptions;
  pagesPerSecond: number;
  /** Peak RSS of the process: the run, then the bench's export of the items. */
  peakRssMb: number;
  /** Peak RSS of the run alone (crawl and finalization). */
  runPeakRssMb: number;
  /** Highest RSS sampled while pages were still being crawled. */
  crawlingPeakRssMb: number;
  /** RSS when 25/50/75/100% of the pages were done. */
  rssAtQuarterMb: number[];
  /** RSS growth per 10,000 pages over the second half of the crawl (to its last page). */
  growthMbPer10kPages: number;
  flat: boolean;
  complete: boolean;
  exact: number;
  samples: MemorySample[];
}

async function benchMemory(options: Options): Promise<MemoryReport | { error: string }> {
  const fixtureOptions: FixtureOptions = {
    products: options.memoryPages,
    detailBytes: [8000, 14_000],
    chrome: 'compact',
  };
  const server = await startServerProcess({ fixture: fixtureOptions, prerender: false, cache: false });
  const fixture = createFixture(fixtureOptions);
  const dir = join(TMP_DIR, `memory-${Date.now()}`);
  const itemsFile = join(dir, 'items.ndjson');
  try {
    log(`memory: crawling ${fixture.paths.length} pages (${options.memoryPages} products)...`);
    const child = await runChild<CrawlResult>(
      await compiledNode('crawl-scrapeline.ts', [
        JSON.stringify({ url: server.url, dataDir: join(dir, 'data'), itemsFile, runtime: SCRAPELINE_RUNTIME, sampleMs: 1000 }),
      ]),
      // 90 minutes, or 10 ms a page for the long runs (a million pages on a busy machine).
      { timeoutMs: Math.max(90 * 60_000, options.memoryPages * 10) },
    );
    const result = child.result;
    if (!result) return { error: `crawl failed (exit ${child.code}): ${child.stderr.slice(-1000)}` };
    const verification = await verifyItems(itemsFile, fixture.products);
    const samples = result.samples ?? [];
    const total = fixture.paths.length;
    const rssAt = (share: number) => {
      const sample = samples.find((s) => s.pages >= total * share) ?? samples[samples.length - 1];
      return sample?.rssMb ?? Number.NaN;
    };
    // Growth per page is the crawl's: the samples of its second half, up to its last page (finalization, which
    // follows, is reported by the run's peak).
    const crawling = samples.filter((s) => s.pages < total);
    const second = crawling.filter((s) => s.pages >= total / 2);
    const first = second[0];
    const last = second[second.length - 1];
    const growth =
      first && last && last.pages > first.pages ? ((last.rssMb - first.rssMb) / (last.pages - first.pages)) * 10_000 : 0;
    const peak = Math.max(result.maxRssMb, ...samples.map((s) => s.rssMb));
    return {
      pages: result.pages,
      fixture: fixtureOptions,
      pagesPerSecond: (result.pages / result.wallMs) * 1000,
      peakRssMb: peak,
      runPeakRssMb: result.runMaxRssMb ?? peak,
      crawlingPeakRssMb: Math.max(...crawling.map((s) => s.rssMb)),
      rssAtQuarterMb: [0.25, 0.5, 0.75, 1].map(rssAt),
      growthMbPer10kPages: growth,
      // Flat: the second half of the run grows less than 5 MB per 10,000 pages.
      flat: growth < 5,
      complete: verification.complete,
      exact: verification.exact,
      samples,
    };
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------------

function ratio(a: number, b: number): string {
  return Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}x` : 'n/a';
}

function verdict(ok: boolean | undefined): string {
  return ok === undefined ? 'n/a' : ok ? 'PASS' : 'MISS';
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  mkdirSync(TMP_DIR, { recursive: true });
  const machine = machineInfo();
  log(`${machine.cpuModel}, ${machine.cores} cores, node ${machine.node}; sections: ${options.sections.join(', ')}`);
  const results: Record<string, unknown> = { machine, options };
  const fixtureOptions: FixtureOptions = { products: options.products };
  const fixture = createFixture(fixtureOptions);
  const needsServer = options.sections.includes('server') || options.sections.includes('crawl');
  const server = needsServer ? await startServerProcess({ fixture: fixtureOptions, prerender: true }) : undefined;
  let serverReport: ServerReport | undefined;
  let crawl: ToolSummary[] | undefined;
  let extract: ExtractReport | undefined;
  let memory: Awaited<ReturnType<typeof benchMemory>> | undefined;
  let scale: import('./cost.js').ScaleReport | undefined;
  let lambda: Awaited<ReturnType<typeof measureLambdas>> | undefined;
  let cost: unknown;
  try {
    if (server) {
      log(
        `fixture server ${server.url}: ${fixture.paths.length} pages, ${(server.info.bytes / 2 ** 20).toFixed(0)} MB pre-rendered`,
      );
      results.fixture = { ...fixture.options, listingPages: fixture.listingPages, pages: fixture.paths.length };
    }
    if (server && options.sections.includes('server')) {
      serverReport = await benchServer(server, fixture);
      results.server = serverReport;
    }
    if (server && options.sections.includes('crawl')) {
      crawl = await benchCrawl(server, fixture, options);
      results.crawl = { runtime: SCRAPELINE_RUNTIME, tools: crawl };
    }
  } finally {
    await server?.stop();
  }
  if (options.sections.includes('extract')) {
    extract = await benchExtract(options);
    results.extract = extract;
  }
  if (options.sections.includes('memory')) {
    memory = await benchMemory(options);
    results.memory = memory;
  }
  if (options.sections.includes('lambda')) {
    lambda = await measureLambdas(log);
    results.lambda = lambda;
  }
  if (options.sections.includes('scale')) {
    const { measureScale } = await import('./cost.js');
    scale = await measureScale(log, options.scaleProducts);
    results.scale = scale;
    log(`scale: ${scale.skipped ?? scale.summary}\nerrors: ${JSON.stringify(scale.errors ?? {})}`);
  }
  if (options.sections.includes('cost')) {
    const { measureCost } = await import('./cost.js');
    const reports = await measureCost(log, {
      products: options.costProducts,
      hosts: options.costHosts,
      politeProducts: options.costPoliteProducts,
      ...(options.costScenarios ? { scenarios: options.costScenarios } : {}),
    });
    cost = reports;
    results.cost = reports;
    for (const report of reports) {
      if (!report.lines || !report.pages) continue;
      const pages = report.pages;
      const objects = Object.entries(report.objectsPerPage ?? {})
        .map(([prefix, perPage]) => `${prefix} ${perPage.toFixed(4)} (1 per ${(1 / perPage).toFixed(0)} pages)`)
        .join(', ');
      log(
        `cost breakdown, ${report.scenario}: ${report.usdPerMillionPages?.toFixed(2)} USD per million pages\n` +
          `${report.summary}\nobjects per page: ${objects}\n${table(
            ['Item', 'Requests', 'Requests / page', 'Units', 'Units / page', 'USD / M pages'],
            report.lines.map((line) => [
              line.item,
              String(line.requests),
              (line.requests / pages).toFixed(3),
              line.units.toFixed(1),
              (line.units / pages).toFixed(3),
              line.usdPerMillionPages.toFixed(3),
            ]),
          )}`,
      );
    }
  }

  // One summary table.
  const rows: string[][] = [];
  if (serverReport) {
    const wrk = serverReport.wrk;
    rows.push([
      'Fixture server alone',
      wrk
        ? `${wrk.requestsPerSecond.toFixed(0)} req/s (wrk, 16 conn), ${wrk.serverCpuMsPerRequest.toFixed(3)} ms CPU/req`
        : 'wrk n/a',
      serverReport.fetchOnly
        ? `undici fetch-only: ${serverReport.fetchOnly.pagesPerSecond.toFixed(0)} pages/s, client ${serverReport.fetchOnly.clientCpuMsPerPage.toFixed(2)} ms CPU/page`
        : '',
      'not the bottleneck',
      '',
    ]);
  }
  if (crawl) {
    const by = new Map(crawl.map((summary) => [summary.tool, summary]));
    const s = by.get('scrapeline');
    for (const summary of crawl) {
      if (summary.skipped) {
        rows.push([`Crawl: ${summary.tool}`, `skipped: ${summary.skipped}`, '', '', '']);
        continue;
      }
      const flagged = summary.complete ? '' : ' [FLAGGED: items incomplete]';
      rows.push([
        `Crawl ${fixture.paths.length} pages: ${summary.tool}`,
        `${formatSpread(summary.pagesPerSecond)} pages/s`,
        `${formatSpread(summary.cpuMsPerPage, 2)} ms CPU/page, peak RSS ${formatSpread(summary.maxRssMb)} MB, items ${summary.items.join('/')}${flagged}`,
        summary.tool === 'scrapeline'
          ? ''
          : `scrapeline ≥ ${summary.tool === 'crawlee' ? GOALS.crawlVsCrawlee : GOALS.crawlVsScrapy}x`,
        summary.tool === 'scrapeline' || !s || s.skipped
          ? ''
          : `${ratio(s.pagesPerSecond.median, summary.pagesPerSecond.median)} speed, ${ratio(summary.cpuMsPerPage.median, s.cpuMsPerPage.median)} CPU eff. ${verdict(
              s.pagesPerSecond.median / summary.pagesPerSecond.median >=
                (summary.tool === 'crawlee' ? GOALS.crawlVsCrawlee : GOALS.crawlVsScrapy),
            )}`,
      ]);
    }
  }
  if (extract) {
    const m = extract.modes;
    rows.push([
      `Extraction, 1 core${extract.pinned ? ' (taskset)' : ''}`,
      `extractPage ${formatSpread(m.extract.pagesPerSecond)} pages/s`,
      `parseDocument ${formatSpread(m.parse.pagesPerSecond)}, cheerio/slim load ${formatSpread(m.load.pagesPerSecond)} pages/s; CPU ms/page ${m.extract.cpuMsPerPage.median.toFixed(2)} vs ${m.parse.cpuMsPerPage.median.toFixed(2)}`,
      `≥ ${GOALS.extractionShare * 100}% of parseDocument`,
      `${(extract.share * 100).toFixed(0)}% (by CPU ${(extract.shareByCpu * 100).toFixed(0)}%) ${verdict(extract.share >= GOALS.extractionShare)}`,
    ]);
  }
  if (memory) {
    if ('error' in memory) rows.push(['Memory', `error: ${memory.error.slice(0, 200)}`, '', '', '']);
    else
      rows.push([
        `Memory: ${memory.pages} pages`,
        `peak RSS ${memory.peakRssMb} MB`,
        `${memory.crawlingPeakRssMb} MB sampled while crawling, ${memory.runPeakRssMb} MB the run's peak (finalization included; the process peak adds the bench's items export); RSS at 25/50/75/100%: ${memory.rssAtQuarterMb.join('/')} MB; +${memory.growthMbPer10kPages.toFixed(1)} MB per 10k pages crawled (2nd half); ${memory.pagesPerSecond.toFixed(0)} pages/s; items ${memory.exact}${memory.complete ? '' : ' [FLAGGED]'}`,
        `< ${GOALS.memoryPeakMb} MB, flat`,
        `${verdict(memory.peakRssMb < GOALS.memoryPeakMb && memory.flat)}${memory.flat ? '' : ' (growing)'}`,
      ]);
  }
  if (lambda) {
    for (const fn of lambda) {
      if (fn.skipped) {
        rows.push([`Lambda ${fn.name}`, `skipped: ${fn.skipped}`, '', '', '']);
        continue;
      }
      rows.push([
        `Lambda ${fn.name}`,
        `${(fn.bytes / 1024).toFixed(0)} KB min (${(fn.gzipBytes / 1024).toFixed(0)} KB gz)`,
        `init ${formatSpread(fn.initMs, 1)} ms (${fn.initMs.n} cold processes)${fn.error ? `; import failed: ${fn.error}` : ''}`,
        `< ${GOALS.bundleKb} KB, < ${GOALS.initMs} ms`,
        `${verdict(fn.bytes / 1024 < GOALS.bundleKb)} / ${verdict(fn.initMs.n > 0 ? fn.initMs.median < GOALS.initMs : undefined)}`,
      ]);
    }
  }
  if (scale) {
    rows.push([
      'Scale check (local AWS peers)',
      scale.skipped
        ? `skipped: ${scale.skipped}`
        : `${scale.urls?.accepted} URLs, ${scale.allTerminal ? 'all terminal' : 'NOT all terminal'}`,
      scale.summary ?? '',
      'all terminal, no conflict storm, no timeout, finalize < 512 MB',
      scale.skipped
        ? 'n/a'
        : verdict(
            scale.allTerminal === true &&
              Object.values(scale.slowest ?? {}).every((fn) => fn.maxMs < fn.timeoutMs) &&
              (scale.finalize?.rssAboveRestMb ?? Number.POSITIVE_INFINITY) < 512,
          ),
    ]);
  }
  if (cost) {
    for (const c of cost as { skipped?: string; scenario?: string; usdPerMillionPages?: number; summary?: string }[]) {
      const goal = c.scenario?.startsWith('polite') ? GOALS.usdPerMillionPagesPolite : GOALS.usdPerMillionPages;
      rows.push([
        `Cost (AWS list prices), ${c.scenario?.split(':')[0] ?? ''}`,
        c.skipped ? `skipped: ${c.skipped}` : `${c.usdPerMillionPages?.toFixed(2)} USD per million pages`,
        `${c.scenario ?? ''}; ${c.summary ?? ''}`,
        `< ${goal} USD / M pages`,
        c.skipped ? 'n/a' : verdict((c.usdPerMillionPages ?? Number.POSITIVE_INFINITY) < goal),
      ]);
    }
  }
  const summary = table(['Benchmark', 'Result', 'Details', 'Goal', 'vs goal'], rows);
  process.stdout.write(
    `\nscrapeline bench — ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGb} GB, node ${machine.node}, ${machine.date}\n` +
      `medians (min–max) over fresh processes; crawl: ${options.reps} reps interleaved, concurrency 16\n\n${summary}\n`,
  );
  results.summary = summary;
  if (options.save) {
    mkdirSync(RESULTS_DIR, { recursive: true });
    const file = join(RESULTS_DIR, `${machine.date.replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
    writeFileSync(join(RESULTS_DIR, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
    log(`saved ${file.slice(REPO_ROOT.length + 1)}`);
  }
}

await main();
