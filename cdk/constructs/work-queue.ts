import { Duration } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { PropsValidator, secondsOf } from './validation.js';

/** AWS's guidance for SQS event sources: a visibility timeout of at least six times the function timeout. */
export const VISIBILITY_TIMEOUT_FACTOR = 6;

/** Longest timeout of a dead-letter inbox's consumer: the inbox's visibility timeout is 6 × this. */
export const DEAD_LETTER_CONSUMER_TIMEOUT_SECONDS = 120;

/** Properties of {@link WorkQueue}. */
export interface WorkQueueProps {
  /**
   * Timeout of the function that will consume the queue: the visibility timeout derives from it, and
   * {@link WorkQueue.addConsumer} refuses a function with a longer one.
   */
  readonly consumerTimeout: Duration;
  /** How long a received message stays invisible; at least 6 × `consumerTimeout`, at most 12 hours. @default 6 × consumerTimeout */
  readonly visibilityTimeout?: Duration;
  /** Receives before a message moves to the dead-letter queue. @default 5 */
  readonly maxReceiveCount?: number;
  /** How long an unconsumed message is kept. @default Duration.days(4) */
  readonly retentionPeriod?: Duration;
  /**
   * How long a dead letter is kept. Longer than `retentionPeriod`: a standard queue's dead letters keep the age they
   * had in the source queue.
   * @default Duration.days(14)
   */
  readonly deadLetterRetentionPeriod?: Duration;
  /**
   * Put a dead-letter inbox between the queue and its dead-letter queue: the queue's redrive policy moves messages
   * there, a dead-letter stage consumes it ({@link addDeadLetterConsumer}: it settles what each message stands for and
   * sends it on to {@link deadLetterQueue}), and the inbox's own redrive policy moves a message the stage cannot
   * settle to the dead-letter queue after `maxReceiveCount` receives, so nothing is lost either way.
   * @default false (the queue dead-letters straight into {@link deadLetterQueue})
   */
  readonly deadLetterInbox?: boolean;
}

/** A function that consumes a {@link WorkQueue}: its timeout is checked against the visibility timeout. */
export interface WorkQueueConsumer {
  readonly function: lambda.IFunction;
  readonly timeout: Duration;
}

/** How a consumer receives messages. */
export interface WorkQueueConsumerOptions {
  /** Messages per invocation (up to 10; up to 10,000 with a batching window). @default 10 */
  readonly batchSize?: number;
  /** How long Lambda gathers messages before invoking with a partial batch (0–300 s). @default no window */
  readonly maxBatchingWindow?: Duration;
  /** Concurrent invocations this event source may start (2–1,000). @default 2 */
  readonly maxConcurrency?: number;
}

/**
 * An SQS queue with its dead-letter queue: server-side encryption with SQS-managed keys (S3 event notifications
 * and EventBridge Scheduler can send to it without a key policy), TLS-only access, a redrive policy, and a
 * visibility timeout derived from the consumer's timeout. Consumers get partial batch responses.
 */
export class WorkQueue extends Construct {
  /** The queue. */
  readonly queue: sqs.Queue;
  /**
   * Where dead letters are kept for inspection and redrive: messages go there after `maxReceiveCount` receives, or,
   * with a dead-letter inbox, after the dead-letter stage settled them.
   */
  readonly deadLetterQueue: sqs.Queue;
  /** Between the queue and {@link deadLetterQueue}, consumed by the dead-letter stage; only with `deadLetterInbox`. */
  readonly deadLetterInbox?: sqs.Queue;
  /** The visibility timeout of {@link queue}. */
  readonly visibilityTimeout: Duration;
  /** Receives before a message of {@link queue} is dead-lettered. */
  readonly maxReceiveCount: number;
  readonly #consumerTimeout: Duration;
  readonly #eventSources: SqsEventSource[] = [];

  /** Event sources added by {@link addConsumer}. */
  get eventSources(): readonly SqsEventSource[] {
    return this.#eventSources;
  }

  constructor(scope: Construct, id: string, props: WorkQueueProps) {
    super(scope, id);
    const consumerSeconds = secondsOf(props.consumerTimeout);
    const visibilityTimeout =
      props.visibilityTimeout ?? Duration.seconds(Math.ceil((consumerSeconds ?? 0) * VISIBILITY_TIMEOUT_FACTOR));
    const retentionPeriod = props.retentionPeriod ?? Duration.days(4);
    const deadLetterRetentionPeriod = props.deadLetterRetentionPeriod ?? Duration.days(14);

    const validator = new PropsValidator(`WorkQueue (${id})`);
    validator.duration('consumerTimeout', props.consumerTimeout, 1, 900);
    validator.check(
      consumerSeconds !== undefined || props.visibilityTimeout !== undefined,
      'visibilityTimeout is required when consumerTimeout is a token',
    );
    validator.duration('visibilityTimeout', visibilityTimeout, 0, 43_200);
    const visibilitySeconds = secondsOf(visibilityTimeout);
    if (consumerSeconds !== undefined && visibilitySeconds !== undefined) {
      validator.check(
        visibilitySeconds >= consumerSeconds * VISIBILITY_TIMEOUT_FACTOR,
        `visibilityTimeout must be at least ${VISIBILITY_TIMEOUT_FACTOR} × consumerTimeout (${consumerSeconds * VISIBILITY_TIMEOUT_FACTOR} s), got ${visibilitySeconds} s`,
      );
    }
    validator.integer('maxReceiveCount', props.maxReceiveCount, 1, 1000);
    validator.duration('retentionPeriod', retentionPeriod, 60, 1_209_600);
    validator.duration('deadLetterRetentionPeriod', deadLetterRetentionPeriod, 60, 1_209_600);
    const retentionSeconds = secondsOf(retentionPeriod);
    const deadLetterSeconds = secondsOf(deadLetterRetentionPeriod);
    if (retentionSeconds !== undefined && deadLetterSeconds !== undefined) {
      validator.check(
        deadLetterSeconds > retentionSeconds,
        `deadLetterRetentionPeriod must be longer than retentionPeriod (${retentionSeconds} s), got ${deadLetterSeconds} s`,
      );
    }
    validator.throwIfInvalid();

    this.#consumerTimeout = props.consumerTimeout;
    this.visibilityTimeout = visibilityTimeout;
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: deadLetterRetentionPeriod,
    });
    const maxReceiveCount = props.maxReceiveCount ?? 5;
    this.maxReceiveCount = maxReceiveCount;
    if (props.deadLetterInbox) {
      this.deadLetterInbox = new sqs.Queue(this, 'DeadLetterInbox', {
        encryption: sqs.QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        // Dead letters of a standard queue keep their age: the inbox keeps them as long as the dead-letter queue.
        retentionPeriod: deadLetterRetentionPeriod,
        visibilityTimeout: Duration.seconds(DEAD_LETTER_CONSUMER_TIMEOUT_SECONDS * VISIBILITY_TIMEOUT_FACTOR),
        deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount },
      });
    }
    this.queue = new sqs.Queue(this, 'Queue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout,
      retentionPeriod,
      deadLetterQueue: { queue: this.deadLetterInbox ?? this.deadLetterQueue, maxReceiveCount },
    });
  }

  /**
   * Makes `consumer` consume the queue with partial batch responses (`reportBatchItemFailures`), which also grants it
   * the right to receive, delete and change the visibility of messages.
   *
   * @throws {PropsValidationError} listing every problem with the options or the consumer's timeout
   */
  addConsumer(consumer: WorkQueueConsumer, options: WorkQueueConsumerOptions = {}): SqsEventSource {
    const batchSize = options.batchSize ?? 10;
    const maxConcurrency = options.maxConcurrency ?? 2;
    const validator = new PropsValidator(`WorkQueue (${this.node.id}) consumer ${consumer.function.node.path}`);
    const windowSeconds = options.maxBatchingWindow ? secondsOf(options.maxBatchingWindow) : 0;
    validator.integer('batchSize', batchSize, 1, windowSeconds ? 10_000 : 10);
    validator.duration('maxBatchingWindow', options.maxBatchingWindow, 0, 300);
    validator.integer('maxConcurrency', maxConcurrency, 2, 1000);
    const consumerSeconds = secondsOf(consumer.timeout);
    const allowedSeconds = secondsOf(this.#consumerTimeout);
    const visibilitySeconds = secondsOf(this.visibilityTimeout);
    if (consumerSeconds !== undefined && allowedSeconds !== undefined && visibilitySeconds !== undefined) {
      validator.check(
        consumerSeconds <= allowedSeconds && consumerSeconds * VISIBILITY_TIMEOUT_FACTOR <= visibilitySeconds,
        `the consumer's timeout (${consumerSeconds} s) must be at most consumerTimeout (${allowedSeconds} s) and ${VISIBILITY_TIMEOUT_FACTOR} × it at most the visibility timeout (${visibilitySeconds} s)`,
      );
    }
    validator.throwIfInvalid();

    const source = new SqsEventSource(this.queue, {
      batchSize,
      maxBatchingWindow: options.maxBatchingWindow,
      maxConcurrency,
      reportBatchItemFailures: true,
    });
    consumer.function.addEventSource(source);
    this.#eventSources.push(source);
    return source;
  }

  /**
   * Makes `consumer` (the dead-letter stage) consume the dead-letter inbox, with partial batch responses.
   *
   * @throws {PropsValidationError} when the queue has no inbox, or the consumer's timeout is too long for it
   */
  addDeadLetterConsumer(consumer: WorkQueueConsumer, options: Pick<WorkQueueConsumerOptions, 'batchSize'> = {}): SqsEventSource {
    const validator = new PropsValidator(`WorkQueue (${this.node.id}) dead-letter consumer ${consumer.function.node.path}`);
    validator.check(this.deadLetterInbox !== undefined, 'the queue has no dead-letter inbox (deadLetterInbox: true)');
    const consumerSeconds = secondsOf(consumer.timeout);
    validator.check(
      consumerSeconds === undefined || consumerSeconds <= DEAD_LETTER_CONSUMER_TIMEOUT_SECONDS,
      `the consumer's timeout (${consumerSeconds} s) must be at most ${DEAD_LETTER_CONSUMER_TIMEOUT_SECONDS} s`,
    );
    validator.integer('batchSize', options.batchSize, 1, 10);
    validator.throwIfInvalid();
    const source = new SqsEventSource(this.deadLetterInbox as sqs.Queue, {
      batchSize: options.batchSize ?? 10,
      reportBatchItemFailures: true,
    });
    consumer.function.addEventSource(source);
    this.#eventSources.push(source);
    return source;
  }
}
