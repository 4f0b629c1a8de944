import type { BatchResultErrorEntry, SendMessageBatchRequestEntry, SQSClient } from '@aws-sdk/client-sqs';
import { InvalidInputError } from '../errors.js';
import { type Clock, type OutgoingMessage, type Queue, systemClock } from '../ports.js';
import { MessageTooLargeError, SqsSendError, SqsSenderFaultError } from './errors.js';

/**
 * The SQS package, loaded when the first message is sent: a function that never sends (the post-processor) never
 * loads it, and one that does (whose client loaded it at cold start) finds it in the module cache.
 */
let sqsPackage: Promise<typeof import('@aws-sdk/client-sqs')> | undefined;
const loadSqsPackage = () => {
  sqsPackage ??= import('@aws-sdk/client-sqs');
  return sqsPackage;
};

/** Entries per SendMessageBatch request (the SQS limit). */
export const MAX_BATCH_ENTRIES = 10;
/** Bytes of message bodies per SendMessageBatch request, and per message. @default 256 KiB */
export const DEFAULT_MAX_BATCH_BYTES = 256 * 1024;

/** Options of {@link SqsQueue}. */
export interface SqsQueueOptions {
  /** The client, or anything that sends its commands (a client created on first use). */
  readonly client: Pick<SQSClient, 'send'>;
  readonly queueUrl: string;
  /**
   * Largest message, and largest sum of message bodies in one request. SQS allows 256 KiB on queues whose
   * `MaximumMessageSize` was not raised. @default 262144
   */
  readonly maxBatchBytes?: number;
  /** Attempts for entries SQS reports as failed (server side) before `send` throws. @default 4 */
  readonly maxAttempts?: number;
  /** First delay before retrying failed entries; doubles per attempt, with jitter. @default 100 */
  readonly retryBaseMs?: number;
  /** SendMessageBatch requests in flight at once. @default 4 */
  readonly concurrency?: number;
  readonly clock?: Clock;
  /** Random source for jitter. @default Math.random */
  readonly random?: () => number;
}

interface Entry {
  readonly id: string;
  readonly body: string;
  readonly bytes: number;
  readonly delaySeconds: number | undefined;
}

/**
 * The producer side of an SQS queue. Messages go out in SendMessageBatch requests of at most 10 entries and at
 * most `maxBatchBytes` of bodies; entries SQS reports as failed are sent again with backoff.
 */
export class SqsQueue implements Queue {
  readonly #client: Pick<SQSClient, 'send'>;
  readonly #queueUrl: string;
  readonly #maxBatchBytes: number;
  readonly #maxAttempts: number;
  readonly #retryBaseMs: number;
  readonly #concurrency: number;
  readonly #clock: Clock;
  readonly #random: () => number;

  constructor(options: SqsQueueOptions) {
    const problems: string[] = [];
    const positiveInteger = (name: string, value: number | undefined) => {
      if (value !== undefined && (!Number.isInteger(value) || value < 1))
        problems.push(`${name} must be a positive integer, got ${value}`);
    };
    positiveInteger('maxBatchBytes', options.maxBatchBytes);
    positiveInteger('maxAttempts', options.maxAttempts);
    positiveInteger('concurrency', options.concurrency);
    if (options.retryBaseMs !== undefined && !(options.retryBaseMs >= 0)) {
      problems.push(`retryBaseMs must be >= 0, got ${options.retryBaseMs}`);
    }
    if (options.queueUrl === '') problems.push('queueUrl must not be empty');
    if (problems.length > 0) throw new RangeError(`invalid SqsQueue options: ${problems.join('; ')}`);
    this.#client = options.client;
    this.#queueUrl = options.queueUrl;
    this.#maxBatchBytes = options.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES;
    this.#maxAttempts = options.maxAttempts ?? 4;
    this.#retryBaseMs = options.retryBaseMs ?? 100;
    this.#concurrency = options.concurrency ?? 4;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
  }

  get queueUrl(): string {
    return this.#queueUrl;
  }

  async send(messages: readonly OutgoingMessage[]): Promise<void> {
    const entries = messages.map((message, index) => this.#entry(message, index));
    const batches = this.#batches(entries);
    let next = 0;
    const worker = async () => {
      while (next < batches.length) {
        const batch = batches[next++];
        if (batch) await this.#sendBatch(batch);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.#concurrency, batches.length) }, worker));
  }

  #entry(message: OutgoingMessage, index: number): Entry {
    const bytes = Buffer.byteLength(message.body, 'utf8');
    if (bytes > this.#maxBatchBytes) throw new MessageTooLargeError(index, bytes, this.#maxBatchBytes);
    const delay = message.delaySeconds;
    if (delay !== undefined && (!Number.isInteger(delay) || delay < 0 || delay > 900)) {
      throw new InvalidInputError(`message ${index}: delaySeconds must be an integer from 0 to 900, got ${delay}`);
    }
    return { id: `msg-${index}`, body: message.body, bytes, delaySeconds: delay };
  }

  /** Groups entries in order: a new request when the current one has 10 entries or the next body would not fit. */
  #batches(entries: readonly Entry[]): Entry[][] {
    const batches: Entry[][] = [];
    let current: Entry[] = [];
    let bytes = 0;
    for (const entry of entries) {
      if (current.length === MAX_BATCH_ENTRIES || (current.length > 0 && bytes + entry.bytes > this.#maxBatchBytes)) {
        batches.push(current);
        current = [];
        bytes = 0;
      }
      current.push(entry);
      bytes += entry.bytes;
    }
    if (current.length > 0) batches.push(current);
    return batches;
  }

  async #sendBatch(batch: readonly Entry[]): Promise<void> {
    let pending = batch;
    let failures: BatchResultErrorEntry[] = [];
    for (let attempt = 0; attempt < this.#maxAttempts; attempt++) {
      if (attempt > 0) {
        const delay = Math.round(this.#retryBaseMs * 2 ** (attempt - 1) * (0.5 + this.#random() / 2));
        await this.#clock.sleep(delay);
      }
      const { SendMessageBatchCommand } = await loadSqsPackage();
      const output = await this.#client.send(
        new SendMessageBatchCommand({ QueueUrl: this.#queueUrl, Entries: pending.map(toRequestEntry) }),
      );
      failures = output.Failed ?? [];
      if (failures.length === 0) return;
      const senderFaults = failures.filter((failure) => failure.SenderFault);
      if (senderFaults.length > 0) {
        throw new SqsSenderFaultError(
          `SQS refused ${senderFaults.length} message(s) as malformed: ${describeFailures(senderFaults)}`,
          senderFaults.map((failure) => failure.Id ?? '?'),
        );
      }
      const failed = new Set(failures.map((failure) => failure.Id));
      pending = pending.filter((entry) => failed.has(entry.id));
    }
    throw new SqsSendError(
      `SQS did not accept ${failures.length} message(s) after ${this.#maxAttempts} attempts: ${describeFailures(failures)}`,
      failures.map((failure) => failure.Id ?? '?'),
    );
  }
}

function toRequestEntry(entry: Entry): SendMessageBatchRequestEntry {
  return {
    Id: entry.id,
    MessageBody: entry.body,
    ...(entry.delaySeconds === undefined ? {} : { DelaySeconds: entry.delaySeconds }),
  };
}

function describeFailures(failures: readonly BatchResultErrorEntry[]): string {
  return failures.map((failure) => `${failure.Id} (${failure.Code}${failure.Message ? `: ${failure.Message}` : ''})`).join(', ');
}
