import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { z } from 'zod';
import { describeError } from './errors.js';
import { parseRecordsKey } from './layout.js';
import { type PipelineContext, withMeter } from './pipeline/context.js';
import { type DeadLetterStage, recordLastError, settleDeadLetter } from './pipeline/dead-letters.js';
import { dispatchFetched, type FetchOutcome, fetchTask } from './pipeline/fetch.js';
import { fetchQueueMessage, parseMessage, parseTaskMessage } from './pipeline/messages.js';
import { RequestMeter } from './pipeline/metering.js';
import { type ParsedPage, parseTask, writePageRecords } from './pipeline/parse.js';
import { postProcessRecords } from './pipeline/postprocess.js';
import { runIdFor, startRun } from './pipeline/start.js';

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
  stage: string,
  options: HandlerOptions,
  handle: (record: SQSRecord) => Promise<void>,
): Promise<SQSBatchResponse> {
  const processor = new BatchProcessor(EventType.SQS);
  const recordHandler = async (record: SQSRecord) => {
    try {
      await handle(record);
    } catch (error) {
      pipeline.log.error(`${stage}: message failed`, {
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

  /** The context to use for a record of this run. */
  for(job: string, runId: string, records = 1): PipelineContext {
    const id = `${job}/${runId}`;
    let entry = this.#runs.get(id);
    if (!entry) {
      const meter = new RequestMeter();
      entry = { job, runId, meter, context: withMeter(this.pipeline, meter), records: 0 };
      this.#runs.set(id, entry);
    }
    entry.records += records;
    return entry.context;
  }

  async flush(): Promise<void> {
    const total = [...this.#runs.values()].reduce((sum, entry) => sum + entry.records, 0);
    const gbSeconds = ((this.pipeline.clock.now() - this.#startedAt) / 1000) * (this.pipeline.settings.memoryMb / 1024);
    for (const entry of this.#runs.values()) {
      const share = total > 0 ? entry.records / total : 0;
      entry.meter.add('lambda:Invoke', share);
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

/** Groups a batch's results by the (per-run, metered) context that produced them. */
function byContext<E extends { readonly context: PipelineContext }, T>(
  entries: Iterable<E>,
  value: (entry: E) => T,
): Map<PipelineContext, T[]> {
  const groups = new Map<PipelineContext, T[]>();
  for (const entry of entries) {
    const group = groups.get(entry.context);
    if (group) group.push(value(entry));
    else groups.set(entry.context, [value(entry)]);
  }
  return groups;
}

/** Adds messages to a partial batch response (after a batch-level step failed for them). */
function withFailures(response: SQSBatchResponse, messageIds: Iterable<string>): SQSBatchResponse {
  const failed = new Set(response.batchItemFailures.map((failure) => failure.itemIdentifier));
  for (const id of messageIds) failed.add(id);
  return { batchItemFailures: [...failed].map((itemIdentifier) => ({ itemIdentifier })) };
}

/** The fetch queue consumer: starts runs and fetches pages, then archives the batch and enqueues parse tasks. */
export function createFetcherHandler(pipeline: PipelineContext, options: HandlerOptions = {}): SqsHandler {
  return async (event, lambdaContext) => {
    const meters = new InvocationMeters(pipeline);
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
      const context = meters.for(message.job, message.runId);
      outcomes.set(record.messageId, { outcome: await fetchTask(context, message), context });
    });
    let undelivered: string[] = [];
    try {
      for (const [context, list] of byContext(outcomes.values(), (entry) => entry.outcome)) await dispatchFetched(context, list);
    } catch (error) {
      pipeline.log.error('fetcher: archiving or enqueueing the batch failed', { error: describeError(error) });
      undelivered = [...outcomes].filter(([, { outcome }]) => outcome.kind !== 'done').map(([id]) => id);
    }
    await meters.flush();
    return undelivered.length > 0 ? withFailures(response, undelivered) : response;
  };
}

/** The parse queue consumer: extracts pages and follows links, then writes the batch's page records. */
export function createParserHandler(pipeline: PipelineContext, options: HandlerOptions = {}): SqsHandler {
  return async (event, lambdaContext) => {
    const meters = new InvocationMeters(pipeline);
    const parsed = new Map<string, { page: ParsedPage; context: PipelineContext }>();
    const response = await processRecords(event, lambdaContext, pipeline, 'parser', options, async (record) => {
      const task = parseMessage(parseTaskMessage, record.body, `parse queue message ${record.messageId}`);
      const context = meters.for(task.job, task.runId);
      parsed.set(record.messageId, { page: await parseTask(context, task), context });
    });
    let unwritten: string[] = [];
    try {
      for (const [context, pages] of byContext(parsed.values(), (entry) => entry.page)) await writePageRecords(context, pages);
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
    return unwritten.length > 0 ? withFailures(response, unwritten) : response;
  };
}

/** S3 event notification, as S3 delivers it to SQS (or the test event S3 sends when notifications are set up). */
const s3Notification = z.union([
  z.object({
    Records: z.array(
      z.object({
        eventName: z.string(),
        s3: z.object({ object: z.object({ key: z.string() }) }),
      }),
    ),
  }),
  z.object({ Event: z.literal('s3:TestEvent') }),
]);

/** Object keys in S3 notifications are URL-encoded with `+` for spaces. */
export function decodeS3Key(key: string): string {
  return decodeURIComponent(key.replace(/\+/g, ' '));
}

/** The post-processing queue consumer: one S3 notification per message, each naming records objects. */
export function createPostProcessorHandler(pipeline: PipelineContext, options: HandlerOptions = {}): SqsHandler {
  return async (event, lambdaContext) => {
    const meters = new InvocationMeters(pipeline);
    const response = await processRecords(event, lambdaContext, pipeline, 'post-processor', options, async (record) => {
      const notification = parseMessage(s3Notification, record.body, `post-processing message ${record.messageId}`);
      if ('Event' in notification) return;
      for (const s3Record of notification.Records) {
        if (!s3Record.eventName.startsWith('ObjectCreated')) continue;
        const key = decodeS3Key(s3Record.s3.object.key);
        const parts = parseRecordsKey(key);
        await postProcessRecords(parts ? meters.for(parts.job, parts.runId) : pipeline, key);
      }
    });
    await meters.flush();
    return response;
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
  readonly keep: (record: SQSRecord, stage: DeadLetterStage | undefined) => Promise<void>;
}

/**
 * The dead-letter stage's consumer: each message that a stage queue gave up on ends what it stands for (its URLs
 * `failed`, reason `dead-lettered`, the run finished when nothing else is pending), then is kept for inspection and
 * redrive. A message this stage cannot settle (the state store fails) is retried, and after its own queue's
 * `maxReceiveCount` it is moved on unsettled: the watchdog ends its run.
 */
export function createDeadLetterHandler(pipeline: PipelineContext, options: DeadLetterHandlerOptions): SqsHandler {
  return async (event, lambdaContext) =>
    processRecords(event, lambdaContext, pipeline, 'dead-letters', {}, async (record) => {
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
