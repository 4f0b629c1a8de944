import { randomUUID } from 'node:crypto';
import { join, resolve } from 'node:path';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import { z } from 'zod';
import { InvalidInputError } from '../errors.js';
import { inProcessExtractor, WorkerPoolExtractor } from '../extract/pool.js';
import { UndiciHttpClient } from '../fetch/http.js';
import type { SsrfPolicy } from '../fetch/ssrf.js';
import {
  createDeadLetterHandler,
  createFetcherHandler,
  createParserHandler,
  createPostProcessorHandler,
  type SqsHandler,
} from '../handlers.js';
import { type Job, runIdProblem, startUrlProblem } from '../job/schema.js';
import { layout } from '../layout.js';
import { createContext, defaultSettings, jobRegistry, type PipelineContext, type PipelineSettings } from '../pipeline/context.js';
import type { RunManifest } from '../pipeline/finalize.js';
import { finalizeIfComplete } from '../pipeline/finalize.js';
import type { RunMeta } from '../pipeline/ledger.js';
import { offerUrls } from '../pipeline/links.js';
import type { FetchTask, StartRunMessage } from '../pipeline/messages.js';
import { InProcessHostGate } from '../pipeline/politeness.js';
import { decodePageRecords, postProcessRecords } from '../pipeline/postprocess.js';
import { type ReparseOptions, startReparse } from '../pipeline/reparse.js';
import { SecretResolver } from '../pipeline/secret-resolver.js';
import type { SecretSource } from '../pipeline/secrets.js';
import { runIdFor } from '../pipeline/start.js';
import { stallRun } from '../pipeline/watchdog.js';
import { type Clock, type HttpClient, type Log, type PageExtractor, silentLog, systemClock } from '../ports.js';
import { readManifest } from '../query.js';
import { urlId } from '../url.js';
import { DataDirFullError, watchDiskFull } from './disk-full.js';
import { type DataDirLock, lockDataDir } from './lock.js';
import { FileSystemObjectStore } from './object-store.js';
import { LocalQueue, type ReceivedMessage } from './queue.js';
import { LocalSecretSource } from './secrets.js';
import { EmbeddedStateStore } from './state.js';

const positive = z.number().int().positive();

/**
 * How the local pollers batch, per stage: the batch sizes and batching windows of the stack's event source mappings
 * (cdk/stack.ts `STAGE_DEFAULTS`), so that a local run's manifest counts the requests (objects written, messages,
 * invocations) a run on AWS makes; and the stage's Lambda timeout, the deadline of each local invocation (capped by
 * the queue's visibility timeout), which the fetcher keeps by handing back what it cannot fetch in time.
 */
export const LOCAL_BATCHING = {
  fetch: { size: 100, windowMs: 5000, timeoutMs: 300_000 },
  parse: { size: 100, windowMs: 20_000, timeoutMs: 120_000 },
  postprocess: { size: 5, windowMs: 10_000, timeoutMs: 300_000 },
} as const;

/**
 * Locally a batching window also closes when no message has come for this long: one process fills its batches from
 * bursts (a fetch batch enqueues all its parse tasks at once), so batches fill as on AWS without every hop of a small
 * local run waiting out the window.
 */
const QUIET_MS = 20;

const stageBatching = z.strictObject({
  size: z.number().int().min(1).max(10_000),
  windowMs: z.number().int().min(0).max(300_000),
});

/** The Lambda context a local invocation gets: its remaining time runs out at `deadline` (epoch ms). */
function localLambdaContext(functionName: string, deadline: number): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

/** How a poller gathers its batches and the deadline of each invocation. */
interface PollerOptions {
  /** How long to wait for a batch to fill (closed early after {@link QUIET_MS} without a message). @default 0 */
  readonly windowMs?: number;
  /** Time an invocation has from the first message received. @default no deadline (no Lambda context) */
  readonly deadlineMs?: number;
  /** Notified after each batch, once its messages are deleted (or left for redelivery). */
  readonly activity?: Signal;
}

/** Wakes whoever waits on it at its next {@link Signal.notify}. */
class Signal {
  readonly #waiters: (() => void)[] = [];
  readonly #clock: Clock;
  /** When it was last notified (epoch ms), `undefined` before. */
  lastAt: number | undefined;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Resolves at the next notification. */
  next(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  notify(): void {
    this.lastAt = this.#clock.now();
    for (const waiter of this.#waiters.splice(0)) waiter();
  }
}

/** Options of the local runtime, validated once. */
export const localRuntimeOptions = z.strictObject({
  /** Folder for objects (`store/`) and state (`state.db`; a `state.journal` of earlier versions is imported). @default '.scrapeline' */
  dataDir: z.string().min(1).default('.scrapeline'),
  /** Handler invocations in flight per stage (each takes one batch). */
  concurrency: z
    .strictObject({ fetch: positive.default(4), parse: positive.default(2), postprocess: positive.default(1) })
    .default({ fetch: 4, parse: 2, postprocess: 1 }),
  /** Messages per handler invocation for every stage, without a batching window (overrides `batching`). */
  batchSize: z.number().int().min(1).max(10_000).optional(),
  /** Batch size and batching window per stage. @default {@link LOCAL_BATCHING} */
  batching: z
    .strictObject({ fetch: stageBatching.optional(), parse: stageBatching.optional(), postprocess: stageBatching.optional() })
    .default({}),
  /** Visibility timeout of the local queues. @default 30000 */
  visibilityTimeoutMs: positive.default(30_000),
  /** Receives before a message moves to its dead-letter queue. @default 3 */
  maxReceiveCount: positive.default(3),
  /** Worker threads that extract pages (jobs without code extractors), so parsing uses more cores. @default 0 (none) */
  parseThreads: z.number().int().min(0).max(64).default(0),
  /**
   * Deadline for extracting one page in a worker thread (a page past it fails with reason `extract-timeout`, its
   * worker is replaced); capped at a third of the visibility timeout, so an overrun page never comes back.
   * @default 10000
   */
  extractTimeoutMs: positive.default(10_000),
});
export type LocalRuntimeOptions = z.input<typeof localRuntimeOptions>;

/** What the runtime is given besides its options: the jobs and, optionally, replacements for its ports. */
export interface LocalRuntimeParts {
  readonly jobs: readonly Job[];
  readonly http?: HttpClient;
  /** SSRF policy of the default HTTP client (ignored when `http` is given). @default {} (guard on) */
  readonly ssrf?: SsrfPolicy;
  readonly clock?: Clock;
  readonly log?: Log;
  readonly settings?: Partial<PipelineSettings>;
  /**
   * Where the secrets jobs name are read (`localSecretSource` reads `SCRAPELINE_SECRET_<NAME>` variables and a file).
   * @default the file `<dataDir>/secrets.json` only
   */
  readonly secrets?: SecretSource;
}

/** A snapshot for progress displays. */
export interface RunProgress {
  readonly meta: RunMeta;
  readonly queues: { readonly fetch: number; readonly parse: number; readonly postprocess: number; readonly deadLetters: number };
}

/** How waiting for a run ended. */
export type RunOutcome =
  | { readonly kind: 'finished'; readonly manifest: RunManifest }
  /** Nothing left to do but the run is not complete: messages sit in dead-letter queues. */
  | { readonly kind: 'stalled'; readonly meta: RunMeta; readonly deadLetters: number };

/** A local queue's message as the SQS record an event source mapping would hand a handler. */
export function sqsRecord(queue: string, message: ReceivedMessage): SQSRecord {
  return {
    messageId: message.messageId,
    receiptHandle: message.receiptHandle,
    body: message.body,
    attributes: {
      ApproximateReceiveCount: String(message.receiveCount),
      SentTimestamp: String(message.sentAt),
      SenderId: 'local',
      ApproximateFirstReceiveTimestamp: String(message.sentAt),
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: `arn:aws:sqs:local:000000000000:${queue}`,
    awsRegion: 'local',
  };
}

/** The S3 event notification S3 would send for a created object. */
export function objectCreatedNotification(bucket: string, key: string, size: number, now: number): string {
  return JSON.stringify({
    Records: [
      {
        eventVersion: '2.1',
        eventSource: 'aws:s3',
        awsRegion: 'local',
        eventTime: new Date(now).toISOString(),
        eventName: 'ObjectCreated:Put',
        s3: {
          s3SchemaVersion: '1.0',
          bucket: { name: bucket, arn: `arn:aws:s3:::${bucket}` },
          object: { key: encodeURIComponent(key).replace(/%2F/g, '/').replace(/%20/g, '+'), size },
        },
      },
    ],
  });
}

/** Feeds one queue's messages to a handler in batches, like a Lambda event source mapping with partial batch responses. */
class Poller {
  #running = true;
  readonly #loops: Promise<void>[] = [];
  #busy = 0;

  constructor(
    private readonly queue: LocalQueue,
    private readonly handler: SqsHandler,
    private readonly log: Log,
    concurrency: number,
    batchSize: number,
    private readonly options: PollerOptions = {},
  ) {
    for (let index = 0; index < concurrency; index++) this.#loops.push(this.#loop(batchSize));
  }

  /** Receives a batch as an event source mapping gathers one: up to `batchSize`, within the batching window. */
  async #gather(batchSize: number): Promise<{ messages: ReceivedMessage[]; receivedAt: number }> {
    const messages = await this.queue.receive(batchSize, 200);
    const receivedAt = Date.now();
    const closesAt = receivedAt + (this.options.windowMs ?? 0);
    while (messages.length > 0 && messages.length < batchSize && this.#running) {
      const wait = Math.min(QUIET_MS, closesAt - Date.now());
      if (wait <= 0) break;
      const more = await this.queue.receive(batchSize - messages.length, wait);
      if (more.length === 0) break;
      messages.push(...more);
    }
    return { messages, receivedAt };
  }

  get busy(): boolean {
    return this.#busy > 0;
  }

  async #loop(batchSize: number): Promise<void> {
    while (this.#running) {
      const { messages, receivedAt } = await this.#gather(batchSize);
      if (messages.length === 0) continue;
      this.#busy++;
      try {
        const event: SQSEvent = { Records: messages.map((message) => sqsRecord(this.queue.name, message)) };
        let failed: Set<string>;
        try {
          const { deadlineMs } = this.options;
          const lambda = deadlineMs === undefined ? undefined : localLambdaContext(this.queue.name, receivedAt + deadlineMs);
          const response = await this.handler(event, lambda);
          failed = new Set(response.batchItemFailures.map((failure) => failure.itemIdentifier));
        } catch (error) {
          // A handler that throws fails its whole batch, as in Lambda.
          this.log.error(`${this.queue.name}: handler threw`, { error: (error as Error).message });
          failed = new Set(messages.map((message) => message.messageId));
        }
        await this.queue.deleteBatch(messages.filter((message) => !failed.has(message.messageId)).map((m) => m.receiptHandle));
      } finally {
        this.#busy--;
        this.options.activity?.notify();
      }
    }
  }

  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#loops);
  }
}

/**
 * The pipeline on one machine with embedded defaults: a file-system object store, in-process queues with SQS
 * semantics and an embedded state store, wired like the cloud (records objects notify the post-processing queue)
 * and running the same handlers concurrently.
 */
export class LocalRuntime {
  readonly options: z.output<typeof localRuntimeOptions>;
  readonly store: FileSystemObjectStore;
  readonly state: EmbeddedStateStore;
  readonly queues: {
    readonly fetch: LocalQueue;
    readonly parse: LocalQueue;
    readonly postprocess: LocalQueue;
    readonly deadLetters: { readonly fetch: LocalQueue; readonly parse: LocalQueue; readonly postprocess: LocalQueue };
  };
  readonly pipeline: PipelineContext;
  readonly #http: HttpClient;
  readonly #ownsHttp: boolean;
  readonly #extractor: PageExtractor;
  readonly #lock: DataDirLock;
  /** The first disk-full error any port (or the log) met, if one did. */
  #diskFull: unknown;
  /**
   * Notified whenever a handler finishes a batch or the disk fills: the only moments a run can finish or the
   * runtime fall idle (queue sizes count delayed and in-flight messages, and only a batch's end deletes them).
   */
  readonly #activity: Signal;
  readonly #pollers: Poller[];
  /** The dead-letter stage's queues (between each stage queue and its dead-letter queue). */
  readonly #inboxes: LocalQueue[];

  constructor(parts: LocalRuntimeParts, options: LocalRuntimeOptions = {}) {
    this.options = localRuntimeOptions.parse(options);
    const dataDir = resolve(this.options.dataDir);
    const clock = parts.clock ?? systemClock;
    this.#activity = new Signal(clock);
    const log = parts.log ?? silentLog;
    // A full disk stops the run (waitForRun throws DataDirFullError): nothing acknowledged is lost, and it resumes.
    const full = (error: unknown) => this.noteDiskFull(error);
    this.store = watchDiskFull(new FileSystemObjectStore({ root: join(dataDir, 'store') }), full);
    // One runtime per data folder: a second process on it would do the same work again (see lockDataDir).
    this.#lock = lockDataDir(dataDir);
    try {
      this.state = watchDiskFull(new EmbeddedStateStore({ file: join(dataDir, 'state.db') }), full);
    } catch (error) {
      this.#lock.release();
      throw error;
    }
    // As on AWS: a stage queue dead-letters into an inbox that the dead-letter stage consumes; it settles each
    // message (its URLs end failed, the run finishes) and keeps it in the stage's dead-letter queue.
    const queue = (name: string) => {
      const deadLetterQueue = new LocalQueue({ name: `${name}-dlq`, clock });
      const inbox = new LocalQueue({
        name: `${name}-dlq-inbox`,
        clock,
        visibilityTimeoutMs: this.options.visibilityTimeoutMs,
        maxReceiveCount: this.options.maxReceiveCount,
        deadLetterQueue,
      });
      const main = new LocalQueue({
        name,
        clock,
        visibilityTimeoutMs: this.options.visibilityTimeoutMs,
        maxReceiveCount: this.options.maxReceiveCount,
        deadLetterQueue: inbox,
      });
      return { main, inbox, deadLetterQueue };
    };
    const fetch = queue('fetch');
    const parse = queue('parse');
    const postprocess = queue('postprocess');
    this.queues = {
      fetch: fetch.main,
      parse: parse.main,
      postprocess: postprocess.main,
      deadLetters: { fetch: fetch.deadLetterQueue, parse: parse.deadLetterQueue, postprocess: postprocess.deadLetterQueue },
    };
    this.store.onObjectCreated(async (key, size) => {
      if (!key.startsWith(layout.recordsPrefix)) return;
      await postprocess.main.send([{ body: objectCreatedNotification('local', key, size, clock.now()) }]);
    });
    this.#extractor =
      this.options.parseThreads > 0
        ? new WorkerPoolExtractor(parts.jobs, {
            threads: this.options.parseThreads,
            pageTimeoutMs: Math.min(this.options.extractTimeoutMs, Math.floor(this.options.visibilityTimeoutMs / 3)),
            log,
          })
        : inProcessExtractor;
    this.#ownsHttp = parts.http === undefined;
    this.#http = parts.http ?? new UndiciHttpClient({ ssrf: parts.ssrf ?? {} });
    this.pipeline = createContext({
      jobs: jobRegistry(parts.jobs),
      store: this.store,
      state: this.state,
      fetchQueue: fetch.main,
      parseQueue: parse.main,
      http: this.#http,
      // A host that asked for a long pause (Retry-After) defers its tasks to the queue, as in the cloud.
      extractor: this.#extractor,
      hosts: new InProcessHostGate(clock, {
        maxWaitMs: parts.settings?.inlineRetryMaxMs ?? defaultSettings.inlineRetryMaxMs,
      }),
      clock,
      log,
      settings: parts.settings,
      secrets: new SecretResolver(parts.secrets ?? new LocalSecretSource({ file: join(dataDir, 'secrets.json') }), { clock }),
    });
    const { concurrency, maxReceiveCount } = this.options;
    const batchSize = this.options.batchSize ?? 10;
    const deadLetters = (stage: { inbox: LocalQueue; deadLetterQueue: LocalQueue }) =>
      new Poller(
        stage.inbox,
        createDeadLetterHandler(this.pipeline, { keep: (record) => stage.deadLetterQueue.send([{ body: record.body }]) }),
        log,
        1,
        batchSize,
        { activity: this.#activity },
      );
    this.#inboxes = [fetch.inbox, parse.inbox, postprocess.inbox];
    const postprocessBatching = this.#batching('postprocess');
    this.#pollers = [
      new Poller(
        fetch.main,
        createFetcherHandler(this.pipeline, { maxReceiveCount }),
        log,
        concurrency.fetch,
        ...this.#batching('fetch'),
      ),
      new Poller(
        parse.main,
        createParserHandler(this.pipeline, { maxReceiveCount }),
        log,
        concurrency.parse,
        ...this.#batching('parse'),
      ),
      new Poller(
        postprocess.main,
        createPostProcessorHandler(this.pipeline, {
          maxReceiveCount,
          handBackQueue: postprocess.main,
          // A batch's records objects all at once, as before the deadline guard: the local store answers quickly.
          messageConcurrency: postprocessBatching[0],
        }),
        log,
        concurrency.postprocess,
        ...postprocessBatching,
      ),
      ...[fetch, parse, postprocess].map(deadLetters),
    ];
  }

  /** A stage's batch size and how its poller gathers batches (windows fit well within the visibility timeout). */
  #batching(stage: keyof typeof LOCAL_BATCHING): [number, PollerOptions] {
    const { batchSize, batching, visibilityTimeoutMs } = this.options;
    const defaults = LOCAL_BATCHING[stage];
    const chosen = batchSize === undefined ? (batching[stage] ?? defaults) : { size: batchSize, windowMs: 0 };
    return [
      chosen.size,
      {
        windowMs: Math.min(chosen.windowMs, Math.floor(visibilityTimeoutMs / 6)),
        deadlineMs: Math.min(defaults.timeoutMs, visibilityTimeoutMs),
        activity: this.#activity,
      },
    ];
  }

  /**
   * Notes that the disk is full (the ports do it themselves; a log that writes to the same disk tells it here): the
   * run being waited for stops with {@link DataDirFullError}.
   */
  noteDiskFull(error: unknown): void {
    this.#diskFull ??= error;
    this.#activity.notify();
  }

  /** Starts a run of a job; returns its run id. */
  async startRun(job: string, options: { runId?: string; startUrls?: string[] } = {}): Promise<string> {
    this.pipeline.jobs.get(job);
    // Checked here, before anything is queued: a start message that cannot succeed would only be retried.
    const problems = [
      ...(options.runId === undefined ? [] : [runIdProblem(options.runId)]),
      ...(options.startUrls ?? []).map(startUrlProblem),
    ].filter((problem) => problem !== undefined);
    if (problems.length > 0) throw new InvalidInputError(problems.join('\n'));
    const runId = options.runId ?? runIdFor(this.pipeline.clock.now(), `${job}:${Math.random()}`);
    const message: StartRunMessage = {
      type: 'start-run',
      job,
      runId,
      ...(options.startUrls ? { startUrls: options.startUrls } : {}),
    };
    await this.queues.fetch.send([{ body: JSON.stringify(message) }]);
    return runId;
  }

  #deadLetters(): number {
    const { fetch, parse, postprocess } = this.queues.deadLetters;
    return fetch.size + parse.size + postprocess.size;
  }

  /** Queue depths and the run's counters. */
  async progress(job: string, runId: string): Promise<RunProgress | undefined> {
    const meta = await this.pipeline.ledger.getRun(job, runId);
    if (!meta) return undefined;
    return {
      meta,
      queues: {
        fetch: this.queues.fetch.size,
        parse: this.queues.parse.size,
        postprocess: this.queues.postprocess.size,
        deadLetters: this.#deadLetters(),
      },
    };
  }

  /**
   * Waits until the run is finished (manifest written), waking whenever a handler finishes a batch (and every
   * `intervalMs` to report progress). When the queues are empty and no handler is busy while the run is unfinished,
   * nothing can move it any more (one process holds every queue): the watchdog ends it `stalled` at once (finished,
   * with a manifest); `stalled` is returned only when even that could not finish it.
   */
  async waitForRun(
    job: string,
    runId: string,
    options: { onProgress?: (progress: RunProgress) => void; intervalMs?: number } = {},
  ): Promise<RunOutcome> {
    const interval = options.intervalMs ?? 100;
    const clock = this.pipeline.clock;
    const waitingSince = clock.now();
    for (;;) {
      // Taken before looking, so that a batch ending while this iteration reads the state is not missed.
      const activity = this.#activity.next();
      if (this.#diskFull !== undefined) throw new DataDirFullError(job, runId, this.#diskFull);
      const progress = await this.progress(job, runId);
      if (progress) options.onProgress?.(progress);
      if (progress && progress.meta.state !== 'running') {
        const manifest = await readManifest(this.store, job, runId);
        if (manifest) return { kind: 'finished', manifest };
      }
      if (progress?.meta.state === 'running' && this.#idle()) {
        const quietMs = clock.now() - Math.max(waitingSince, this.#activity.lastAt ?? waitingSince);
        const manifest = await stallRun(this.pipeline, job, runId, quietMs);
        if (manifest) return { kind: 'finished', manifest };
        const meta = (await this.pipeline.ledger.getRun(job, runId)) ?? progress.meta;
        if (meta.state === 'running') return { kind: 'stalled', meta, deadLetters: this.#deadLetters() };
        continue;
      }
      await Promise.race([activity, clock.sleep(interval)]);
    }
  }

  /** No message in any queue (visible, delayed or in flight) and no handler busy. */
  #idle(): boolean {
    const queued = [this.queues.fetch, this.queues.parse, this.queues.postprocess, ...this.#inboxes].reduce(
      (sum, queue) => sum + queue.size,
      0,
    );
    return queued === 0 && !this.#pollers.some((poller) => poller.busy);
  }

  /**
   * Resumes a run whose process died (its queues were in memory): restarts it idempotently (seeds not yet accepted
   * are accepted), post-processes every records object of the run again (idempotent: pages already finished are
   * left alone, a dataset object is rewritten whole), then fetches every URL still pending. Nothing is lost and no
   * item is written twice: the state store and the object store hold everything that was acknowledged.
   */
  async resume(job: string, runId: string): Promise<void> {
    const meta = await this.pipeline.ledger.getRun(job, runId);
    if (!meta) throw new Error(`no run ${runId} of job ${job} in ${this.options.dataDir}`);
    if (meta.state !== 'running') return;
    const hosts = (await this.pipeline.ledger.getStart(job, runId))?.hosts ?? [];
    const maxDepth = this.pipeline.jobs.get(job).limits.maxDepth;
    for await (const object of this.store.list(`${layout.recordsPrefix}${job}/${runId}/`)) {
      await postProcessRecords(this.pipeline, object.key);
      // The links of every parsed page are offered again: entries lost with the end of the state (an OS crash
      // after the last checkpoint) are accepted anew, so a lost tail costs fetches, never items. Known URLs cost a
      // look-up; the fetches of pending ones are queued below, once.
      const body = await this.store.get(object.key);
      for (const page of body ? decodePageRecords(object.key, body) : []) {
        if (page.status !== 'parsed' || page.links.length === 0 || page.depth + 1 > maxDepth) continue;
        const parent = urlId(page.url);
        const links = page.links.map(([url, template]) => ({
          url,
          depth: page.depth + 1,
          template: template ?? undefined,
          parent,
        }));
        await offerUrls(this.pipeline, { job, runId, hosts }, links);
      }
    }
    const pending: FetchTask[] = [];
    for await (const entry of this.pipeline.ledger.urls(job, runId)) {
      if (entry.status !== 'accepted') continue;
      pending.push({
        type: 'fetch',
        job,
        runId,
        url: entry.url,
        depth: entry.depth,
        template: entry.template,
        attempt: 0,
        hosts: [...hosts],
        ...(entry.sitemap ? { sitemapChain: [entry.url] } : {}),
      });
    }
    const restart: StartRunMessage = { type: 'start-run', job, runId };
    await this.queues.fetch.send([{ body: JSON.stringify(restart) }, ...pending.map((task) => ({ body: JSON.stringify(task) }))]);
    await finalizeIfComplete(this.pipeline, job, runId);
  }

  /** Starts a run that extracts an archived run again without fetching; returns the new run's id. */
  async startReparse(job: string, sourceRunId: string, options: ReparseOptions = {}): Promise<string> {
    const runId = runIdFor(this.pipeline.clock.now(), `${job}:reparse:${sourceRunId}:${Math.random()}`);
    await startReparse(this.pipeline, job, sourceRunId, runId, options);
    return runId;
  }

  /** Runs that were started here and never finished (their process died): candidates for {@link resume}. */
  async interruptedRuns(job: string): Promise<string[]> {
    const runs: string[] = [];
    for await (const object of this.store.list(layout.runsPrefix(job))) {
      const match = /^runs\/[^/]+\/([^/]+)\/manifest\.json$/.exec(object.key);
      const runId = match?.[1];
      if (!runId) continue;
      const meta = await this.pipeline.ledger.getRun(job, runId);
      if (meta?.state === 'running') runs.push(runId);
    }
    return runs;
  }

  /** Starts a run and waits for it. */
  async run(job: string, options: { runId?: string; startUrls?: string[]; onProgress?: (progress: RunProgress) => void } = {}) {
    const runId = await this.startRun(job, options);
    return { runId, outcome: await this.waitForRun(job, runId, options) };
  }

  /** Stops the pollers and releases files and connections. */
  async close(): Promise<void> {
    try {
      // Pollers finish the batch in hand (which may still send to the queues) before the queues close.
      await Promise.all(this.#pollers.map((poller) => poller.stop()));
      for (const queue of [this.queues.fetch, this.queues.parse, this.queues.postprocess, ...this.#inboxes]) queue.close();
      if (this.#ownsHttp) await this.#http.close();
      await this.#extractor.close();
      this.state.close();
    } finally {
      this.#lock.release();
    }
  }
}
