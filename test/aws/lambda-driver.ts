/**
 * What Lambda does around the handlers, for tests against the local AWS peers: an SQS event source mapping
 * (receive, invoke with the real event shape, delete what did not fail) and the S3 → SQS notification that
 * feeds the post-processing queue.
 */
import type { EventEmitter } from 'node:events';
import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import type { SqsHandler } from '../../shared/handlers.js';
import type { S3EventNotification } from '../support/aws-peers.js';

/** The SQS record Lambda builds from a received message. */
export function sqsRecord(message: Message, queueArn: string, region: string): SQSRecord {
  const attributes = message.Attributes ?? {};
  return {
    messageId: message.MessageId ?? '',
    receiptHandle: message.ReceiptHandle ?? '',
    body: message.Body ?? '',
    attributes: {
      ApproximateReceiveCount: attributes.ApproximateReceiveCount ?? '1',
      SentTimestamp: attributes.SentTimestamp ?? String(Date.now()),
      SenderId: attributes.SenderId ?? 'local',
      ApproximateFirstReceiveTimestamp: attributes.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
    },
    messageAttributes: {},
    md5OfBody: message.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: region,
  };
}

/** A Lambda context as the runtime passes it (enough of it for Powertools). */
export function lambdaContext(functionName: string, timeoutMs = 60_000): Context {
  const started = Date.now();
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, timeoutMs - (Date.now() - started)),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

/** Options of {@link EventSourceMapping}. */
export interface EventSourceMappingOptions {
  readonly sqs: SQSClient;
  readonly queueUrl: string;
  readonly queueArn: string;
  readonly functionName: string;
  readonly handler: SqsHandler;
  /** Messages per invocation (1–10). @default 10 */
  readonly batchSize?: number;
  /** Invocations in flight. @default 1 */
  readonly concurrency?: number;
  /**
   * `WaitTimeSeconds` of each receive. local-aws-sqs, unlike SQS, holds a receive open until the batch is full or
   * the wait is over (then 40 ms), and can even return a message twice in one batch when its visibility timeout
   * runs out meanwhile: 0 makes it answer within 40 ms. @default 0
   */
  readonly waitTimeSeconds?: number;
  /** @default 'us-east-1' */
  readonly region?: string;
}

/** Counts of what a mapping did. */
export interface MappingStats {
  invocations: number;
  records: number;
  /** Records reported in `batchItemFailures`, or in a batch whose handler threw. */
  failures: number;
  /** Message ids reported as failed, in order. */
  failedIds: string[];
  handlerErrors: number;
}

/**
 * An SQS event source mapping with `ReportBatchItemFailures`: receives up to `batchSize` messages (with their
 * system attributes), invokes the handler with the SQS event, and deletes the messages that are not in the
 * response's `batchItemFailures`; a handler that throws leaves the whole batch to come back.
 */
export class EventSourceMapping {
  readonly stats: MappingStats = { invocations: 0, records: 0, failures: 0, failedIds: [], handlerErrors: 0 };
  readonly #options: EventSourceMappingOptions;
  readonly #loops: Promise<void>[] = [];
  #running = false;
  #busy = 0;

  constructor(options: EventSourceMappingOptions) {
    this.#options = options;
  }

  /** True while a handler runs. */
  get busy(): boolean {
    return this.#busy > 0;
  }

  start(): this {
    this.#running = true;
    for (let index = 0; index < (this.#options.concurrency ?? 1); index++) this.#loops.push(this.#loop());
    return this;
  }

  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#loops.splice(0));
  }

  async #loop(): Promise<void> {
    const { sqs, queueUrl, queueArn } = this.#options;
    while (this.#running) {
      const received = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: this.#options.batchSize ?? 10,
          WaitTimeSeconds: this.#options.waitTimeSeconds ?? 0,
          AttributeNames: ['All'],
        }),
      );
      const messages = received.Messages ?? [];
      if (messages.length === 0) continue;
      this.#busy++;
      try {
        await this.#invoke(messages, (message) => sqsRecord(message, queueArn, this.#options.region ?? 'us-east-1'));
      } finally {
        this.#busy--;
      }
    }
  }

  async #invoke(messages: readonly Message[], toRecord: (message: Message) => SQSRecord): Promise<void> {
    const { sqs, queueUrl, handler, functionName } = this.#options;
    const event: SQSEvent = { Records: messages.map(toRecord) };
    this.stats.invocations++;
    this.stats.records += messages.length;
    let failed: Set<string>;
    try {
      const response = await handler(event, lambdaContext(functionName));
      failed = new Set(response.batchItemFailures.map((failure) => failure.itemIdentifier));
    } catch {
      this.stats.handlerErrors++;
      failed = new Set(messages.map((message) => message.MessageId ?? ''));
    }
    this.stats.failures += failed.size;
    this.stats.failedIds.push(...failed);
    const done = messages.filter((message) => !failed.has(message.MessageId ?? ''));
    if (done.length === 0) return;
    const output = await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: done.map((message, index) => ({ Id: String(index), ReceiptHandle: message.ReceiptHandle })),
      }),
    );
    if (output.Failed && output.Failed.length > 0) throw new Error(`DeleteMessageBatch failed: ${JSON.stringify(output.Failed)}`);
  }
}

/** Starts an {@link EventSourceMapping} that feeds `queue`'s messages to `handler`, as function `functionName`. */
export function startMapping(
  sqs: SQSClient,
  queue: { readonly url: string; readonly arn: string },
  functionName: string,
  handler: SqsHandler,
  options: Pick<EventSourceMappingOptions, 'batchSize' | 'concurrency' | 'waitTimeSeconds' | 'region'> = {},
): EventSourceMapping {
  return new EventSourceMapping({ sqs, queueUrl: queue.url, queueArn: queue.arn, functionName, handler, ...options }).start();
}

/** An object key as S3 writes it into event notifications: URL-encoded, `/` kept, spaces as `+`. */
export function encodeS3EventKey(key: string): string {
  return encodeURIComponent(key).replace(/%2F/g, '/').replace(/%20/g, '+');
}

/**
 * The bucket notification of the stack: every ObjectCreated event for a key under `prefix` becomes one SQS
 * message whose body is the S3 event notification, key URL-encoded as S3 sends it. Returns a function that
 * stops relaying and waits for the messages in flight.
 */
export function relayObjectCreated(
  events: EventEmitter,
  sqs: SQSClient,
  queueUrl: string,
  prefix: string,
): { stop(): Promise<void>; readonly relayed: number; readonly errors: unknown[] } {
  const inFlight = new Set<Promise<void>>();
  const errors: unknown[] = [];
  let relayed = 0;
  const listener = (notification: S3EventNotification) => {
    for (const record of notification.Records) {
      if (!record.eventName.startsWith('ObjectCreated') || !record.s3.object.key.startsWith(prefix)) continue;
      const body = JSON.stringify({
        Records: [
          { ...record, s3: { ...record.s3, object: { ...record.s3.object, key: encodeS3EventKey(record.s3.object.key) } } },
        ],
      });
      const sending = sqs
        .send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body }))
        .then(() => {
          relayed++;
        })
        .catch((error: unknown) => {
          errors.push(error);
        })
        .finally(() => inFlight.delete(sending));
      inFlight.add(sending);
    }
  };
  events.on('event', listener);
  return {
    async stop() {
      events.off('event', listener);
      await Promise.all(inFlight);
    },
    get relayed() {
      return relayed;
    },
    errors,
  };
}
