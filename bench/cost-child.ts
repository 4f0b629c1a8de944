/**
 * Cost model, measured: one run of the demo job (`jobs/books.ts`, the job bundled into the functions) on the demo
 * bookstore, through the three Lambda handlers (`functions/*.ts`) with the real AWS adapters against the local peers
 * (s3rver, local-aws-sqs, dynalite; test/support/aws-peers.ts), driven by the SQS event source mapping and S3
 * notification relay of test/aws/lambda-driver.ts. Every AWS request of every SDK client is counted by service and
 * operation with a middleware installed on each client (`@smithy/core` Client.send is wrapped so the functions' own
 * clients get it too); Lambda GB-s come from the measured handler durations × the configured memory.
 *
 * Run by bench/cost.ts as `node --import tsx bench/cost-child.ts '{"books":1000}'`; prints `RESULT <json>`.
 */
import { pathToFileURL } from 'node:url';
import { Client } from '@smithy/core/client';
import type { SQSEvent } from 'aws-lambda';
import type { SqsHandler } from '../shared/handlers.js';

/** Memory of each function, from cdk/stack.ts STAGE_DEFAULTS (sizes, windows and timeouts: LOCAL_BATCHING). */
export const FUNCTION_MEMORY_MB = { fetcher: 512, parser: 1024, postprocessor: 512 } as const;

/** The dead-letter stage's batching (a few messages, at once). */
const DEAD_LETTER_BATCHING = { size: 10, windowMs: 0, timeoutMs: 60_000 };

export interface RequestCount {
  service: string;
  operation: string;
  /** Requests made (each HTTP attempt). */
  requests: number;
  /** Billing units: S3 requests, SQS 64 KB chunks, DynamoDB write or read request units. */
  units: number;
  /** Made by the test harness (setup, polling for the manifest): not part of the pipeline's cost. */
  harness: boolean;
  /** Receives that returned no message (the local mapping polls without long polling). */
  empty: number;
}

export interface CostChildResult {
  scenario: string;
  hosts: number;
  politeness: { perHostConcurrency: number; minDelayMs: number };
  /** Pages of the fixture (every one is crawled). */
  sitePages: number;
  /** Pages the run ended (parsed, unchanged or failed). */
  pages: number;
  /** Objects written, by top-level prefix. */
  objects: Record<string, number>;
  /** Per function: invocations, records, failed records, longest invocation (ms). */
  batches: Record<string, { invocations: number; records: number; failures: number; maxMs: number }>;
  /** Per function, its invocations that ran past the timeout: how long, and what their batch held. */
  overruns?: Record<string, { ms: number; records: number; kinds: Record<string, number>; sample: string }[]>;
  urls: Record<string, number>;
  wallMs: number;
  requests: RequestCount[];
  lambda: Record<string, { invocations: number; billedMs: number; memoryMb: number }>;
  /** AWS errors answered, by `service operation errorName` (each one retried by the SDK or the adapter, or handled). */
  errors: Record<string, number>;
  /** Each function's timeout (ms), to compare with `batches.*.maxMs`. */
  timeoutsMs: Record<string, number>;
  /** Peak RSS of the whole bench process (peers, site and handlers together), MB. */
  peakRssMb: number;
  /** Scale: finalizing the finished run once more, alone: its heap above the resting heap, and its duration. */
  finalize?: { urls: number; heapAboveRestMb: number; rssAboveRestMb: number; ms: number; state: string };
}

type Middleware = (
  next: (args: {
    request?: { body?: unknown };
    input?: Record<string, unknown>;
  }) => Promise<{ output?: Record<string, unknown> }>,
  context: { clientName?: string; commandName?: string },
) => (args: { request?: { body?: unknown }; input?: Record<string, unknown> }) => Promise<{ output?: Record<string, unknown> }>;

const counts = new Map<string, RequestCount>();
const errors: Record<string, number> = {};
const harnessClients = new WeakSet<object>();
const instrumented = new WeakSet<object>();

function byteLength(body: unknown): number {
  if (typeof body === 'string') return Buffer.byteLength(body);
  if (body instanceof Uint8Array) return body.byteLength;
  return 0;
}

/** The units of a `ConsumedCapacity` (one entry, or one per table). */
function consumedUnits(consumed: unknown): number {
  const entries = (Array.isArray(consumed) ? consumed : [consumed]) as { CapacityUnits?: number }[];
  return entries.reduce((sum, entry) => sum + (entry?.CapacityUnits ?? 0), 0);
}

/** Billing units of one request (see the list prices in cost.ts). */
function unitsOf(
  service: string,
  operation: string,
  bytes: number,
  input: Record<string, unknown>,
  output: Record<string, unknown>,
) {
  if (service === 'SQS') return Math.max(1, Math.ceil(bytes / 65_536));
  // The peer answers every request with what DynamoDB would bill for it (item sizes before and after; see
  // test/support/aws-peers.ts): the request's own size is only the fallback.
  if (service === 'DynamoDB' && output.ConsumedCapacity !== undefined) return consumedUnits(output.ConsumedCapacity);
  if (service === 'DynamoDB') {
    const consistent = input.ConsistentRead === true;
    switch (operation) {
      case 'TransactWriteItems':
        return 2 * ((input.TransactItems as unknown[] | undefined)?.length ?? 1);
      case 'TransactGetItems':
        return 2 * ((input.TransactItems as unknown[] | undefined)?.length ?? 1);
      case 'PutItem':
      case 'UpdateItem':
      case 'DeleteItem':
        return Math.max(1, Math.ceil(bytes / 1024));
      case 'GetItem':
        return consistent ? 1 : 0.5;
      case 'Query':
      case 'Scan': {
        const read = Buffer.byteLength(JSON.stringify(output.Items ?? []));
        return Math.max(1, Math.ceil(read / 4096)) * (consistent ? 1 : 0.5);
      }
      default:
        return 1;
    }
  }
  return 1;
}

/** `run#…` → `run`, `url#…` → `url`: the kind of state item a DynamoDB key names. */
function keyKind(value: unknown): string {
  const text = typeof value === 'object' && value !== null && 'S' in value ? String((value as { S: unknown }).S) : '?';
  if (text.includes('#')) return text.split('#')[0] ?? '?';
  return /^[A-Za-z0-9_-]{16,}$/.test(text) ? '<id>' : text;
}

/** Which state items a DynamoDB request touches, e.g. `run/url` or `host/gate`, to attribute its cost. */
function dynamoTarget(operation: string, input: Record<string, unknown>): string {
  const key = (item: unknown) => {
    const record = (item ?? {}) as Record<string, unknown>;
    return `${keyKind(record.pk)}/${keyKind(record.sk)}`;
  };
  if (operation === 'TransactWriteItems') {
    const items = (input.TransactItems as Record<string, { Key?: unknown; Item?: unknown }>[] | undefined) ?? [];
    const kinds = new Set(
      items.map((entry) => {
        const inner = Object.values(entry)[0];
        return key(inner?.Key ?? inner?.Item);
      }),
    );
    return [...kinds].sort().join('+');
  }
  if (operation === 'Query') {
    const values = (input.ExpressionAttributeValues ?? {}) as Record<string, unknown>;
    return `${Object.values(values).map(keyKind).join('/')} (query)`;
  }
  return key(input.Key ?? input.Item);
}

function install(client: object): void {
  if (instrumented.has(client)) return;
  instrumented.add(client);
  const stack = (client as { middlewareStack: { add(middleware: Middleware, options: object): void } }).middlewareStack;
  const middleware: Middleware = (next, context) => async (args) => {
    const service = (context.clientName ?? 'Unknown').replace(/Client$/, '').replace(/^S3$/, 'S3');
    const command = (context.commandName ?? 'Unknown').replace(/Command$/, '');
    const operation = service === 'DynamoDB' ? `${command} ${dynamoTarget(command, args.input ?? {})}` : command;
    let result: Awaited<ReturnType<typeof next>>;
    try {
      result = await next(args);
    } catch (error) {
      const name = (error as { name?: string }).name ?? 'Error';
      // A cancelled transaction says why per item: a conflict with another writer, or a condition (a receipt that
      // exists: work done before, a normal answer).
      const reasons = (error as { CancellationReasons?: { Code?: string }[] }).CancellationReasons;
      const why = reasons ? `[${[...new Set(reasons.map((reason) => reason.Code ?? 'None'))].sort().join(',')}]` : '';
      const key = `${service} ${command} ${name}${why}`;
      errors[key] = (errors[key] ?? 0) + 1;
      // A failed conditional write is billed too (by the item's size): the peer says how much.
      const consumed = (error as { ConsumedCapacity?: unknown }).ConsumedCapacity;
      if (service === 'DynamoDB' && consumed !== undefined) {
        const entryKey = `${service}/${operation}/${harnessClients.has(client)}`;
        const entry = counts.get(entryKey) ?? {
          service,
          operation,
          requests: 0,
          units: 0,
          harness: harnessClients.has(client),
          empty: 0,
        };
        entry.requests++;
        entry.units += consumedUnits(consumed);
        counts.set(entryKey, entry);
      }
      throw error;
    }
    const harness = harnessClients.has(client);
    const key = `${service}/${operation}/${harness}`;
    const entry = counts.get(key) ?? { service, operation, requests: 0, units: 0, harness, empty: 0 };
    entry.requests++;
    const output = result.output ?? {};
    if (service === 'SQS' && operation === 'ReceiveMessage' && ((output.Messages as unknown[] | undefined)?.length ?? 0) === 0) {
      entry.empty++;
    } else {
      entry.units += unitsOf(service, command, byteLength(args.request?.body), args.input ?? {}, output);
    }
    counts.set(key, entry);
    return result;
  };
  stack.add(middleware, { step: 'finalizeRequest', priority: 'low', name: 'benchRequestCounter' });
}

// Every client, the functions' own included, passes through send().
const originalSend = Client.prototype.send;
Client.prototype.send = function (this: object, ...args: unknown[]) {
  install(this);
  return (originalSend as (...a: unknown[]) => unknown).apply(this, args);
} as typeof Client.prototype.send;

/** What to crawl: the bench fixture spread over many hosts (fetch-bound), or one polite host. */
export interface CostChildArgs {
  /**
   * `scale`: the scale check of the run state: 20 concurrent invocations per stage, small pages, 50,000 product URLs
   * from a sitemap that the listings lead to as well (accepted once), about 100,000 URLs in all. `recurring`: the
   * many-hosts crawl run twice on the same site, the second run measured (a scheduled job whose pages did not change).
   */
  readonly scenario?: 'many-hosts' | 'polite' | 'scale' | 'recurring';
  /** Product pages of the fixture (plus one listing page per 20). @default 10000 */
  readonly products?: number;
  /** Hosts (ports of 127.0.0.1) the pages are spread over. @default 50 (many-hosts), 1 (polite) */
  readonly hosts?: number;
  /** @default { perHostConcurrency: 4, minDelayMs: 0 } (many-hosts), { 2, 250 } (polite) */
  readonly politeness?: { readonly perHostConcurrency: number; readonly minDelayMs: number };
  readonly deadlineMs?: number;
}

/** Serves the bench fixture on `hosts` ports; listings link each page (pager and products) on the host it lives on. */
async function startHosts(products: number, hosts: number, shape: { small?: boolean; sitemapProducts?: number } = {}) {
  const { createServer } = await import('node:http');
  const { createFixture } = await import('./site.js');
  const fixture = createFixture(shape.small ? { products, detailBytes: [1_500, 3_000], chrome: 'compact' } : { products });
  const productPaths = fixture.paths.filter((path) => path.startsWith('/product/'));
  // Built on first request: the hosts' origins are known only once they listen.
  let sitemap: string | undefined;
  const sitemapXml = () => `<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
${productPaths
  .slice(0, shape.sitemapProducts ?? 0)
  .map((path) => `<url><loc>${originOf(Number(/\/product\/(\d+)-/.exec(path)?.[1] ?? 0))}${path}</loc></url>`)
  .join('\n')}
</urlset>`;
  const origins: string[] = [];
  const servers: import('node:http').Server[] = [];
  const originOf = (index: number) => origins[index % origins.length] as string;
  const handler = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0] as string;
    if (path === '/sitemap.xml') {
      res.writeHead(200, { 'Content-Type': 'application/xml' });
      sitemap ??= sitemapXml();
      res.end(sitemap);
      return;
    }
    let html = fixture.render(path);
    if (html === undefined) {
      res.writeHead(404, { 'Content-Type': 'text/html' });
      res.end('<h1>404</h1>');
      return;
    }
    if (path.startsWith('/catalogue/')) {
      html = html
        .replace(
          /href="(?:\.\.)?(\/product\/(\d+)-[^"]*)"/g,
          (_, target: string, n: string) => `href="${originOf(Number(n))}${target}"`,
        )
        .replace(/href="page-(\d+)\.html"/g, (_, n: string) => `href="${originOf(Number(n))}/catalogue/page-${n}.html"`);
    }
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(html);
  };
  for (let index = 0; index < hosts; index++) {
    const server = createServer({ keepAlive: true }, handler);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origins.push(`http://127.0.0.1:${(server.address() as import('node:net').AddressInfo).port}`);
    servers.push(server);
  }
  const listings = fixture.paths.filter((path) => path.startsWith('/catalogue/'));
  return {
    origins,
    pages: fixture.paths.length,
    sitemapUrl: `${origins[0]}/sitemap.xml`,
    // Every listing page is a seed (as from a sitemap): the crawl is two hops deep, not a chain of pagers.
    startUrls: listings.map((path) => `${originOf(Number(/page-(\d+)/.exec(path)?.[1] ?? 1))}${path}`),
    close: () =>
      Promise.all(
        servers.map(
          (server) =>
            new Promise<void>((resolve) => {
              server.close(() => resolve());
              server.closeAllConnections();
            }),
        ),
      ),
  };
}

/** What a batch held: its messages by kind (a task's `type` and whether it is a sitemap part, or an S3 event). */
function batchKinds(messages: readonly import('@aws-sdk/client-sqs').Message[]) {
  const kinds: Record<string, number> = {};
  for (const message of messages) {
    let kind = 'unparsable';
    try {
      const body = JSON.parse(message.Body ?? '') as { type?: string; sitemapPart?: unknown; Records?: unknown[] };
      kind = body.Records ? 's3-event' : `${body.type ?? 'task'}${body.sitemapPart ? ' (sitemap part)' : ''}`;
    } catch {
      // Not JSON: counted as `unparsable`, which is what the report needs to say.
    }
    kinds[kind] = (kinds[kind] ?? 0) + 1;
  }
  return { kinds, sample: (messages[0]?.Body ?? '').slice(0, 300) };
}

/**
 * An SQS event source mapping with a batching window, as Lambda runs it: receives (10 messages per request) until
 * the batch is full or the window has passed since the first message, invokes the handler with a Lambda context
 * of the function's timeout, deletes what did not fail.
 */
class BatchingMapping {
  readonly stats = { invocations: 0, records: 0, failures: 0, maxMs: 0 };
  /** Invocations that ran past their timeout: how long, and what their batch held (message kinds, one body). */
  readonly overruns: { ms: number; records: number; kinds: Record<string, number>; sample: string }[] = [];
  /** When an invocation last ended (or one is running: Infinity). */
  lastActiveAt = 0;
  readonly #loops: Promise<void>[] = [];
  #running = true;

  constructor(
    private readonly options: {
      sqs: import('@aws-sdk/client-sqs').SQSClient;
      queue: { url: string; arn: string };
      functionName: string;
      /** The function's handler in each concurrent instance (its own runtime, as a Lambda container has). */
      handler: (instance: number) => SqsHandler;
      batch: { size: number; windowMs: number; timeoutMs: number };
      concurrency: number;
    },
  ) {
    for (let index = 0; index < options.concurrency; index++) this.#loops.push(this.#loop(options.handler(index)));
  }

  async #loop(handler: SqsHandler): Promise<void> {
    const { ReceiveMessageCommand, DeleteMessageBatchCommand } = await import('@aws-sdk/client-sqs');
    const { sqsRecord, lambdaContext } = await import('../test/aws/lambda-driver.js');
    const { sqs, queue, batch, functionName } = this.options;
    while (this.#running) {
      const messages: import('@aws-sdk/client-sqs').Message[] = [];
      let firstAt: number | undefined;
      while (this.#running && messages.length < batch.size) {
        if (firstAt !== undefined && Date.now() - firstAt >= batch.windowMs) break;
        const received = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: queue.url,
            MaxNumberOfMessages: Math.min(10, batch.size - messages.length),
            WaitTimeSeconds: 0,
            AttributeNames: ['All'],
          }),
        );
        const got = received.Messages ?? [];
        if (got.length > 0) {
          firstAt ??= Date.now();
          messages.push(...got);
        } else {
          await new Promise((resolve) => setTimeout(resolve, firstAt === undefined ? 50 : 100));
        }
      }
      if (messages.length === 0) continue;
      const started = Date.now();
      this.lastActiveAt = Number.POSITIVE_INFINITY;
      this.stats.invocations++;
      this.stats.records += messages.length;
      let failed: Set<string>;
      try {
        const response = await handler(
          { Records: messages.map((message) => sqsRecord(message, queue.arn, 'us-east-1')) },
          lambdaContext(functionName, batch.timeoutMs),
        );
        failed = new Set(response.batchItemFailures.map((failure) => failure.itemIdentifier));
      } catch {
        failed = new Set(messages.map((message) => message.MessageId ?? ''));
      }
      const ms = Date.now() - started;
      this.stats.maxMs = Math.max(this.stats.maxMs, ms);
      if (ms > batch.timeoutMs) this.overruns.push({ ms, records: messages.length, ...batchKinds(messages) });
      this.lastActiveAt = Date.now();
      this.stats.failures += failed.size;
      const done = messages.filter((message) => !failed.has(message.MessageId ?? ''));
      for (let index = 0; index < done.length; index += 10) {
        await sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: queue.url,
            Entries: done.slice(index, index + 10).map((message, n) => ({ Id: String(n), ReceiptHandle: message.ReceiptHandle })),
          }),
        );
      }
    }
  }

  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#loops);
  }
}

/**
 * Finalizes a finished run once more, alone in the process, and measures what that costs in memory: the run is put
 * back to `running` and finalized with `verify` (every URL entry read, removals inferred, the current-state snapshot
 * written again, the same content). Heap and RSS are sampled every 20 ms above the resting level after a collection.
 */
async function measureFinalize(
  context: import('../shared/pipeline/context.js').PipelineContext,
  runId: string,
): Promise<NonNullable<CostChildResult['finalize']>> {
  const { finalizeIfComplete } = await import('../shared/pipeline/finalize.js');
  const { stateKeys } = await import('../shared/state-keys.js');
  const { setFlagsFromString } = await import('node:v8');
  const { runInNewContext } = await import('node:vm');
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  await context.state.write({ pk: stateKeys.run('bench', runId), sk: stateKeys.meta, set: { state: 'running' } });
  gc();
  const rest = process.memoryUsage();
  let peakHeap = rest.heapUsed;
  let peakRss = rest.rss;
  const sampler = setInterval(() => {
    const now = process.memoryUsage();
    peakHeap = Math.max(peakHeap, now.heapUsed);
    peakRss = Math.max(peakRss, now.rss);
  }, 20);
  const started = performance.now();
  const manifest = await finalizeIfComplete(context, 'bench', runId, { verify: true });
  const ms = performance.now() - started;
  clearInterval(sampler);
  return {
    urls: manifest?.urls.accepted ?? 0,
    heapAboveRestMb: Math.round((peakHeap - rest.heapUsed) / 1e6),
    rssAboveRestMb: Math.round((peakRss - rest.rss) / 1e6),
    ms: Math.round(ms),
    state: manifest?.state ?? 'not finalized',
  };
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '{}') as CostChildArgs;
  const scenario = args.scenario ?? 'many-hosts';
  const polite = scenario === 'polite';
  const scale = scenario === 'scale';
  const recurring = scenario === 'recurring';
  // Scale: 95,250 products and 4,763 listings, 50,000 products also in the sitemap: 100,014 URLs.
  const products = args.products ?? (scale ? 95_250 : 10_000);
  const hostCount = args.hosts ?? (polite ? 1 : 50);
  const politeness =
    args.politeness ?? (polite ? { perHostConcurrency: 2, minDelayMs: 250 } : { perHostConcurrency: 4, minDelayMs: 0 });
  const { startAwsPeers } = await import('../test/support/aws-peers.js');
  const { relayObjectCreated } = await import('../test/aws/lambda-driver.js');
  const { S3ObjectStore } = await import('../shared/aws/s3-object-store.js');
  const { SqsQueue } = await import('../shared/aws/sqs-queue.js');
  const { SendMessageCommand } = await import('@aws-sdk/client-sqs');
  const { LOCAL_BATCHING } = await import('../shared/local/runtime.js');
  const { benchJobInput } = await import('./job.js');

  // Invocations here last seconds: a failed message comes back after 2 minutes (the stack's 6 × timeout would hold it
  // for half an hour), and goes to the dead-letter queue after 5 receives, as in the stack.
  const queueOptions = { visibilityTimeoutSeconds: 120, maxReceiveCount: 5 };
  const peers = await startAwsPeers({ queues: { fetch: queueOptions, parse: queueOptions, postprocess: queueOptions } });
  for (const client of Object.values(peers.clients)) if (typeof client === 'object' && client) harnessClients.add(client);
  const { fetch, parse, postprocess } = peers.queues;
  if (!fetch || !parse || !postprocess) throw new Error('queues missing');
  const site = await startHosts(products, hostCount, scale ? { small: true, sitemapProducts: 50_000 } : {});
  Object.assign(
    process.env,
    peers.functionEnvironment({
      FETCH_QUEUE_URL: fetch.url,
      PARSE_QUEUE_URL: parse.url,
      POSTPROCESS_QUEUE_URL: postprocess.url,
      FETCH_ALLOW_ADDRESSES: '127.0.0.1',
      POWERTOOLS_SERVICE_NAME: 'scrapeline-bench',
    }),
  );
  // The functions of functions/*.ts, built the same way, with the bench job bundled instead of the demo job.
  const { loadConfig } = await import('../functions/commons/config.js');
  const { createFunctionRuntime } = await import('../functions/commons/context.js');
  const { createDeadLetterHandler, createFetcherHandler, createParserHandler, createPostProcessorHandler } = await import(
    '../shared/handlers.js'
  );
  const { UndiciHttpClient } = await import('../shared/fetch/http.js');
  const { inProcessExtractor } = await import('../shared/extract/pool.js');
  const input = benchJobInput(site.origins[0] as string, {
    politeness,
    allowedHosts: site.origins.map((origin) => new URL(origin).host),
  });
  // Validated here, as the CDK app validates jobs at synth before bundling them.
  const { parseJob } = await import('../shared/job/load.js');
  const jobs = [
    {
      source: 'bench/job.ts',
      job: parseJob(
        scale ? { ...input, start: { urls: site.startUrls, sitemaps: [site.sitemapUrl], sitemapTemplate: 'product' } } : input,
        'bench/job.ts',
      ),
    },
  ];
  const fetcherConfig = loadConfig(['bucket', 'table', 'fetchQueue', 'parseQueue', 'fetchAllowAddresses']);
  const http = new UndiciHttpClient({ ssrf: { allow: fetcherConfig.fetchAllowAddresses } });
  const runtimeOf = (stage: keyof typeof FUNCTION_MEMORY_MB, config: Parameters<typeof createFunctionRuntime>[0]['config']) =>
    createFunctionRuntime({
      stage,
      config,
      jobs,
      ...(stage === 'fetcher' ? { http } : {}),
      ...(stage === 'parser' ? { extractor: inProcessExtractor } : {}),
      settings: { memoryMb: FUNCTION_MEMORY_MB[stage] },
    });
  const lambda: CostChildResult['lambda'] = {};
  const timed = (name: keyof typeof FUNCTION_MEMORY_MB, handler: SqsHandler): SqsHandler => {
    const stats = lambda[name] ?? { invocations: 0, billedMs: 0, memoryMb: FUNCTION_MEMORY_MB[name] };
    lambda[name] = stats;
    return async (event: SQSEvent, context) => {
      const started = performance.now();
      try {
        return await handler(event, context);
      } finally {
        stats.invocations++;
        // Lambda bills duration rounded up to the millisecond.
        stats.billedMs += Math.ceil(performance.now() - started);
      }
    };
  };
  // One fetcher runtime per concurrent instance: each Lambda container has its own process, and so its own host
  // gate (which books for the tasks of its own batch).
  const fetcherRuntimes: ReturnType<typeof runtimeOf>[] = [];
  const fetcherInstance = (instance: number) => {
    const runtime = fetcherRuntimes[instance] ?? runtimeOf('fetcher', fetcherConfig);
    fetcherRuntimes[instance] = runtime;
    return timed('fetcher', runtime.instrument(createFetcherHandler(runtime.pipeline)));
  };
  // As functions/*.ts configure them: each hands work it has no time for back to its own queue.
  const parserRuntime = runtimeOf('parser', loadConfig(['bucket', 'table', 'fetchQueue', 'parseQueue']));
  const postConfig = loadConfig(['bucket', 'table', 'postprocessQueue']);
  const postRuntime = runtimeOf('postprocessor', postConfig);
  const handlers = {
    parser: timed('parser', parserRuntime.instrument(createParserHandler(parserRuntime.pipeline))),
    postprocessor: timed(
      'postprocessor',
      postRuntime.instrument(
        createPostProcessorHandler(postRuntime.pipeline, {
          handBackQueue: new SqsQueue({ client: postRuntime.clients.sqs, queueUrl: postConfig.postprocessQueue }),
        }),
      ),
    ),
  };
  const store = new S3ObjectStore({ client: peers.clients.s3, bucket: peers.bucket });
  const relay = relayObjectCreated(peers.s3Events, peers.clients.sqs, postprocess.url, 'records/');
  // The relay and the event source mappings stand for S3 notifications and Lambda's pollers: their SQS requests
  // are billed (S3 sends to SQS; the mapping receives and deletes), so count them as pipeline requests.
  const sqsHarness = peers.clients.sqs as object;
  harnessClients.delete(sqsHarness);
  // Concurrency: two invocations per stage (a parser reads its 100 pages at once; more than 200 ranged GETs in flight make
  // s3rver hang up sockets). The requests counted per page do not depend on it.
  // Batch sizes, windows and timeouts of the stack (cdk/stack.ts STAGE_DEFAULTS, mirrored by LOCAL_BATCHING).
  const mapping = (
    queue: { url: string; arn: string },
    functionName: string,
    handler: (instance: number) => SqsHandler,
    batch: { size: number; windowMs: number; timeoutMs: number },
    concurrency: number,
  ) => new BatchingMapping({ sqs: peers.clients.sqs, queue, functionName, handler, batch, concurrency });
  // The dead-letter stage, as the stack has it: a message a stage gave up on ends its URLs failed (`dead-lettered`),
  // so the run still completes; kept here only as a count.
  const deadLetterHandler = createDeadLetterHandler(postRuntime.pipeline, { keep: async () => {} });
  const deadLetterQueues = [fetch, parse, postprocess].map((queue) => queue.deadLetter);
  const mappings = {
    fetcher: mapping(fetch, 'fetcher', fetcherInstance, LOCAL_BATCHING.fetch, scale ? 20 : 2),
    parser: mapping(parse, 'parser', () => handlers.parser, LOCAL_BATCHING.parse, scale ? 20 : 2),
    postprocessor: mapping(
      postprocess,
      'postprocessor',
      () => handlers.postprocessor,
      LOCAL_BATCHING.postprocess,
      scale ? 20 : 2,
    ),
    ...Object.fromEntries(
      deadLetterQueues.map((queue) => [queue.name, mapping(queue, queue.name, () => deadLetterHandler, DEAD_LETTER_BATCHING, 1)]),
    ),
  };
  // Setup requests (buckets, tables, queues) are not the run's; nor is the first run of a recurring job.
  const resetCounts = () => {
    counts.clear();
    for (const key of Object.keys(errors)) delete errors[key];
    for (const stats of Object.values(lambda)) Object.assign(stats, { invocations: 0, billedMs: 0 });
    for (const m of Object.values(mappings)) Object.assign(m.stats, { invocations: 0, records: 0, failures: 0, maxMs: 0 });
  };
  resetCounts();
  let peakRss = process.memoryUsage().rss;
  const rssSampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 500);
  type Manifest = { state: string; runId: string; urls: Record<string, number> };
  const finishedRuns = new Set<string>();
  /** Starts a run of the bench job and waits for its manifest, then for the stages to go quiet. */
  const runOnce = async (): Promise<Manifest | undefined> => {
    let manifest = undefined as Manifest | undefined;
    await peers.clients.sqs.send(
      new SendMessageCommand({
        QueueUrl: fetch.url,
        // Scale: the job's own start URLs (thousands of listings would not fit a message) and its sitemap.
        MessageBody: JSON.stringify({ type: 'start-run', job: 'bench', ...(scale ? {} : { startUrls: site.startUrls }) }),
      }),
    );
    const deadline = Date.now() + (args.deadlineMs ?? (scale ? 4 * 3_600_000 : 600_000));
    while (!manifest && Date.now() < deadline) {
      for await (const object of store.list('runs/bench/')) {
        if (!object.key.endsWith('/manifest.json')) continue;
        const body = await store.get(object.key);
        const current = body ? (JSON.parse(Buffer.from(body).toString('utf8')) as Manifest) : undefined;
        if (current && current.state !== 'running' && !finishedRuns.has(current.runId)) manifest = current;
      }
      if (!manifest) await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    if (manifest) finishedRuns.add(manifest.runId);
    // The run is finished when its last URL is parsed: the post-processing of the last records objects follows.
    // Wait until no function has run for longer than the longest batching window.
    const quietSince = () => Math.max(...Object.values(mappings).map((m) => m.lastActiveAt));
    const drainUntil = Date.now() + 120_000;
    while (manifest && Date.now() < drainUntil && Date.now() - quietSince() < 12_000) {
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    return manifest;
  };
  const countObjects = async () => {
    const objects: Record<string, number> = {};
    for (const prefix of ['raw/', 'records/', 'datasets/', 'changes/']) {
      let count = 0;
      for await (const _ of store.list(prefix)) count++;
      objects[prefix.slice(0, -1)] = count;
    }
    return objects;
  };
  let objectsBefore: Record<string, number> = {};
  let manifest = undefined as Manifest | undefined;
  let started = performance.now();
  try {
    if (recurring) {
      const first = await runOnce();
      if (!first) throw new Error('the first run of the recurring job did not finish');
      objectsBefore = await countObjects();
      resetCounts();
      started = performance.now();
    }
    manifest = await runOnce();
  } finally {
    await Promise.all(Object.values(mappings).map((m) => m.stop()));
    await relay.stop();
  }
  const wallMs = performance.now() - started;
  clearInterval(rssSampler);
  const finalize = scale && manifest ? await measureFinalize(postRuntime.pipeline, manifest.runId) : undefined;
  const objects = await countObjects();
  // Those of the measured run alone.
  for (const [prefix, count] of Object.entries(objectsBefore)) objects[prefix] = (objects[prefix] ?? 0) - count;
  await http.close();
  await site.close();
  await peers.stop();
  if (!manifest) {
    const stats = Object.fromEntries(Object.entries(mappings).map(([name, m]) => [name, m.stats]));
    throw new Error(`the run did not finish before the deadline (invocations: ${JSON.stringify(stats)})`);
  }
  const urls = manifest.urls;
  const result: CostChildResult = {
    scenario,
    hosts: hostCount,
    politeness,
    sitePages: site.pages,
    pages: (urls.parsed ?? 0) + (urls.unchanged ?? 0) + (urls.failed ?? 0),
    urls,
    wallMs,
    objects,
    batches: Object.fromEntries(Object.entries(mappings).map(([name, m]) => [name, m.stats])),
    overruns: Object.fromEntries(
      Object.entries(mappings).flatMap(([name, m]) => (m.overruns.length > 0 ? [[name, m.overruns]] : [])),
    ),
    requests: [...counts.values()].sort((a, b) => a.service.localeCompare(b.service) || b.requests - a.requests),
    lambda,
    errors,
    timeoutsMs: {
      fetcher: LOCAL_BATCHING.fetch.timeoutMs,
      parser: LOCAL_BATCHING.parse.timeoutMs,
      postprocessor: LOCAL_BATCHING.postprocess.timeoutMs,
      ...Object.fromEntries(deadLetterQueues.map((queue) => [queue.name, DEAD_LETTER_BATCHING.timeoutMs])),
    },
    peakRssMb: Math.round(peakRss / 1e6),
    ...(finalize ? { finalize } : {}),
  };
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  process.exit(0);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
