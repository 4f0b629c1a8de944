/**
 * One scrapeline crawl of the fixture in this process: the local runtime with the whole pipeline (WARC archive,
 * page records, post-processing, manifest). Invoked by the harness as
 * `node --import tsx bench/crawl-scrapeline.ts '<json ScrapelineCrawlArgs>'`; prints `RESULT <json>`.
 * Also used in process by the smoke test ({@link crawlScrapeline}).
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { pathToFileURL } from 'node:url';
import { LocalRuntime, type LocalRuntimeOptions } from '../shared/local/runtime.js';
import type { RunManifest } from '../shared/pipeline/finalize.js';
import { runRows } from '../shared/query.js';
import { BENCH_JOB_NAME, benchJob } from './job.js';

export interface ScrapelineCrawlArgs {
  readonly url: string;
  readonly dataDir: string;
  /** Where to write the extracted items (NDJSON), after the timed crawl. */
  readonly itemsFile: string;
  readonly runtime?: Omit<LocalRuntimeOptions, 'dataDir'>;
  /** Sample RSS and progress every this many ms (memory run). */
  readonly sampleMs?: number;
  /**
   * Write a sampling allocation profile of the crawl here (`.heapprofile`, open with bench/profile.ts or DevTools).
   * Unlike `node --heap-prof` it keeps the objects already collected, so it shows where garbage comes from.
   */
  readonly allocationProfile?: string;
  /** Write a heap snapshot here when the run has finished (before the runtime closes): what the crawl retains. */
  readonly heapSnapshot?: string;
}

export interface MemorySample {
  readonly t: number;
  readonly rssMb: number;
  readonly heapMb: number;
  /** Memory outside the V8 heap held by JavaScript objects (`external`, which includes every `ArrayBuffer`). */
  readonly externalMb: number;
  /** URLs that reached a terminal state so far. */
  readonly pages: number;
}

export interface CrawlResult {
  readonly tool: string;
  readonly wallMs: number;
  /** CPU seconds (user + system, every thread of the process) during the crawl. */
  readonly cpuSeconds: number;
  /** Peak RSS of the process (getrusage), MB. */
  readonly maxRssMb: number;
  /** Peak RSS when the run had finished, before anything else the bench did after it (the items export), MB. */
  readonly runMaxRssMb?: number;
  /** Pages fetched with a 2xx and processed. */
  readonly pages: number;
  readonly itemsFile: string;
  readonly detail?: unknown;
  readonly samples?: MemorySample[];
}

/** Sampling heap profiler over the inspector, keeping objects collected by GC (allocation hot spots). */
async function startAllocationSampling(): Promise<{ stop(file: string): Promise<void> }> {
  const { Session } = await import('node:inspector');
  const { writeFile } = await import('node:fs/promises');
  const session = new Session();
  session.connect();
  const post = (method: string, params?: object) =>
    new Promise<unknown>((resolve, reject) =>
      session.post(method, params ?? {}, (error, result) => (error ? reject(error) : resolve(result))),
    );
  await post('HeapProfiler.startSampling', {
    samplingInterval: 64 * 1024,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  return {
    async stop(file) {
      const { profile } = (await post('HeapProfiler.stopSampling')) as { profile: unknown };
      await writeFile(file, JSON.stringify(profile));
      session.disconnect();
    },
  };
}

export async function crawlScrapeline(args: ScrapelineCrawlArgs): Promise<CrawlResult> {
  const job = benchJob(args.url);
  // The fixture listens on 127.0.0.1, which the SSRF guard of the HTTP client refuses unless allowed.
  const parts = { jobs: [job], ssrf: { allow: ['127.0.0.1'] } };
  const runtime = new LocalRuntime(parts, { ...args.runtime, dataDir: args.dataDir });
  const samples: MemorySample[] = [];
  let terminal = 0;
  const started = performance.now();
  const sampler =
    args.sampleMs === undefined
      ? undefined
      : setInterval(() => {
          const memory = process.memoryUsage();
          samples.push({
            t: Math.round(performance.now() - started),
            rssMb: Math.round(memory.rss / 2 ** 20),
            heapMb: Math.round(memory.heapUsed / 2 ** 20),
            externalMb: Math.round(memory.external / 2 ** 20),
            pages: terminal,
          });
        }, args.sampleMs);
  const session = args.allocationProfile === undefined ? undefined : await startAllocationSampling();
  const before = process.cpuUsage();
  const { outcome } = await runtime.run(BENCH_JOB_NAME, {
    onProgress: ({ meta }) => {
      const c = meta.counters;
      terminal = c.parsed + c.unchanged + c.skipped + c.failed;
    },
  });
  const cpu = process.cpuUsage(before);
  const wallMs = performance.now() - started;
  // The run's own peak (crawl and finalization), before the bench exports the items.
  const runMaxRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
  if (sampler) clearInterval(sampler);
  if (session && args.allocationProfile) await session.stop(args.allocationProfile);
  if (args.heapSnapshot) {
    const { writeHeapSnapshot } = await import('node:v8');
    writeHeapSnapshot(args.heapSnapshot);
  }
  if (outcome.kind !== 'finished') {
    await runtime.close();
    throw new Error(`run stalled: ${JSON.stringify(outcome)}`);
  }
  const manifest: RunManifest = outcome.manifest;
  await mkdir(dirname(args.itemsFile), { recursive: true });
  const out = createWriteStream(args.itemsFile);
  for await (const row of runRows(runtime.store, manifest)) {
    const item: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(row)) if (!name.startsWith('_')) item[name] = value;
    // Waits for the file to take what it was given: without it, every row would queue in the stream's memory and
    // the export would count in the crawl's peak RSS.
    if (!out.write(`${JSON.stringify(item)}\n`)) await once(out, 'drain');
  }
  await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
  await runtime.close();
  return {
    tool: 'scrapeline',
    wallMs,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    runMaxRssMb,
    pages: manifest.urls.parsed,
    itemsFile: args.itemsFile,
    detail: { urls: manifest.urls, items: manifest.items, reasons: manifest.reasons, state: manifest.state },
    ...(args.sampleMs === undefined ? {} : { samples }),
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = JSON.parse(process.argv[2] ?? '{}') as ScrapelineCrawlArgs;
  const result = await crawlScrapeline(args);
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  process.exit(0);
}
