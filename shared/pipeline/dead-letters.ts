import { createHash } from 'node:crypto';
import { describeError } from '../errors.js';
import type { FailureReason } from '../failure-reasons.js';
import { parseRecordsKey } from '../layout.js';
import { METRICS } from '../metrics.js';
import { type FunctionStage, type QueueStage, STAGE_LABELS } from '../stages.js';
import type { PipelineContext } from './context.js';
import { finalizeIfComplete, type RunManifest } from './finalize.js';
import type { Completion } from './ledger.js';
import { fetchQueueMessage, parseTaskMessage } from './messages.js';
import { decodePageRecords } from './postprocess.js';
import { runIdFor } from './start.js';

/**
 * The dead-letter stage. A message that failed `maxReceiveCount` times stands for work that will not happen: its
 * URL (a fetch or parse task) or the pages of its records object (an S3 notification) would stay `accepted` forever
 * and the run would never complete. This stage ends them `failed` (reason {@link DEAD_LETTERED}, with the last error
 * and the receive count), then finishes the run if that was the last work pending, so it ends `partial` (or `failed`)
 * with a manifest instead of stalling.
 *
 * The last error is written by the stage handlers (`shared/handlers.ts`) on a message's final receive only, as a
 * state item keyed by a hash of the message body (see {@link lastErrorKey}): a normal retry costs nothing, and the
 * body is what the dead-letter queue hands over on AWS and locally alike (a local dead letter gets a new message id,
 * an SQS one keeps its id; the body is the same everywhere). A handler that crashed or timed out on the final receive
 * wrote nothing: the URL's message then says the last error is unknown.
 */

/** The reason of URLs ended by the dead-letter stage. */
export const DEAD_LETTERED = 'dead-lettered' as const satisfies FailureReason;

/** How long a last-error item is kept: the dead-letter queues' retention (14 days) and a day of margin. */
export const LAST_ERROR_TTL_SECONDS = 15 * 24 * 3600;

/** The state key of the last error of a message body. */
export function lastErrorKey(body: string): { pk: string; sk: string } {
  return { pk: `deadletter#${createHash('sha256').update(body).digest('hex').slice(0, 40)}`, sk: 'last-error' };
}

/** What a stage handler knew when a message failed on its final receive. */
export interface LastError {
  readonly stage: string;
  readonly error: string;
  readonly reason: string | undefined;
  readonly receiveCount: number;
  /** Epoch ms. */
  readonly at: number;
}

/**
 * Records why a message failed, when it failed on its final receive (`receiveCount >= maxReceiveCount`): the next
 * time SQS (or the local queue) sees it, it moves it to the dead-letter queue. Earlier receives write nothing.
 * A failure to write is logged, never thrown: the message fails anyway.
 */
export async function recordLastError(
  context: PipelineContext,
  failure: { stage: FunctionStage; body: string; receiveCount: number; maxReceiveCount: number | undefined; error: unknown },
): Promise<boolean> {
  if (failure.maxReceiveCount === undefined || failure.receiveCount < failure.maxReceiveCount) return false;
  const now = context.clock.now();
  try {
    await context.state.write({
      ...lastErrorKey(failure.body),
      set: {
        stage: STAGE_LABELS[failure.stage],
        error: describeError(failure.error).slice(0, 1000),
        reason: (failure.error as { reason?: unknown } | null)?.reason?.toString() ?? null,
        receiveCount: failure.receiveCount,
        at: now,
      },
      expiresAt: Math.floor(now / 1000) + LAST_ERROR_TTL_SECONDS,
    });
    return true;
  } catch (error) {
    context.log.warn('could not record the last error of a message', { error: describeError(error) });
    return false;
  }
}

/** The last error recorded for a message body, if any. */
export async function lastErrorOf(context: PipelineContext, body: string): Promise<LastError | undefined> {
  const { pk, sk } = lastErrorKey(body);
  const item = await context.state.get(pk, sk);
  if (!item) return undefined;
  return {
    stage: String(item.stage ?? ''),
    error: String(item.error ?? ''),
    reason: item.reason === null || item.reason === undefined ? undefined : String(item.reason),
    receiveCount: Number(item.receiveCount ?? 0),
    at: Number(item.at ?? 0),
  };
}

/** What the dead-letter stage did with one message. */
export type DeadLetterOutcome =
  /** URLs of a run ended failed (those already terminal were left alone); `manifest` when that finished the run. */
  | {
      readonly kind: 'settled';
      readonly stage: QueueStage;
      readonly job: string;
      readonly runId: string;
      readonly failed: number;
      readonly manifest: RunManifest | undefined;
    }
  /** Nothing to end: a start message, a run or records object that is not there, an S3 test event. */
  | { readonly kind: 'dropped'; readonly stage: QueueStage | undefined; readonly why: string };

/** The stage a message body belongs to, from its shape; `undefined` when it is no pipeline message. */
export function stageOfBody(body: string): QueueStage | undefined {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof json !== 'object' || json === null) return undefined;
  const type = (json as { type?: unknown }).type;
  if (type === 'start-run' || type === 'fetch') return 'fetch';
  if (type === 'parse') return 'parse';
  if ('Records' in json || 'Event' in json) return 'postprocess';
  return undefined;
}

function describeLastError(last: LastError | undefined, receiveCount: number | undefined): string {
  if (!last) {
    const received = receiveCount === undefined ? '' : ` after ${receiveCount} receives`;
    return `dead-lettered${received}; last error unknown (the handler crashed or timed out, or the error was not recorded)`;
  }
  return `dead-lettered after ${last.receiveCount} receives by the ${last.stage}; last error: ${last.error}`;
}

/**
 * Ends the URLs of a dead letter in its run with `end` (which returns the URLs it ended), then finishes the run when
 * nothing else is pending. A job not deployed or a run not in the state store leaves nothing to end.
 */
async function settle(
  context: PipelineContext,
  stage: QueueStage,
  job: string,
  runId: string,
  message: string,
  end: () => Promise<Set<string>>,
): Promise<DeadLetterOutcome> {
  if (!context.jobs.names().includes(job)) return { kind: 'dropped', stage, why: `job ${job} is not deployed` };
  if (!(await context.ledger.getRun(job, runId))) {
    return { kind: 'dropped', stage, why: `run ${runId} of job ${job} is not in the state store` };
  }
  const ended = await end();
  if (ended.size > 0) {
    context.log.warn('dead letter: URLs ended failed', { job, runId, stage, urls: [...ended], reason: DEAD_LETTERED, message });
    context.metrics.count(METRICS.urlsDeadLettered, ended.size);
  }
  const manifest = await finalizeIfComplete(context, job, runId);
  return { kind: 'settled', stage, job, runId, failed: ended.size, manifest };
}

/** Ends a dead-lettered task's URL, if it is still pending. */
function endUrls(
  context: PipelineContext,
  stage: QueueStage,
  job: string,
  runId: string,
  urls: readonly string[],
  message: string,
): Promise<DeadLetterOutcome> {
  const completions: Completion[] = urls.map((url) => ({ url, state: 'failed', reason: DEAD_LETTERED, message }));
  return settle(context, stage, job, runId, message, () => context.ledger.complete(job, runId, completions));
}

/**
 * Ends the pages of a dead-lettered records object: those still pending, and those it moved without counting them
 * (the object may have stopped before its datasets were written); see {@link RunLedger.failBatch}.
 */
function endBatch(
  context: PipelineContext,
  stage: QueueStage,
  parts: { job: string; runId: string; batchId: string },
  urls: readonly string[],
  message: string,
): Promise<DeadLetterOutcome> {
  const { job, runId, batchId } = parts;
  const failure = { reason: DEAD_LETTERED, message };
  return settle(context, stage, job, runId, message, () =>
    context.ledger.failBatch(job, runId, batchId, urls, failure, context.clock.now()),
  );
}

/**
 * Ends what a dead-lettered message stands for: a fetch or parse task's URL, or the pages of a records object that are
 * still pending, `failed` with reason {@link DEAD_LETTERED}; then finishes the run when nothing else is pending. A
 * start message is dropped (a run it created, if any, is left to its other work and to the watchdog).
 * Idempotent: URLs already terminal are left alone, and finishing is idempotent.
 *
 * @throws when the state store or object store fails (retryable: the dead letter is tried again)
 */
export async function settleDeadLetter(
  context: PipelineContext,
  body: string,
  options: { receiveCount?: number } = {},
): Promise<DeadLetterOutcome> {
  const stage = stageOfBody(body);
  if (stage === undefined) return { kind: 'dropped', stage, why: 'not a pipeline message' };
  const last = await lastErrorOf(context, body);
  const message = describeLastError(last, options.receiveCount);
  const json = JSON.parse(body) as unknown;

  if (stage === 'parse') {
    const task = parseTaskMessage.safeParse(json);
    if (!task.success) return { kind: 'dropped', stage, why: 'not a valid parse task' };
    return endUrls(context, stage, task.data.job, task.data.runId, [task.data.url], message);
  }
  if (stage === 'fetch') {
    const parsed = fetchQueueMessage.safeParse(json);
    if (!parsed.success) return { kind: 'dropped', stage, why: 'not a valid fetch queue message' };
    const fetchMessage = parsed.data;
    if (fetchMessage.type === 'fetch') {
      return endUrls(context, stage, fetchMessage.job, fetchMessage.runId, [fetchMessage.url], message);
    }
    // A start message: its run, when it got as far as creating one, is finished if nothing is pending (the watchdog
    // ends it otherwise). A start without a run id or schedule time named its run after the lost message id.
    const runId =
      fetchMessage.runId ??
      (fetchMessage.scheduledAt
        ? runIdFor(Date.parse(fetchMessage.scheduledAt), `${fetchMessage.job}@${fetchMessage.scheduledAt}`)
        : undefined);
    context.log.error('dead letter: a run could not be started', { job: fetchMessage.job, runId, error: message });
    if (runId !== undefined && context.jobs.names().includes(fetchMessage.job)) {
      const manifest = await finalizeIfComplete(context, fetchMessage.job, runId);
      if (manifest) return { kind: 'settled', stage, job: fetchMessage.job, runId, failed: 0, manifest };
    }
    return { kind: 'dropped', stage, why: 'a start message' };
  }

  // An S3 notification of records objects: the pages of each object that it did not finish.
  const records = (json as { Records?: { eventName?: string; s3?: { object?: { key?: string } } }[] }).Records ?? [];
  let outcome: DeadLetterOutcome = { kind: 'dropped', stage, why: 'no records object in the notification' };
  for (const record of records) {
    if (!record.eventName?.startsWith('ObjectCreated')) continue;
    const key = decodeURIComponent((record.s3?.object?.key ?? '').replace(/\+/g, ' '));
    const parts = parseRecordsKey(key);
    if (!parts) continue;
    const object = await context.store.get(key);
    let urls: string[];
    try {
      urls = object ? decodePageRecords(key, object).map((page) => page.url) : [];
    } catch (error) {
      context.log.error('dead letter: records object unreadable; its pages are left to the watchdog', {
        key,
        error: describeError(error),
      });
      continue;
    }
    if (!object) {
      context.log.error('dead letter: records object missing; its pages are left to the watchdog', { key });
      continue;
    }
    outcome = await endBatch(context, stage, parts, urls, message);
  }
  return outcome;
}
