/**
 * Lambda bundles, measured as Lambda runs them: each `functions/<name>.ts` bundled with the options of the stack
 * (cdk/bundling/options.ts: CommonJS, minified, the runtime's target, the SDK external, the aliases), then started in fresh `node` processes with the stack's `NODE_OPTIONS` (none at the default log level)
 * and the SDK resolved from node_modules as from the runtime's. Each process times
 *
 * - module init, split into the SDK packages the bundle imports at its top (loaded first, as Node.js evaluates a
 *   module's imports before its body) and the bundle's own code;
 * - the handler's first invocation (cold) and a second one of the same kind (warm), over the local AWS peers
 *   (s3rver, local-aws-sqs, dynalite) and the demo bookstore: the fetcher fetches a run's start page (robots.txt,
 *   the page, the archive, the parse task), the parser parses it (records, followed links), the post-processor
 *   post-processes its records object. Each event is prepared beforehand by the same handlers, in this process.
 *
 * A second set of processes times init with `--enable-source-maps` (what the stack set before 2026-12-01, and
 * still sets at DEBUG and TRACE).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { SQSEvent } from 'aws-lambda';
import {
  BUNDLE_ALIASES,
  BUNDLE_FORMAT,
  ESBUILD_OPTIONS,
  nodeOptionsFor,
  OMITTED_MODULES,
  RUNTIME_MODULES,
} from '../cdk/bundling/options.js';
import { STAGE_FUNCTIONS, type StageFunction } from '../shared/stages.js';
import { REPO_ROOT, runChild, type Spread, spread, TMP_DIR } from './common.js';

/** The esbuild target of the stack's runtime (cdk/constructs/function.ts, `FUNCTION_RUNTIME`). */
const RUNTIME_TARGET = 'node24';
/** The log level the stack deploys with by default. */
const DEFAULT_LOG_LEVEL = 'INFO';

/** Dummy configuration: what the functions validate at cold start (init-only processes). */
export const LAMBDA_ENV: Record<string, string> = {
  BUCKET_NAME: 'scrapeline-bench-bucket',
  STATE_TABLE_NAME: 'scrapeline-bench-state',
  FETCH_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/000000000000/fetch',
  PARSE_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/000000000000/parse',
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'bench',
  AWS_SECRET_ACCESS_KEY: 'bench',
  POWERTOOLS_SERVICE_NAME: 'scrapeline-bench',
  LOG_LEVEL: 'ERROR',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};

export interface LambdaReport {
  readonly name: string;
  readonly skipped?: string;
  readonly bytes: number;
  readonly gzipBytes: number;
  /** Module init, SDK and own code, with the stack's NODE_OPTIONS. */
  readonly initMs: Spread;
  /** The SDK packages the bundle imports at its top. */
  readonly sdkInitMs?: Spread;
  /** The bundle's own code, after the SDK packages were loaded. */
  readonly ownInitMs?: Spread;
  /** Module init with `--enable-source-maps`. */
  readonly initWithSourceMapsMs?: Spread;
  /** SDK packages imported at the bundle's top (the others are imported when first needed). */
  readonly sdkPackages?: readonly string[];
  /** The handler's first invocation in a fresh process, over the local peers. */
  readonly coldInvokeMs?: Spread;
  /** A second invocation of the same kind in the same process. */
  readonly warmInvokeMs?: Spread;
  /** Largest inputs of the bundle (bytes in the output), to explain the size. */
  readonly topInputs: { path: string; bytes: number }[];
  /** Largest packages of the bundle. */
  readonly topPackages: { name: string; bytes: number }[];
  readonly error?: string;
}

interface ChildTimes {
  readonly sdkMs: number;
  readonly ownMs: number;
  readonly coldMs?: number;
  readonly warmMs?: number;
  readonly failures?: number;
}

/** The child: plain Node.js (no loader of ours), so that init is what Lambda's runtime would see. */
const CHILD_SCRIPT = `
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
const [bundleUrl, sdkJson, eventsFile, functionName] = process.argv.slice(2);
// As the runtime loads a handler: a CommonJS file by require, an ES module by import (and the SDK as it does).
const commonJs = bundleUrl.endsWith('.cjs');
const load = commonJs ? createRequire(bundleUrl) : (name) => import(name);
const t0 = performance.now();
for (const name of JSON.parse(sdkJson)) await load(name);
const t1 = performance.now();
const m = await load(commonJs ? fileURLToPath(bundleUrl) : bundleUrl);
const t2 = performance.now();
if (typeof m.handler !== 'function') throw new Error('no handler export');
const result = { sdkMs: t1 - t0, ownMs: t2 - t1 };
if (eventsFile) {
  const events = JSON.parse(readFileSync(eventsFile, 'utf8'));
  const context = (i) => ({
    callbackWaitsForEmptyEventLoop: true, functionName, functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:' + functionName, memoryLimitInMB: '1024',
    awsRequestId: 'bench-' + i, logGroupName: '/aws/lambda/' + functionName, logStreamName: 'bench',
    getRemainingTimeInMillis: () => 60000, done() {}, fail() {}, succeed() {},
  });
  let failures = 0;
  const times = [];
  for (const [i, event] of events.entries()) {
    const started = performance.now();
    const response = await m.handler(event, context(i));
    times.push(performance.now() - started);
    failures += response?.batchItemFailures?.length ?? 0;
  }
  Object.assign(result, { coldMs: times[0], warmMs: times[1], failures });
}
process.stdout.write('RESULT ' + JSON.stringify(result) + '\\n');
process.exit(0);
`;

function packageOf(path: string): string {
  const index = path.lastIndexOf('node_modules/');
  if (index < 0) return path.split('/').slice(0, 2).join('/');
  const rest = path.slice(index + 'node_modules/'.length).split('/');
  return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] ?? path);
}

/** Events for the cold and warm invocations of each function, `processes` pairs each. */
type PreparedEvents = Record<StageFunction, SQSEvent[][]>;

interface Peers {
  readonly env: Record<string, string>;
  readonly events: PreparedEvents;
  stop(): Promise<void>;
}

/**
 * Starts the local peers and the demo bookstore, and prepares with the functions' own handlers (in this process)
 * the events each function's processes will get: two runs per process, each one page far along its path.
 */
async function preparePeers(processes: number, log: (message: string) => void): Promise<Peers> {
  const { startAwsPeers } = await import('../test/support/aws-peers.js');
  const { setEnvironment } = await import('../test/support/environment.js');
  const { sqsRecord, lambdaContext } = await import('../test/aws/lambda-driver.js');
  const { generateSite } = await import('../demo/site.js');
  const { startDemoServer } = await import('../demo/server.js');
  const { DeleteMessageBatchCommand, ReceiveMessageCommand } = await import('@aws-sdk/client-sqs');
  const { ListObjectsV2Command } = await import('@aws-sdk/client-s3');

  const queueOptions = { visibilityTimeoutSeconds: 60, maxReceiveCount: 3 };
  const peers = await startAwsPeers({ queues: { fetch: queueOptions, parse: queueOptions } });
  const server = await startDemoServer({ site: generateSite({ books: 40 }) });
  const fetchQueue = peers.queues.fetch;
  const parseQueue = peers.queues.parse;
  if (!fetchQueue || !parseQueue) throw new Error('queues missing');
  const env = peers.functionEnvironment({
    FETCH_QUEUE_URL: fetchQueue.url,
    PARSE_QUEUE_URL: parseQueue.url,
    FETCH_ALLOW_ADDRESSES: '127.0.0.1',
    POWERTOOLS_SERVICE_NAME: 'scrapeline-bench',
  });
  const restoreEnvironment = setEnvironment(env);
  const fetcher = (await import('../functions/fetcher.js')).handler;
  const parser = (await import('../functions/parser.js')).handler;

  /** Every message waiting in a queue, by run id (deleted from the queue). */
  const drain = async (queue: { url: string; arn: string }) => {
    const byRun = new Map<string, SQSEvent['Records']>();
    for (let empty = 0; empty < 3; ) {
      const output = await peers.clients.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: queue.url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
      );
      const messages = output.Messages ?? [];
      if (messages.length === 0) {
        empty++;
        continue;
      }
      for (const message of messages) {
        const runId = (JSON.parse(message.Body ?? '{}') as { runId?: string }).runId ?? '';
        byRun.set(runId, [...(byRun.get(runId) ?? []), sqsRecord(message, queue.arn, 'us-east-1')]);
      }
      await peers.clients.sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queue.url,
          Entries: messages.map((message, index) => ({ Id: String(index), ReceiptHandle: message.ReceiptHandle ?? '' })),
        }),
      );
    }
    return byRun;
  };
  const invoke = async (handler: typeof fetcher, records: SQSEvent['Records'], name: string) => {
    const response = await handler({ Records: records }, lambdaContext(name));
    if (response.batchItemFailures.length > 0) throw new Error(`preparing the ${name} events: a record failed`);
  };

  const startUrl = `${server.url}/catalogue/page-1.html`;
  const events: PreparedEvents = { fetcher: [], parser: [], postprocessor: [] };
  const prepare = async (name: StageFunction, index: number): Promise<SQSEvent> => {
    const runId = `bench-${name}-${index}`;
    const start = { type: 'start-run', job: 'books', runId, startUrls: [startUrl] };
    const startRecord = {
      ...sqsRecord({ MessageId: `start-${runId}`, Body: JSON.stringify(start) }, fetchQueue.arn, 'us-east-1'),
    };
    await invoke(fetcher, [startRecord], 'fetcher');
    const fetchTasks = (await drain(fetchQueue)).get(runId) ?? [];
    if (name === 'fetcher') return { Records: fetchTasks };
    await invoke(fetcher, fetchTasks, 'fetcher');
    const parseTasks = (await drain(parseQueue)).get(runId) ?? [];
    if (name === 'parser') return { Records: parseTasks };
    await invoke(parser, parseTasks, 'parser');
    await drain(fetchQueue);
    const listed = await peers.clients.s3.send(
      new ListObjectsV2Command({ Bucket: peers.bucket, Prefix: `records/books/${runId}/` }),
    );
    const notification = {
      Records: (listed.Contents ?? []).map((object) => ({
        eventName: 'ObjectCreated:Put',
        s3: { bucket: { name: peers.bucket }, object: { key: object.Key ?? '' } },
      })),
    };
    return {
      Records: [
        sqsRecord(
          { MessageId: `records-${runId}`, Body: JSON.stringify(notification) },
          `${fetchQueue.arn}-postprocess`,
          'us-east-1',
        ),
      ],
    };
  };
  for (const name of STAGE_FUNCTIONS) {
    for (let index = 0; index < processes; index++) {
      events[name].push([await prepare(name, 2 * index), await prepare(name, 2 * index + 1)]);
    }
    const sizes = events[name].flat().map((event) => event.Records.length);
    log(`lambda ${name}: ${events[name].length} × 2 events prepared (${Math.min(...sizes)}–${Math.max(...sizes)} records each)`);
  }
  restoreEnvironment();
  return {
    env,
    events,
    async stop() {
      await server.close();
      await peers.stop();
    },
  };
}

/** A way of building the functions, e.g. an earlier commit's, measured beside the current one. */
export interface LambdaVariant {
  /** Named in the log and the reports. */
  readonly label: string;
  /** Where `functions/` and `node_modules/` are. @default this repository */
  readonly root?: string;
  /** esbuild options replacing the stack's (e.g. an earlier commit's aliases and externals). @default none */
  readonly build?: Partial<import('esbuild').BuildOptions>;
  /** `NODE_OPTIONS` of the stack at its default log level. @default the stack's (cdk/bundling/options.ts) */
  readonly nodeOptions?: string;
}

interface Built {
  readonly outfile: string;
  readonly outDir: string;
  readonly childScript: string;
  readonly code: Buffer;
  readonly inputs: { path: string; bytes: number }[];
  readonly sdkPackages: string[];
}

async function buildFunction(name: StageFunction, variant: LambdaVariant): Promise<Built> {
  const esbuild = await import('esbuild');
  const root = variant.root ?? REPO_ROOT;
  const outDir = variant.root === undefined ? join(TMP_DIR, 'lambda') : join(root, '.tmp', 'lambda');
  mkdirSync(outDir, { recursive: true });
  const childScript = join(outDir, 'child.mjs');
  writeFileSync(childScript, CHILD_SCRIPT);
  const format = variant.build?.format ?? BUNDLE_FORMAT;
  // A CommonJS bundle is index.js in Lambda (no package.json in /var/task); here .cjs says the same to Node.js.
  const outfile = join(outDir, `${name}.${format === 'esm' ? 'mjs' : 'cjs'}`);
  const result = await esbuild.build({
    entryPoints: [join(root, 'functions', `${name}.ts`)],
    outfile,
    bundle: true,
    platform: 'node',
    format: BUNDLE_FORMAT,
    target: RUNTIME_TARGET,
    mainFields: ['module', 'main'],
    minify: true,
    sourcemap: true,
    sourcesContent: false,
    supported: { ...ESBUILD_OPTIONS.supported },
    logOverride: { ...ESBUILD_OPTIONS.logOverride },
    external: [...RUNTIME_MODULES, ...OMITTED_MODULES],
    alias: { ...BUNDLE_ALIASES },
    metafile: true,
    logLevel: 'silent',
    absWorkingDir: root,
    ...variant.build,
  });
  const output = Object.entries(result.metafile?.outputs ?? {}).find(([path]) => !path.endsWith('.map'))?.[1];
  // The SDK packages the sources import statically (the others are imported when first needed).
  const sdkImports = Object.entries(result.metafile?.inputs ?? {})
    .filter(([path]) => output?.inputs[path] !== undefined)
    .flatMap(([, input]) => input.imports)
    .filter((entry) => entry.external && entry.kind === 'import-statement' && entry.path.startsWith('@aws-sdk/'));
  return {
    outfile,
    outDir,
    childScript,
    code: readFileSync(outfile),
    inputs: Object.entries(output?.inputs ?? {}).map(([path, info]) => ({ path, bytes: info.bytesInOutput })),
    sdkPackages: [...new Set(sdkImports.map((entry) => entry.path))].sort(),
  };
}

function report(
  name: StageFunction,
  built: Built,
  stack: readonly ChildTimes[],
  withMaps: readonly ChildTimes[],
  error?: string,
): LambdaReport {
  const packages = new Map<string, number>();
  for (const input of built.inputs) packages.set(packageOf(input.path), (packages.get(packageOf(input.path)) ?? 0) + input.bytes);
  const failures = stack.reduce((sum, times) => sum + (times.failures ?? 0), 0);
  return {
    name,
    bytes: built.code.length,
    gzipBytes: gzipSync(built.code).length,
    initMs: spread(stack.map((times) => times.sdkMs + times.ownMs)),
    sdkInitMs: spread(stack.map((times) => times.sdkMs)),
    ownInitMs: spread(stack.map((times) => times.ownMs)),
    initWithSourceMapsMs: spread(withMaps.map((times) => times.sdkMs + times.ownMs)),
    sdkPackages: built.sdkPackages,
    coldInvokeMs: spread(stack.flatMap((times) => (times.coldMs === undefined ? [] : [times.coldMs]))),
    warmInvokeMs: spread(stack.flatMap((times) => (times.warmMs === undefined ? [] : [times.warmMs]))),
    topInputs: [...built.inputs].sort((a, b) => b.bytes - a.bytes).slice(0, 10),
    topPackages: [...packages.entries()]
      .map(([pkg, bytes]) => ({ name: pkg, bytes }))
      .sort((a, b) => b.bytes - a.bytes)
      .slice(0, 10),
    ...(error ? { error } : failures > 0 ? { error: `${failures} records failed in the measured invocations` } : {}),
  };
}

/**
 * Bundles and measures each function, for each variant (by default the current tree, built as the stack builds
 * it). The variants' processes are interleaved, so that the machine's load weighs on all of them alike.
 *
 * @param processes fresh processes per function, variant and measurement (init with the stack's options, init with
 *   source maps); the ones with the stack's options also invoke the handler twice over the local peers
 */
export async function measureLambdas(
  log: (message: string) => void,
  processes = 12,
  variants: readonly LambdaVariant[] = [{ label: 'current' }],
): Promise<(LambdaReport & { readonly variant: string })[]> {
  let peers: Peers | undefined;
  try {
    peers = await preparePeers(processes * variants.length, log);
  } catch (error) {
    log(`lambda: the local peers could not be prepared, invocations not measured: ${(error as Error).stack}`);
  }
  const reports: (LambdaReport & { readonly variant: string })[] = [];
  try {
    for (const name of STAGE_FUNCTIONS) {
      const builds: (Built | string)[] = [];
      for (const variant of variants) {
        builds.push(
          await buildFunction(name, variant).catch((error: Error) => `bundling failed: ${error.message.split('\n')[0]}`),
        );
      }
      const stack: ChildTimes[][] = variants.map(() => []);
      const withMaps: ChildTimes[][] = variants.map(() => []);
      const errors: (string | undefined)[] = variants.map(() => undefined);
      for (let index = 0; index < processes; index++) {
        for (const [v, variant] of variants.entries()) {
          const built = builds[v];
          if (typeof built === 'string' || built === undefined || errors[v] !== undefined) continue;
          let events: string | undefined;
          const pair = peers?.events[name][index * variants.length + v];
          if (pair) {
            events = join(built.outDir, `${name}-events-${index}.json`);
            writeFileSync(events, JSON.stringify(pair));
          }
          const nodeOptions = variant.nodeOptions ?? nodeOptionsFor(DEFAULT_LOG_LEVEL) ?? '';
          for (const sourceMaps of [false, true]) {
            const child = await runChild<ChildTimes>(
              [
                process.execPath,
                built.childScript,
                pathToFileURL(built.outfile).href,
                JSON.stringify(built.sdkPackages),
                sourceMaps ? '' : (events ?? ''),
                name,
              ],
              {
                cwd: built.outDir,
                env: {
                  ...(events && !sourceMaps && peers ? peers.env : LAMBDA_ENV),
                  NODE_OPTIONS: sourceMaps ? '--enable-source-maps' : nodeOptions,
                },
                timeoutMs: 120_000,
              },
            );
            if (child.result) (sourceMaps ? withMaps : stack)[v]?.push(child.result);
            else errors[v] = child.stderr.split('\n').find((line) => /Error/.test(line)) ?? child.stderr.slice(0, 300);
          }
        }
      }
      for (const [v, variant] of variants.entries()) {
        const built = builds[v];
        if (typeof built === 'string' || built === undefined) {
          log(`lambda ${name} (${variant.label}): ${built}`);
          reports.push({
            name,
            variant: variant.label,
            skipped: String(built),
            bytes: 0,
            gzipBytes: 0,
            initMs: spread([]),
            topInputs: [],
            topPackages: [],
          });
          continue;
        }
        const result = { ...report(name, built, stack[v] ?? [], withMaps[v] ?? [], errors[v]), variant: variant.label };
        const ms = (value: Spread | undefined) =>
          value && value.n > 0 ? `${value.median.toFixed(1)} (${value.min.toFixed(0)}–${value.max.toFixed(0)})` : 'n/a';
        log(
          `lambda ${name}${variants.length > 1 ? ` (${variant.label})` : ''}: ${(result.bytes / 1024).toFixed(1)} KB min ` +
            `(${(result.gzipBytes / 1024).toFixed(0)} KB gz); init ${ms(result.initMs)} ms = SDK ${ms(result.sdkInitMs)} ` +
            `[${built.sdkPackages.join(', ')}] + own ${ms(result.ownInitMs)}; with --enable-source-maps ` +
            `${ms(result.initWithSourceMapsMs)}; first invocation ${ms(result.coldInvokeMs)} ms, second ` +
            `${ms(result.warmInvokeMs)} ms (${result.initMs.n} processes; load average ${loadavg()[0]?.toFixed(1)} on ` +
            `${availableParallelism()} cores)${result.error ? `; ERROR ${result.error}` : ''}`,
        );
        reports.push(result);
      }
    }
  } finally {
    await peers?.stop();
  }
  return reports;
}
