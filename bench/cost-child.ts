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

/** Memory of each function, from cdk/stack.ts STAGE_DEFAULTS. */
export const FUNCTION_MEMORY_MB = { fetcher: 512, parser: 1024, postprocessor: 512 } as const;

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
  pages: number;
  urls: Record<string, number>;
  wallMs: number;
  requests: RequestCount[];
  lambda: Record<string, { invocations: number; billedMs: number; memoryMb: number }>;
}

type Middleware = (
  next: (args: {
    request?: { body?: unknown };
    input?: Record<string, unknown>;
  }) => Promise<{ output?: Record<string, unknown> }>,
  context: { clientName?: string; commandName?: string },
) => (args: { request?: { body?: unknown }; input?: Record<string, unknown> }) => Promise<{ output?: Record<string, unknown> }>;

const counts = new Map<string, RequestCount>();
const harnessClients = new WeakSet<object>();
const instrumented = new WeakSet<object>();

function byteLength(body: unknown): number {
  if (typeof body === 'string') return Buffer.byteLength(body);
  if (body instanceof Uint8Array) return body.byteLength;
  return 0;
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
    const result = await next(args);
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

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '{}') as { books?: number; deadlineMs?: number };
  const { startAwsPeers } = await import('../test/support/aws-peers.js');
  const { EventSourceMapping, relayObjectCreated } = await import('../test/aws/lambda-driver.js');
  const { startDemoServer } = await import('../demo/server.js');
  const { generateSite } = await import('../demo/site.js');
  const { S3ObjectStore } = await import('../shared/aws/s3-object-store.js');
  const { SendMessageCommand } = await import('@aws-sdk/client-sqs');

  const queueOptions = { visibilityTimeoutSeconds: 120, maxReceiveCount: 3 };
  const peers = await startAwsPeers({ queues: { fetch: queueOptions, parse: queueOptions, postprocess: queueOptions } });
  for (const client of Object.values(peers.clients)) if (typeof client === 'object' && client) harnessClients.add(client);
  const { fetch, parse, postprocess } = peers.queues;
  if (!fetch || !parse || !postprocess) throw new Error('queues missing');
  const site = generateSite({ books: args.books ?? 1000 });
  const server = await startDemoServer({ site });
  Object.assign(process.env, {
    ...peers.sdkEnvironment(),
    BUCKET_NAME: peers.bucket,
    STATE_TABLE_NAME: peers.tableName,
    FETCH_QUEUE_URL: fetch.url,
    PARSE_QUEUE_URL: parse.url,
    FETCH_ALLOW_ADDRESSES: '127.0.0.1',
    POWERTOOLS_SERVICE_NAME: 'scrapeline-bench',
    LOG_LEVEL: 'ERROR',
    POWERTOOLS_METRICS_DISABLED: 'true',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  });
  const lambda: CostChildResult['lambda'] = {};
  const timed = (name: keyof typeof FUNCTION_MEMORY_MB, handler: SqsHandler): SqsHandler => {
    const stats = { invocations: 0, billedMs: 0, memoryMb: FUNCTION_MEMORY_MB[name] };
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
  type Handler = SqsHandler;
  const load = async (name: keyof typeof FUNCTION_MEMORY_MB) =>
    timed(name, ((await import(`../functions/${name}.js`)) as { handler: Handler }).handler);
  const handlers = { fetcher: await load('fetcher'), parser: await load('parser'), postprocessor: await load('postprocessor') };
  const store = new S3ObjectStore({ client: peers.clients.s3, bucket: peers.bucket });
  const relay = relayObjectCreated(peers.s3Events, peers.clients.sqs, postprocess.url, 'records/');
  const mapping = (queue: { url: string; arn: string }, functionName: string, handler: Handler, concurrency: number) =>
    new EventSourceMapping({
      sqs: peers.clients.sqs,
      queueUrl: queue.url,
      queueArn: queue.arn,
      functionName,
      handler,
      concurrency,
    }).start();
  // The relay and the event source mappings stand for S3 notifications and Lambda's pollers: their SQS requests
  // are billed (S3 sends to SQS; the mapping receives and deletes), so count them as pipeline requests.
  const sqsHarness = peers.clients.sqs as object;
  harnessClients.delete(sqsHarness);
  const mappings = [
    mapping(fetch, 'fetcher', handlers.fetcher, 2),
    mapping(parse, 'parser', handlers.parser, 2),
    mapping(postprocess, 'postprocessor', handlers.postprocessor, 1),
  ];
  const startUrls = [`${server.url}/catalogue/page-1.html`];
  // Setup requests (buckets, tables, queues) are not the run's.
  counts.clear();
  const started = performance.now();
  type Manifest = { state: string; urls: Record<string, number> };
  let manifest = undefined as Manifest | undefined;
  try {
    await peers.clients.sqs.send(
      new SendMessageCommand({
        QueueUrl: fetch.url,
        MessageBody: JSON.stringify({ type: 'start-run', job: 'books', startUrls }),
      }),
    );
    const deadline = Date.now() + (args.deadlineMs ?? 300_000);
    while (!manifest && Date.now() < deadline) {
      for await (const object of store.list('runs/books/')) {
        if (!object.key.endsWith('/manifest.json')) continue;
        const body = await store.get(object.key);
        const current = body ? (JSON.parse(Buffer.from(body).toString('utf8')) as Manifest) : undefined;
        if (current && current.state !== 'running') manifest = current;
      }
      if (!manifest) await new Promise((resolve) => setTimeout(resolve, 500));
    }
  } finally {
    await Promise.all(mappings.map((m) => m.stop()));
    await relay.stop();
  }
  const wallMs = performance.now() - started;
  await server.close();
  await peers.stop();
  if (!manifest) throw new Error('the run did not finish before the deadline');
  const urls = manifest.urls;
  const result: CostChildResult = {
    pages: (urls.parsed ?? 0) + (urls.unchanged ?? 0) + (urls.failed ?? 0),
    urls,
    wallMs,
    requests: [...counts.values()].sort((a, b) => a.service.localeCompare(b.service) || b.requests - a.requests),
    lambda,
  };
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  process.exit(0);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
