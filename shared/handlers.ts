import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { z } from 'zod';
import { describeError } from './errors.js';
import type { PipelineContext } from './pipeline/context.js';
import { dispatchFetched, type FetchOutcome, fetchTask } from './pipeline/fetch.js';
import { fetchQueueMessage, parseMessage, parseTaskMessage } from './pipeline/messages.js';
import { type ParsedPage, parseTask, writePageRecords } from './pipeline/parse.js';
import { postProcessRecords } from './pipeline/postprocess.js';
import { startRun } from './pipeline/start.js';

/**
 * Handler factories: the SQS consumers of the three stages. Lambda entry points in `functions/` build them with
 * cloud adapters; the local runtime builds them with local adapters and feeds them events of the same shape.
 * Each record fails on its own (partial batch response), never the whole batch for one record.
 */

/** An SQS-triggered handler. */
export type SqsHandler = (event: SQSEvent, context?: Context) => Promise<SQSBatchResponse>;

async function processRecords(
  event: SQSEvent,
  lambdaContext: Context | undefined,
  pipeline: PipelineContext,
  stage: string,
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
      throw error;
    }
  };
  const options = { throwOnFullBatchFailure: false, ...(lambdaContext ? { context: lambdaContext } : {}) };
  return processPartialResponse(event, recordHandler, processor, options);
}

/** Adds messages to a partial batch response (after a batch-level step failed for them). */
function withFailures(response: SQSBatchResponse, messageIds: Iterable<string>): SQSBatchResponse {
  const failed = new Set(response.batchItemFailures.map((failure) => failure.itemIdentifier));
  for (const id of messageIds) failed.add(id);
  return { batchItemFailures: [...failed].map((itemIdentifier) => ({ itemIdentifier })) };
}

/** The fetch queue consumer: starts runs and fetches pages, then archives the batch and enqueues parse tasks. */
export function createFetcherHandler(pipeline: PipelineContext): SqsHandler {
  return async (event, lambdaContext) => {
    const outcomes = new Map<string, FetchOutcome>();
    const response = await processRecords(event, lambdaContext, pipeline, 'fetcher', async (record) => {
      const message = parseMessage(fetchQueueMessage, record.body, `fetch queue message ${record.messageId}`);
      if (message.type === 'start-run') {
        const sentAt = Number(record.attributes.SentTimestamp) || pipeline.clock.now();
        await startRun(pipeline, message, record.messageId, sentAt);
        return;
      }
      outcomes.set(record.messageId, await fetchTask(pipeline, message));
    });
    try {
      await dispatchFetched(pipeline, [...outcomes.values()]);
    } catch (error) {
      pipeline.log.error('fetcher: archiving or enqueueing the batch failed', { error: describeError(error) });
      const undelivered = [...outcomes].filter(([, outcome]) => outcome.kind !== 'done').map(([id]) => id);
      return withFailures(response, undelivered);
    }
    return response;
  };
}

/** The parse queue consumer: extracts pages and follows links, then writes the batch's page records. */
export function createParserHandler(pipeline: PipelineContext): SqsHandler {
  return async (event, lambdaContext) => {
    const parsed = new Map<string, ParsedPage>();
    const response = await processRecords(event, lambdaContext, pipeline, 'parser', async (record) => {
      const task = parseMessage(parseTaskMessage, record.body, `parse queue message ${record.messageId}`);
      parsed.set(record.messageId, await parseTask(pipeline, task));
    });
    try {
      await writePageRecords(pipeline, [...parsed.values()]);
    } catch (error) {
      pipeline.log.error('parser: writing page records failed', { error: describeError(error) });
      return withFailures(response, parsed.keys());
    }
    return response;
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
export function createPostProcessorHandler(pipeline: PipelineContext): SqsHandler {
  return (event, lambdaContext) =>
    processRecords(event, lambdaContext, pipeline, 'post-processor', async (record) => {
      const notification = parseMessage(s3Notification, record.body, `post-processing message ${record.messageId}`);
      if ('Event' in notification) return;
      for (const s3Record of notification.Records) {
        if (!s3Record.eventName.startsWith('ObjectCreated')) continue;
        await postProcessRecords(pipeline, decodeS3Key(s3Record.s3.object.key));
      }
    });
}
