/**
 * Cost model: USD per million pages at AWS list prices (shared/design/architecture.md), from the AWS requests one
 * run makes (bench/cost-child.ts: the three Lambda handlers with the AWS adapters against the local peers).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, runChild, tsNode } from './common.js';
import type { CostChildResult } from './cost-child.js';

/** List prices, us-east-1, arm64 (architecture.md; check before quoting). */
export const PRICES = {
  s3PutClassPer1000: 0.005,
  s3GetClassPer1000: 0.0004,
  sqsPerMillionChunks: 0.4,
  lambdaPerMillionInvocations: 0.2,
  lambdaPerGbSecond: 0.0000133334,
  dynamoPerMillionWriteUnits: 0.625,
  dynamoPerMillionReadUnits: 0.125,
} as const;

const REQUIRED = [
  'shared/aws/s3-object-store.ts',
  'shared/aws/sqs-queue.ts',
  'shared/aws/dynamo-state-store.ts',
  'test/support/aws-peers.ts',
  'test/aws/lambda-driver.ts',
  'functions/fetcher.ts',
  'functions/parser.ts',
  'functions/postprocessor.ts',
];

const S3_GET_CLASS = new Set(['GetObject', 'HeadObject', 'GetObjectAttributes']);
const DYNAMO_READS = new Set(['GetItem', 'Query', 'Scan', 'BatchGetItem', 'TransactGetItems']);

export interface CostLine {
  readonly item: string;
  readonly requests: number;
  readonly units: number;
  readonly usd: number;
  readonly usdPerMillionPages: number;
}

export interface CostReport {
  readonly skipped?: string;
  /** What was crawled, e.g. `many-hosts: 10500 pages on 50 hosts (4 in flight per host, 0 ms apart)`. */
  readonly scenario?: string;
  readonly pages?: number;
  /** Objects written per page, by prefix (raw/, records/, datasets/, changes/). */
  readonly objectsPerPage?: Record<string, number>;
  readonly usdPerMillionPages?: number;
  readonly lines?: CostLine[];
  readonly summary?: string;
  readonly raw?: CostChildResult;
}

/** Prices the counted requests and Lambda time of a run. */
export function price(result: CostChildResult): CostReport {
  const lines: CostLine[] = [];
  const perMillion = (usd: number) => (usd / result.pages) * 1e6;
  for (const count of result.requests.filter((entry) => !entry.harness)) {
    let usd = 0;
    let item = `${count.service} ${count.operation}`;
    switch (count.service) {
      case 'S3':
        usd = S3_GET_CLASS.has(count.operation)
          ? (count.units / 1000) * PRICES.s3GetClassPer1000
          : (count.units / 1000) * PRICES.s3PutClassPer1000;
        break;
      case 'SQS':
        usd = (count.units / 1e6) * PRICES.sqsPerMillionChunks;
        if (count.empty > 0) item += ` (${count.empty} empty local polls not billed)`;
        break;
      case 'DynamoDB':
        usd = DYNAMO_READS.has(count.operation.split(' ')[0] ?? '')
          ? (count.units / 1e6) * PRICES.dynamoPerMillionReadUnits
          : (count.units / 1e6) * PRICES.dynamoPerMillionWriteUnits;
        break;
      default:
        usd = 0;
    }
    lines.push({ item, requests: count.requests, units: count.units, usd, usdPerMillionPages: perMillion(usd) });
  }
  for (const [name, stats] of Object.entries(result.lambda)) {
    const gbSeconds = (stats.billedMs / 1000) * (stats.memoryMb / 1024);
    const invocationsUsd = (stats.invocations / 1e6) * PRICES.lambdaPerMillionInvocations;
    const durationUsd = gbSeconds * PRICES.lambdaPerGbSecond;
    lines.push({
      item: `Lambda ${name} invocations`,
      requests: stats.invocations,
      units: stats.invocations,
      usd: invocationsUsd,
      usdPerMillionPages: perMillion(invocationsUsd),
    });
    lines.push({
      item: `Lambda ${name} GB-s (${stats.memoryMb} MB × ${(stats.billedMs / 1000).toFixed(1)} s)`,
      requests: 0,
      units: gbSeconds,
      usd: durationUsd,
      usdPerMillionPages: perMillion(durationUsd),
    });
  }
  lines.sort((a, b) => b.usd - a.usd);
  const total = lines.reduce((sum, line) => sum + line.usd, 0);
  const byService = new Map<string, number>();
  for (const line of lines) {
    const service = line.item.split(' ')[0] as string;
    byService.set(service, (byService.get(service) ?? 0) + line.usdPerMillionPages);
  }
  const { politeness } = result;
  return {
    scenario: `${result.scenario}: ${result.pages} pages on ${result.hosts} host${result.hosts === 1 ? '' : 's'} (${politeness.perHostConcurrency} in flight per host, ${politeness.minDelayMs} ms apart)`,
    pages: result.pages,
    objectsPerPage: Object.fromEntries(Object.entries(result.objects).map(([prefix, n]) => [prefix, n / result.pages])),
    usdPerMillionPages: perMillion(total),
    lines,
    summary: `${[...byService].map(([service, usd]) => `${service} ${usd.toFixed(2)}`).join(', ')} (USD per million pages; ${result.pages} pages)`,
    raw: result,
  };
}

/** Sizes of the cost runs. */
export interface CostOptions {
  /** Products of the fetch-bound run over many hosts (plus a listing page per 20). @default 10000 */
  readonly products?: number;
  /** Hosts of that run. @default 50 */
  readonly hosts?: number;
  /** Products of the polite single-host run (2 in flight, 250 ms apart: 4 pages/s at most). @default 300 */
  readonly politeProducts?: number;
  /** The runs to make, by scenario name (`many-hosts`, `polite`, `recurring`). @default all three */
  readonly scenarios?: readonly string[];
}

/**
 * The cost runs, each in a fresh process: one fetch-bound over many hosts, one polite single host, and the next run
 * of the many-hosts job (its pages unchanged).
 */
export async function measureCost(log: (message: string) => void, options: CostOptions = {}): Promise<CostReport[]> {
  const missing = REQUIRED.filter((file) => !existsSync(join(REPO_ROOT, file)));
  if (missing.length > 0) {
    log(`cost: skipped, missing ${missing.join(', ')}`);
    return [{ skipped: `AWS adapters, functions or peers missing (${missing.join(', ')})` }];
  }
  const runs = [
    { scenario: 'many-hosts', products: options.products ?? 10_000, hosts: options.hosts ?? 50 },
    { scenario: 'polite', products: options.politeProducts ?? 300, hosts: 1 },
    // The many-hosts crawl again on the same unchanged site, as a scheduled job's next run: its own requests only.
    { scenario: 'recurring', products: options.products ?? 10_000, hosts: options.hosts ?? 50 },
  ] as const;
  const reports: CostReport[] = [];
  for (const run of runs.filter((candidate) => options.scenarios?.includes(candidate.scenario) ?? true)) {
    log(
      `cost: ${run.scenario} run (${run.products} products, ${run.hosts} hosts) through the Lambda handlers against the local AWS peers...`,
    );
    const child = await runChild<CostChildResult>(tsNode('cost-child.ts', [JSON.stringify(run)]), {
      timeoutMs: (run.scenario === 'recurring' ? 30 : 15) * 60_000,
      env: { NODE_OPTIONS: '--openssl-legacy-provider' },
    });
    if (!child.result) {
      const reason = child.stderr
        .split('\n')
        .filter((line) => /Error|error/.test(line))
        .slice(0, 3)
        .join(' | ');
      log(`cost: ${run.scenario} run failed (exit ${child.code}): ${child.stderr.slice(-1500)}`);
      reports.push({ scenario: run.scenario, skipped: `the cost run failed: ${reason.slice(0, 300)}` });
      continue;
    }
    reports.push(price(child.result));
  }
  return reports;
}

/** The scale check of the run state (cost-child.ts, scenario `scale`). */
export interface ScaleReport {
  readonly skipped?: string;
  /** The manifest's URL counts: every accepted URL must be terminal. */
  readonly urls?: Record<string, number>;
  readonly allTerminal?: boolean;
  /** DynamoDB transaction conflicts answered (each retried by the adapter, or by the SDK). */
  readonly conflicts?: number;
  /** Messages a stage gave up on (after 5 receives), ended by the dead-letter stage. */
  readonly deadLetters?: number;
  /** Every AWS error answered, by service, operation and name (conditional check failures are normal answers). */
  readonly errors?: Record<string, number>;
  /** Longest invocation of each function against its timeout. */
  readonly slowest?: Record<string, { readonly maxMs: number; readonly timeoutMs: number; readonly invocations: number }>;
  /** Invocations past their timeout, per function, with what their batches held. */
  readonly overruns?: CostChildResult['overruns'];
  readonly finalize?: CostChildResult['finalize'];
  readonly peakRssMb?: number;
  readonly wallMs?: number;
  readonly usdPerMillionPages?: number;
  readonly summary?: string;
}

/**
 * The scale check: 20 concurrent invocations per stage over the local AWS peers, a 50,000-URL sitemap and about
 * 100,000 URLs in all (small pages), then the finished run finalized once more alone to measure its memory.
 */
export async function measureScale(log: (message: string) => void, products?: number): Promise<ScaleReport> {
  const missing = REQUIRED.filter((file) => !existsSync(join(REPO_ROOT, file)));
  if (missing.length > 0) return { skipped: `missing ${missing.join(', ')}` };
  log(`scale: ${products ?? 95_250} products, 20 invocations per stage, through the Lambda handlers and the local AWS peers...`);
  const child = await runChild<CostChildResult>(
    tsNode('cost-child.ts', [JSON.stringify({ scenario: 'scale', ...(products ? { products } : {}) })]),
    { timeoutMs: 4 * 3_600_000, env: { NODE_OPTIONS: '--openssl-legacy-provider' } },
  );
  if (!child.result) {
    log(`scale: the run failed (exit ${child.code}): ${child.stderr.slice(-1500)}`);
    return { skipped: `the scale run failed (exit ${child.code})` };
  }
  const result = child.result;
  const terminal = ['parsed', 'unchanged', 'skipped', 'failed'].reduce((sum, state) => sum + (result.urls[state] ?? 0), 0);
  const conflicts = Object.entries(result.errors)
    // Cancelled for a conflict (TransactionConflictException, or a cancellation naming TransactionConflict), not
    // for a receipt's condition (ConditionalCheckFailed: the work was done before).
    .filter(([name]) => /TransactionConflict/.test(name) || (/TransactionCanceled/.test(name) && !/\[/.test(name)))
    .reduce((sum, [, count]) => sum + count, 0);
  const slowest = Object.fromEntries(
    Object.entries(result.batches).map(([name, batch]) => [
      name,
      { maxMs: batch.maxMs, timeoutMs: result.timeoutsMs[name] ?? 0, invocations: batch.invocations },
    ]),
  );
  const priced = price(result);
  const deadLetters = Object.entries(result.batches)
    .filter(([name]) => name.endsWith('-dlq'))
    .reduce((sum, [, batch]) => sum + batch.records, 0);
  const report: ScaleReport = {
    urls: result.urls,
    allTerminal: terminal === (result.urls.accepted ?? -1),
    conflicts,
    deadLetters,
    errors: result.errors,
    slowest,
    ...(result.overruns ? { overruns: result.overruns } : {}),
    ...(result.finalize ? { finalize: result.finalize } : {}),
    peakRssMb: result.peakRssMb,
    wallMs: result.wallMs,
    ...(priced.usdPerMillionPages === undefined ? {} : { usdPerMillionPages: priced.usdPerMillionPages }),
  };
  const timing = Object.entries(slowest)
    .map(([name, s]) => `${name} ${(s.maxMs / 1000).toFixed(1)} s of ${(s.timeoutMs / 1000).toFixed(0)} s`)
    .join(', ');
  const overrunList = Object.entries(result.overruns ?? {}).map(
    ([name, list]) =>
      `${name} ${list.length} (${list.map((overrun) => `${(overrun.ms / 1000).toFixed(1)} s: ${JSON.stringify(overrun.kinds)}`).join(', ')})`,
  );
  const overruns = overrunList.length > 0 ? `past their timeout: ${overrunList.join('; ')}` : 'no invocation past its timeout';
  const finalize = result.finalize
    ? `finalize of ${result.finalize.urls} URLs: ${result.finalize.heapAboveRestMb} MB heap above rest, ${(result.finalize.ms / 1000).toFixed(1)} s`
    : 'finalize not measured';
  return {
    ...report,
    summary: `${terminal} of ${result.urls.accepted} URLs terminal; ${conflicts} transaction conflicts; ${deadLetters} dead letters; longest invocations: ${timing}; ${overruns}; ${finalize}; ${priced.usdPerMillionPages?.toFixed(2)} USD / M pages`,
  };
}
