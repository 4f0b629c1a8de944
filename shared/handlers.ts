import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { groupBy } from './collections.js';
import { DeadlineError, describeError } from './errors.js';
import { parseRecordsKey } from './layout.js';
import { type PipelineContext, withMeter } from './pipeline/context.js';
import { recordLastError, settleDeadLetter } from './pipeline/dead-letters.js';
import { dispatchFetched, type FetchOutcome, fetchTask } from './pipeline/fetch.js';
import { fetchQueueMessage, type ParseTask, parseMessage, parseTaskMessage, s3NotificationMessage } from './pipeline/messages.js';
import { INVOCATION_LOG_BYTES, meteredQueue, RequestMeter } from './pipeline/metering.js';
import { ArchiveReader, type ParsedPage, parseTask, writePageRecords } from './pipeline/parse.js';
import { PolitenessDeferral, SLOT_LEAD_MS } from './pipeline/politeness.js';
import { postProcessRecords } from './pipeline/postprocess.js';
import { runIdFor, startRun } from './pipeline/start.js';
import type { Clock, HostGate, Queue } from './ports.js';
import { type FunctionStage, type QueueStage, STAGE_LABELS } from './stages.js';

/**
 * Handler factories: the SQS consumers of the three stages. Lambda entry points in `functions/` build them with
 * cloud adapters; the local runtime builds them with local adapters and feeds them events of the same shape.
 * Each record fails on its own (partial batch response), never the whole batch for one record.
 */

/** An SQS-triggered handler. */
export type SqsHandler = (event: SQSEvent, context?: Context) => Promise<SQSBatchResponse>;

/** Options of the stage handler factories. */
export interface HandlerOptions {
  /**
   * The `maxReceiveCount` of the queue's redrive policy: a message failing on that receive goes to the dead-letter
   * queue next, so its error is recorded for the dead-letter stage (`shared/pipeline/dead-letters.ts`).
   * @default undefined (no error is recorded)
   */
  readonly maxReceiveCount?: number;
}

async function processRecords(
  event: SQSEvent,
  lambdaContext: Context | undefined,
  pipeline: PipelineContext,
  stage: FunctionStage,
  options: HandlerOptions,
  handle: (record: SQSRecord) => Promise<void>,
): Promise<SQSBatchResponse> {
  const processor = new BatchProcessor(EventType.SQS);
  const recordHandler = async (record: SQSRecord) => {
    try {
      await handle(record);
    } catch (error) {
      pipeline.log.error(`${STAGE_LABELS[stage]}: message failed`, {
        messageId: record.messageId,
        receiveCount: record.attributes.ApproximateReceiveCount,
        error: describeError(error),
        reason: (error as { reason?: string }).reason,
      });
      await recordLastError(pipeline, {
        stage,
        body: record.body,
        receiveCount: Number(record.attributes.ApproximateReceiveCount) || 1,
        maxReceiveCount: options.maxReceiveCount,
        error,
      });
      throw error;
    }
  };
  const batchOptions = { throwOnFullBatchFailure: false, ...(lambdaContext ? { context: lambdaContext } : {}) };
  return processPartialResponse(event, recordHandler, processor, batchOptions);
}

/**
 * Per-invocation request metering: each run touched by a batch gets its own metered context, and when the batch
 * is done its counts (plus its share of the invocation, its SQS receive and delete, and GB-seconds) are added to
 * the run, so manifests carry request counts and cost. A failure to record them is logged, never fatal.
 */
class InvocationMeters {
  readonly #runs = new Map<
    string,
    { job: string; runId: string; meter: RequestMeter; context: PipelineContext; records: number }
  >();
  readonly #startedAt: number;

  constructor(private readonly pipeline: PipelineContext) {
    this.#startedAt = pipeline.clock.now();
  }

  #entry(job: string, runId: string) {
    const id = `${job}/${runId}`;
    let entry = this.#runs.get(id);
    if (!entry) {
      const meter = new RequestMeter();
      entry = { job, runId, meter, context: withMeter(this.pipeline, meter), records: 0 };
      this.#runs.set(id, entry);
    }
    return entry;
  }

  /** The context to use for a record of this run. */
  for(job: string, runId: string, records = 1): PipelineContext {
    const entry = this.#entry(job, runId);
    entry.records += records;
    return entry.context;
  }

  /** `queue` with its requests counted for the run. */
  queue(job: string, runId: string, queue: Queue): Queue {
    return meteredQueue(queue, this.#entry(job, runId).meter);
  }

  async flush(): Promise<void> {
    const total = [...this.#runs.values()].reduce((sum, entry) => sum + entry.records, 0);
    const gbSeconds = ((this.pipeline.clock.now() - this.#startedAt) / 1000) * (this.pipeline.settings.memoryMb / 1024);
    for (const entry of this.#runs.values()) {
      const share = total > 0 ? entry.records / total : 0;
      entry.meter.add('lambda:Invoke', share);
      entry.meter.add('logs:IngestedBytes', INVOCATION_LOG_BYTES * share);
      entry.meter.add('lambda:MilliGbSeconds', gbSeconds * 1000 * share);
      entry.meter.add('sqs:ReceiveMessage', share);
      entry.meter.add('sqs:DeleteMessageBatch', share);
      entry.meter.add('dynamodb:UpdateItem', 1);
      entry.meter.add('dynamodb:WriteUnits', 1);
      try {
        await this.pipeline.ledger.addRequests(entry.job, entry.runId, entry.meter.counts);
      } catch (error) {
        this.pipeline.log.warn('could not record request counts', {
          job: entry.job,
          runId: entry.runId,
          error: describeError(error),
        });
      }
    }
  }
}

/** Adds messages to a partial batch response (after a batch-level step failed for them). */
function withFailures(response: SQSBatchResponse, messageIds: Iterable<string>): SQSBatchResponse {
  const failed = new Set(response.batchItemFailures.map((failure) => failure.itemIdentifier));
  for (const id of messageIds) failed.add(id);
  return { batchItemFailures: [...failed].map((itemIdentifier) => ({ itemIdentifier })) };
}

/** Options of {@link createFetcherHandler}. */
export interface FetcherHandlerOptions extends HandlerOptions {
  /**
   * Time kept at the end of an invocation to archive the batch and enqueue its parse tasks and hand-backs. No fetch
   * starts once the invocation's remaining time falls below the job's `fetch.timeoutMs` + the inline retry wait
   * (`settings.inlineRetryMaxMs`) + this; the tasks not started go back to the fetch queue. Long enough for a
   * request the SDK retries (three attempts with backoff) after a fetch that took its whole timeout.
   * @default 10000
   */
  readonly dispatchReserveMs?: number;
}

/**
 * Thrown by the deadline guard instead of granting a host slot: the fetch task goes back to the fetch queue as a new
 * message (no delay), and its record counts as processed.
 */
export class DeadlineDeferral extends PolitenessDeferral {
  constructor(host: string) {
    super(host, 0);
    this.message = `the invocation is near its deadline: the fetch of a page of ${host} is handed back to the queue`;
  }
}

/** How much longer than {@link SLOT_LEAD_MS} a task may wait in the guard for its booked start (the gate's own wait). */
const SLOT_GUARD_WAIT_MS = 2_000;

/** Sitemap parts an invocation offers at once (each up to 1,000 URLs). */
const SITEMAP_PARTS_AT_ONCE = 2;

interface GuardSlot {
  active: number;
  readonly waiting: {
    readonly grant: () => void;
    readonly refuse: () => void;
    readonly marginMs: number;
    /** The task carries a start booked earlier: it is not one to book for. */
    readonly slotted: boolean;
  }[];
}

/**
 * Stops an invocation from starting fetches it may not finish. Records of a batch run concurrently (Powertools'
 * `processPartialResponse` starts them all at once), so every task reaches the host gate at the start and waits
 * there: the guard admits at most `concurrency` of them per host to the gate (so no task is stuck in the gate's own
 * queue), and from the moment the remaining time falls below the task's margin it refuses the rest with a
 * {@link DeadlineDeferral}: `fetchTask` turns that into a `retry-later` with no delay, which re-sends the task.
 */
class FetchDeadline {
  readonly #slots = new Map<string, GuardSlot>();
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  readonly #remaining: () => number;
  readonly #marginCap: number;
  readonly #contexts = new Map<PipelineContext, PipelineContext>();
  readonly #parts = new Map<string, Admission>();
  deferred = 0;

  constructor(
    lambdaContext: Context,
    private readonly reserveMs: number,
  ) {
    this.#remaining = () => lambdaContext.getRemainingTimeInMillis();
    // A margin longer than the invocation itself would hand everything back for ever: at least half the time fetches.
    this.#marginCap = Math.max(0, this.#remaining() / 2);
  }

  /** The margin of a job's fetches: its request timeout, an inline retry wait and the dispatch reserve. */
  marginFor(context: PipelineContext, job: string): number {
    const fetchMs = context.jobs.get(job).fetch.timeoutMs + context.settings.inlineRetryMaxMs;
    return Math.min(fetchMs + this.reserveMs, this.#marginCap);
  }

  /**
   * The admission of sitemap parts of `job` (which fetch nothing, so the host gate's guard does not see them):
   * {@link SITEMAP_PARTS_AT_ONCE} at a time, none once the remaining time is below the job's margin.
   */
  parts(context: PipelineContext, job: string): Admission {
    let admission = this.#parts.get(job);
    if (!admission) {
      const marginMs = this.marginFor(context, job);
      admission = new Admission(SITEMAP_PARTS_AT_ONCE, () => this.#expired(marginMs));
      this.#parts.set(job, admission);
    }
    return admission;
  }

  /** `context` with its host gate guarded for the fetches of `job` (one guarded context per run context). */
  guard(context: PipelineContext, job: string): PipelineContext {
    let guarded = this.#contexts.get(context);
    if (!guarded) {
      guarded = { ...context, hosts: this.#gate(context.hosts, this.marginFor(context, job), context.clock) };
      this.#contexts.set(context, guarded);
    }
    return guarded;
  }

  #expired(marginMs: number): boolean {
    return this.#remaining() < marginMs;
  }

  #refuse(host: string): never {
    this.deferred++;
    throw new DeadlineDeferral(host);
  }

  #release(slot: GuardSlot): void {
    const next = slot.waiting.shift();
    if (next) next.grant();
    else slot.active--;
  }

  /** Waits for one of the host's places; refused when the deadline comes first. */
  #admit(slot: GuardSlot, concurrency: number, marginMs: number, slotted: boolean): Promise<boolean> {
    if (slot.active < concurrency) {
      slot.active++;
      return Promise.resolve(true);
    }
    return new Promise<boolean>((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const waiter = {
        marginMs,
        slotted,
        grant: () => {
          if (timer) clearTimeout(timer);
          if (timer) this.#timers.delete(timer);
          resolve(true);
        },
        refuse: () => resolve(false),
      };
      // Wakes when the margin should be reached, and checks the clock again (it may not run as expected).
      const arm = () => {
        timer = setTimeout(
          () => {
            if (timer) this.#timers.delete(timer);
            if (!slot.waiting.includes(waiter)) return;
            if (!this.#expired(marginMs)) return arm();
            slot.waiting.splice(slot.waiting.indexOf(waiter), 1);
            waiter.refuse();
          },
          Math.max(1, this.#remaining() - marginMs),
        );
        this.#timers.add(timer);
      };
      slot.waiting.push(waiter);
      arm();
    });
  }

  #gate(inner: HostGate, marginMs: number, clock: Clock): HostGate {
    return {
      slowDown: (host, untilMs, call) => inner.slowDown(host, untilMs, call),
      acquire: async (host, limits, call) => {
        if (this.#expired(marginMs)) this.#refuse(host);
        // A task carrying a booked start waits for it before taking one of the host's places, so that the tasks of
        // a batch start in the order of their starts, not of their records; one whose start comes after this
        // invocation's margin is handed back (keeping its start).
        const slotWait = call?.slotAt === undefined ? 0 : call.slotAt - clock.now();
        if (slotWait > 0 && slotWait <= SLOT_LEAD_MS + SLOT_GUARD_WAIT_MS) {
          if (this.#remaining() - slotWait < marginMs) this.#refuse(host);
          await clock.sleep(slotWait);
        }
        let slot = this.#slots.get(host);
        if (!slot) {
          slot = { active: 0, waiting: [] };
          this.#slots.set(host, slot);
        }
        const held = slot;
        if (!(await this.#admit(held, limits.concurrency, marginMs, call?.slotAt !== undefined))) this.#refuse(host);
        let releaseInner: () => void;
        try {
          // The tasks waiting here for the host without a start are booked with this one (one write for them all).
          const queued = held.waiting.filter((waiter) => !waiter.slotted).length;
          releaseInner = await inner.acquire(host, limits, call && { ...call, queued });
        } catch (error) {
          this.#release(held);
          throw error;
        }
        if (this.#expired(marginMs)) {
          releaseInner();
          this.#release(held);
          this.#refuse(host);
        }
        let released = false;
        return () => {
          if (released) return;
          released = true;
          releaseInner();
          this.#release(held);
        };
      },
    };
  }

  /** Clears the timers of the invocation (none should be left: every record has finished). */
  close(): void {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }
}

/** The fetch queue consumer: starts runs and fetches pages, then archives the batch and enqueues parse tasks. */
export function createFetcherHandler(pipeline: PipelineContext, options: FetcherHandlerOptions = {}): SqsHandler {
  const reserveMs = options.dispatchReserveMs ?? 10_000;
  return async (event, lambdaContext) => {
    const meters = new InvocationMeters(pipeline);
    // Without a Lambda context (a direct call) there is no deadline to keep.
    const deadline = lambdaContext?.getRemainingTimeInMillis ? new FetchDeadline(lambdaContext, reserveMs) : undefined;
    const outcomes = new Map<string, { outcome: FetchOutcome; context: PipelineContext }>();
    const response = await processRecords(event, lambdaContext, pipeline, 'fetcher', options, async (record) => {
      const message = parseMessage(fetchQueueMessage, record.body, `fetch queue message ${record.messageId}`);
      if (message.type === 'start-run') {
        const sentAt = Number(record.attributes.SentTimestamp) || pipeline.clock.now();
        const runId =
          message.runId ??
          (message.scheduledAt
            ? runIdFor(Date.parse(message.scheduledAt), `${message.job}@${message.scheduledAt}`)
            : runIdFor(sentAt, record.messageId));
        await startRun(meters.for(message.job, runId), { ...message, runId }, record.messageId, sentAt);
        return;
      }
      const metered = meters.for(message.job, message.runId);
      const context = deadline ? deadline.guard(metered, message.job) : metered;
      if (message.sitemapPart && deadline) {
        // A part offers up to 1,000 URLs (look-ups, puts, enqueued fetches): a few at a time, none near the deadline.
        // One not admitted stops before its first chunk, and fetchTask hands it back whole.
        const parts = deadline.parts(context, message.job);
        const admitted = await parts.enter();
        try {
          const outcome = await fetchTask(context, message, { stopping: admitted ? parts.expired : () => true });
          if (outcome.kind === 'retry-later') deadline.deferred++;
          outcomes.set(record.messageId, { outcome, context });
        } finally {
          if (admitted) parts.leave();
        }
        return;
      }
      outcomes.set(record.messageId, { outcome: await fetchTask(context, message), context });
    });
    let undelivered: string[] = [];
    try {
      for (const [context, list] of groupBy(
        outcomes.values(),
        (entry) => entry.context,
        (entry) => entry.outcome,
      ))
        await dispatchFetched(context, list);
    } catch (error) {
      pipeline.log.error('fetcher: archiving or enqueueing the batch failed', { error: describeError(error) });
      // A task that ended here (failed, skipped, a sitemap read or a sitemap part offered) is delivered by its record.
      undelivered = [...outcomes]
        .filter(([, { outcome }]) => outcome.kind !== 'done' || outcome.ended !== undefined)
        .map(([id]) => id);
    }
    deadline?.close();
    if (deadline && deadline.deferred > 0) {
      pipeline.log.info('fetcher: near the deadline, tasks not started were handed back to the fetch queue', {
        handedBack: deadline.deferred,
        records: event.Records.length,
      });
    }
    await meters.flush();
    return undelivered.length > 0 ? withFailures(response, undelivered) : response;
  };
}

/** Where a parse task's page is archived, or nothing for a body that is not a parse task (it fails on its own). */
function rawOf(body: string): ParseTask['raw'][] {
  const task = parseTaskMessage.safeParse(
    ((): unknown => {
      try {
        return JSON.parse(body);
      } catch {
        return undefined;
      }
    })(),
  );
  return task.success ? [task.data.raw] : [];
}

/** Options of {@link createParserHandler}. */
export interface ParserHandlerOptions extends HandlerOptions {
  /**
   * Time kept at the end of an invocation to finish the pages in progress and write the batch's page records. No
   * page starts once the invocation's remaining time falls below it (or below half the invocation's time, when that
   * is less), and a page in progress does not start accepting its links once it falls below a quarter of that; the
   * tasks not started or stopped go back to the parse queue as new messages.
   * @default 30000
   */
  readonly finishReserveMs?: number;
  /**
   * Pages of a batch parsed at once in an invocation with a deadline (their state requests overlap; extraction runs
   * on the invocation's thread on Lambda, on worker threads locally), so that pages not started can still be handed
   * back. @default 16 (unlimited without a Lambda context, as in a direct call)
   */
  readonly pageConcurrency?: number;
}

/**
 * Admits a batch's records a few at a time, and none once the invocation's remaining time falls below a margin:
 * the records not started are handed back rather than left to run past the function's timeout (which would return
 * the whole batch, the work done included, and burn a receive of each message).
 */
class Admission {
  readonly #waiting: (() => void)[] = [];
  #active = 0;

  constructor(
    private readonly concurrency: number,
    /** Whether the deadline has come: no place is given from then on. */
    readonly expired: () => boolean,
  ) {}

  /** Waits for a place; `false` (and no place taken) when the deadline came first. */
  async enter(): Promise<boolean> {
    if (this.#active >= this.concurrency) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    else this.#active++;
    if (!this.expired()) return true;
    this.leave();
    return false;
  }

  leave(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#active--;
  }
}

/**
 * The parse queue consumer: extracts pages and follows links, then writes the batch's page records. Pages archived
 * together are read with one GET. Near the invocation's deadline it starts no more pages and sends their tasks back
 * to the parse queue (see {@link ParserHandlerOptions.finishReserveMs}).
 */
export function createParserHandler(pipeline: PipelineContext, options: ParserHandlerOptions = {}): SqsHandler {
  const reserveMs = options.finishReserveMs ?? 30_000;
  return async (event, lambdaContext) => {
    const meters = new InvocationMeters(pipeline);
    const parsed = new Map<string, { page: ParsedPage; context: PipelineContext }>();
    const handedBack: HandBack[] = [];
    const archive = new ArchiveReader(event.Records.flatMap((record) => rawOf(record.body)));
    // Without a Lambda context (a direct call) there is no deadline to keep.
    const remaining = lambdaContext?.getRemainingTimeInMillis ? () => lambdaContext.getRemainingTimeInMillis() : undefined;
    const marginMs = remaining ? Math.min(reserveMs, remaining() / 2) : 0;
    // With no deadline to keep, every page of the batch starts at once, as Powertools starts them.
    const concurrency = remaining ? (options.pageConcurrency ?? 16) : Number.POSITIVE_INFINITY;
    const admission = new Admission(concurrency, () => remaining !== undefined && remaining() < marginMs);
    // A page begun before the margin does not start accepting its links in the last quarter of it: handed back.
    const stopping = () => remaining !== undefined && remaining() < marginMs / 4;
    const response = await processRecords(event, lambdaContext, pipeline, 'parser', options, async (record) => {
      const task = parseMessage(parseTaskMessage, record.body, `parse queue message ${record.messageId}`);
      const context = meters.for(task.job, task.runId);
      const handBack = () => {
        handedBack.push({ messageId: record.messageId, body: JSON.stringify(task), queue: context.parseQueue });
      };
      if (!(await admission.enter())) return handBack();
      try {
        parsed.set(record.messageId, { page: await parseTask(context, task, archive, { stopping }), context });
      } catch (error) {
        if (!(error instanceof DeadlineError)) throw error;
        handBack();
      } finally {
        admission.leave();
      }
    });
    const unsent = await handBackMessages(pipeline, 'parser', handedBack);
    let unwritten: string[] = [];
    try {
      for (const [context, pages] of groupBy(
        parsed.values(),
        (entry) => entry.context,
        (entry) => entry.page,
      ))
        await writePageRecords(context, pages);
    } catch (error) {
      pipeline.log.error('parser: writing page records failed', { error: describeError(error) });
      unwritten = [...parsed.keys()];
      for (const record of event.Records.filter((entry) => parsed.has(entry.messageId))) {
        await recordLastError(pipeline, {
          stage: 'parser',
          body: record.body,
          receiveCount: Number(record.attributes.ApproximateReceiveCount) || 1,
          maxReceiveCount: options.maxReceiveCount,
          error,
        });
      }
    }
    await meters.flush();
    const failed = [...unwritten, ...unsent];
    return failed.length > 0 ? withFailures(response, failed) : response;
  };
}

/** A message an invocation hands back: its id in the batch, its body and the queue it goes back to. */
interface HandBack {
  readonly messageId: string;
  readonly body: string;
  /** undefined: the stage has no queue to send it back to. */
  readonly queue: Queue | undefined;
}

/**
 * Sends the messages an invocation did not finish back to their queue, as new messages (their receive counts start
 * again: nothing failed). @returns the ids of the messages that could not be sent (or that have no queue to go
 * back to): they are returned to their queue as failures instead, so none is lost.
 */
async function handBackMessages(
  pipeline: PipelineContext,
  stage: FunctionStage,
  messages: readonly HandBack[],
): Promise<string[]> {
  if (messages.length === 0) return [];
  const unsent: string[] = [];
  for (const [queue, group] of groupBy(messages, (message) => message.queue)) {
    try {
      if (queue === undefined) throw new Error('no queue to hand messages back to');
      await queue.send(group.map(({ body }) => ({ body })));
    } catch (error) {
      pipeline.log.error(`${STAGE_LABELS[stage]}: handing messages back to the queue failed`, { error: describeError(error) });
      unsent.push(...group.map(({ messageId }) => messageId));
    }
  }
  pipeline.log.info(`${STAGE_LABELS[stage]}: near the deadline, work not done was handed back to the queue`, {
    handedBack: messages.length - unsent.length,
    failed: unsent.length,
  });
  return unsent;
}

/** Object keys in S3 notifications are URL-encoded with `+` for spaces. */
export function decodeS3Key(key: string): string {
  return decodeURIComponent(key.replace(/\+/g, ' '));
}

/** Options of {@link createPostProcessorHandler}. */
export interface PostProcessorHandlerOptions extends HandlerOptions {
  /**
   * The post-processing queue itself: near the invocation's deadline, messages whose records objects it has no time
   * to finish are sent back to it as new messages (their receive counts start again: nothing failed).
   * @default undefined (those messages are returned as batch item failures, and come back after their visibility
   * timeout)
   */
  readonly handBackQueue?: Queue;
  /**
   * Time kept at the end of an invocation. No message starts once the invocation's remaining time falls below it
   * (or below half the invocation's time, when that is less), and a records object in progress stops between two
   * steps once the remaining time falls below a quarter of it: its message is handed back, and the object is
   * post-processed again from the start (post-processing is idempotent). Finishing the run the object completes
   * stops so only when it began with less than half the invocation's time ahead. @default 60000
   */
  readonly finishReserveMs?: number;
  /**
   * Messages of a batch post-processed at once in an invocation with a deadline, so that those not started can be
   * handed back. @default 2 (unlimited without a Lambda context, as in a direct call)
   */
  readonly messageConcurrency?: number;
}

/**
 * The post-processing queue consumer: one S3 notification per message, each naming records objects. Near the
 * invocation's deadline it starts no more messages and stops the objects in progress between two steps, and hands
 * their messages back (see {@link PostProcessorHandlerOptions.finishReserveMs}).
 */
export function createPostProcessorHandler(pipeline: PipelineContext, options: PostProcessorHandlerOptions = {}): SqsHandler {
  const reserveMs = options.finishReserveMs ?? 60_000;
  return async (event, lambdaContext) => {
    const meters = new InvocationMeters(pipeline);
    // Without a Lambda context (a direct call) there is no deadline to keep.
    const remaining = lambdaContext?.getRemainingTimeInMillis ? () => lambdaContext.getRemainingTimeInMillis() : undefined;
    const startMarginMs = remaining ? Math.min(reserveMs, remaining() / 2) : 0;
    const stopMarginMs = startMarginMs / 4;
    const concurrency = remaining ? (options.messageConcurrency ?? 2) : Number.POSITIVE_INFINITY;
    const admission = new Admission(concurrency, () => remaining !== undefined && remaining() < startMarginMs);
    const checkpoint = () => {
      if (remaining !== undefined && remaining() < stopMarginMs)
        throw new DeadlineError('the invocation is near its deadline: the records object is handed back');
    };
    // Finishing a run begun with at least half the invocation ahead is not stopped: stopped, it would start again
    // from nothing in the next invocation, which has no more time (a run too large to finish in one invocation would
    // be handed back for ever). Begun later, it stops near the deadline, and the handed-back object, started early in
    // its next invocation, finishes it then.
    const invocationMs = remaining?.() ?? 0;
    const finishCheckpoint = () => (remaining !== undefined && remaining() >= invocationMs / 2 ? () => {} : checkpoint);
    const handedBack: HandBack[] = [];
    const response = await processRecords(event, lambdaContext, pipeline, 'postprocessor', options, async (record) => {
      const notification = parseMessage(s3NotificationMessage, record.body, `post-processing message ${record.messageId}`);
      if ('Event' in notification) return;
      const handBack = () => {
        // Metered as the run of its first object (a notification names one object in practice).
        const parts = notification.Records.map((entry) => parseRecordsKey(decodeS3Key(entry.s3.object.key))).find(Boolean);
        const queue = options.handBackQueue;
        handedBack.push({
          messageId: record.messageId,
          body: record.body,
          queue: queue && parts ? meters.queue(parts.job, parts.runId, queue) : queue,
        });
      };
      if (!(await admission.enter())) return handBack();
      try {
        for (const s3Record of notification.Records) {
          if (!s3Record.eventName.startsWith('ObjectCreated')) continue;
          const key = decodeS3Key(s3Record.s3.object.key);
          const parts = parseRecordsKey(key);
          await postProcessRecords(parts ? meters.for(parts.job, parts.runId) : pipeline, key, { checkpoint, finishCheckpoint });
        }
      } catch (error) {
        if (!(error instanceof DeadlineError)) throw error;
        handBack();
      } finally {
        admission.leave();
      }
    });
    const unsent = await handBackMessages(pipeline, 'postprocessor', handedBack);
    await meters.flush();
    return unsent.length > 0 ? withFailures(response, unsent) : response;
  };
}

/** Options of {@link createDeadLetterHandler}. */
export interface DeadLetterHandlerOptions {
  /**
   * Keeps a settled dead letter where an operator finds it and `scrapeline redrive` moves it back from: the
   * dead-letter queue of the stage queue the record came from (on AWS by the record's `eventSourceARN`; locally each
   * poller knows its queue). Called after the message was settled; a throw fails the record, which is then settled
   * again (idempotent) and kept again.
   */
  readonly keep: (record: SQSRecord, stage: QueueStage | undefined) => Promise<void>;
}

/**
 * The dead-letter stage's consumer: each message that a stage queue gave up on ends what it stands for (its URLs
 * `failed`, reason `dead-lettered`, the run finished when nothing else is pending), then is kept for inspection and
 * redrive. A message this stage cannot settle (the state store fails) is retried, and after its own queue's
 * `maxReceiveCount` it is moved on unsettled: the watchdog ends its run.
 */
export function createDeadLetterHandler(pipeline: PipelineContext, options: DeadLetterHandlerOptions): SqsHandler {
  return async (event, lambdaContext) =>
    processRecords(event, lambdaContext, pipeline, 'deadletters', {}, async (record) => {
      const outcome = await settleDeadLetter(pipeline, record.body);
      if (outcome.kind === 'dropped') {
        pipeline.log.warn('dead letter: nothing to end', {
          messageId: record.messageId,
          stage: outcome.stage,
          reason: outcome.why,
        });
      }
      await options.keep(record, outcome.stage);
    });
}
