import { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, Metrics as PowertoolsMetrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { clientConfig } from '../../shared/aws/client-config.js';
import { DynamoStateStore } from '../../shared/aws/dynamo-state-store.js';
import { EventBridgeRunEvents } from '../../shared/aws/run-events.js';
import { S3ObjectStore } from '../../shared/aws/s3-object-store.js';
import { SqsQueue } from '../../shared/aws/sqs-queue.js';
import type { SqsHandler } from '../../shared/handlers.js';
import { type BundledJob, resolveBundledJobs } from '../../shared/job/bundled.js';
import type { Job } from '../../shared/job/schema.js';
import { METRICS } from '../../shared/metrics.js';
import { createContext, jobRegistry, type PipelineContext, type PipelineSettings } from '../../shared/pipeline/context.js';
import { StateHostGate } from '../../shared/pipeline/politeness.js';
import type { SecretReader } from '../../shared/pipeline/secrets.js';
import {
  type HttpClient,
  type Log,
  type Metrics,
  noRunEvents,
  type PageExtractor,
  type Queue,
  type RunEvents,
  systemClock,
} from '../../shared/ports.js';
import type { FunctionStage } from '../../shared/stages.js';
import type { FunctionConfig } from './config.js';
import { boundedByInvocation, withinInvocation } from './deadline.js';
import { UnavailablePortError } from './errors.js';
import { bundledJobs } from './jobs.generated.js';

/** Options of {@link createFunctionRuntime}. */
export interface FunctionRuntimeOptions {
  readonly stage: FunctionStage;
  /** The function's configuration; a queue it was not configured with throws when used. */
  readonly config: FunctionConfig<'bucket' | 'table'> &
    Partial<FunctionConfig<'fetchQueue' | 'parseQueue' | 'eventBus' | 'fleetSize'>>;
  /** Only the fetcher fetches: without one, fetching throws. */
  readonly http?: HttpClient;
  /** Only the parser extracts (on the invocation's thread): without one, extracting throws and no HTML library is bundled. */
  readonly extractor?: PageExtractor;
  /** Only the fetcher reads the secrets jobs name: without a reader, a page whose request names one fails. */
  readonly secrets?: SecretReader;
  /**
   * @default clients created once from the environment (`AWS_REGION`, `AWS_ENDPOINT_URL_*`): S3 and DynamoDB at cold
   * start, SQS when the first message is sent (a function that sends on every invocation passes its own, created at
   * cold start)
   */
  readonly clients?: Partial<FunctionClients>;
  /** @default a Powertools Logger with the configured service name and level */
  readonly logger?: Logger;
  /** @default Powertools Metrics in the configured namespace, dimension `stage` */
  readonly metrics?: PowertoolsMetrics;
  /** @default the jobs bundled into the function (`jobs.generated.ts`) */
  readonly jobs?: readonly BundledJob[];
  /** Pipeline tunables. @default the pipeline's defaults */
  readonly settings?: Partial<PipelineSettings>;
  /**
   * AWS requests still under way when an invocation has this long left are aborted (their records fail alone), and
   * requests started later must end 1 s before the timeout, so that the handler returns in time. @default 3000
   */
  readonly requestCutoffMs?: number;
}

/**
 * The SDK clients of a function. Only the packages a function uses on every invocation are loaded at cold start
 * (S3 and DynamoDB in all of them, SQS in those that send); EventBridge is loaded when a run finishes.
 */
export interface FunctionClients {
  readonly s3: S3Client;
  readonly dynamodb: DynamoDBClient;
  /** A client, or one created (and its package loaded) when the first message is sent. */
  readonly sqs: Pick<SQSClient, 'send'>;
}

/** What a function's module scope holds: the pipeline over the cloud adapters, and its instruments. */
export interface FunctionRuntime {
  readonly pipeline: PipelineContext;
  readonly clients: FunctionClients;
  readonly logger: Logger;
  readonly metrics: PowertoolsMetrics;
  /**
   * Wraps a handler: Lambda context in the logs, AWS requests cut before the function's timeout, per-invocation
   * record counts, metrics flushed after each call.
   */
  instrument(handler: SqsHandler): SqsHandler;
}

/**
 * The bundled jobs (validated at synth, embedded as JSON) as a list, with their code extractors; refuses two jobs
 * with one name. Nothing is validated again at cold start: the job schema does not travel in the bundles.
 *
 * @throws {JobValidationError} naming the job file
 */
export function loadBundledJobs(bundled: readonly BundledJob[]): Job[] {
  return resolveBundledJobs(bundled);
}

/** A queue for a function that has none: using it is a wiring bug, reported as such. */
export function unavailableQueue(stage: FunctionStage, queue: string, variable: string): Queue {
  return {
    send: async () => {
      throw new UnavailablePortError(`the ${stage} has no ${queue} queue (its configuration has no ${variable})`);
    },
  };
}

/** Where a function announces finished runs: the configured event bus, else nowhere (the parser never finishes runs). */
function runEvents(stage: FunctionStage, eventBus: string | undefined, region: string): RunEvents {
  if (stage === 'parser') return unavailableEvents(stage);
  if (eventBus === undefined) return noRunEvents;
  return new EventBridgeRunEvents({ region, eventBusName: eventBus });
}

/** An SQS client created, and its package loaded, when the first message is sent. */
export function lazySqsClient(region: string): Pick<SQSClient, 'send'> {
  let client: Promise<SQSClient> | undefined;
  const send = async (command: Parameters<SQSClient['send']>[0], options?: Parameters<SQSClient['send']>[1]) => {
    client ??= import('@aws-sdk/client-sqs').then(({ SQSClient }) => new SQSClient(clientConfig('sqs', { region })));
    return (await client).send(command, options);
  };
  return { send: send as SQSClient['send'] };
}

/** Run events for a function that never finishes runs: using them is a wiring error, said loudly. */
export function unavailableEvents(stage: FunctionStage): RunEvents {
  return {
    runFinished: async (event) => {
      throw new UnavailablePortError(`the ${stage} does not announce finished runs (asked for ${event.runId})`);
    },
  };
}

/** An HTTP client for a function that does not fetch. */
export function unavailableHttp(stage: FunctionStage): HttpClient {
  return {
    fetchPage: async (url) => {
      throw new UnavailablePortError(`the ${stage} does not fetch pages (asked for ${url})`);
    },
    close: async () => {},
  };
}

/**
 * The `Log` port over a Powertools Logger. (The Logger's methods take `...extraInput: [Error | string] |
 * LogAttributes[]`, which an optional `attributes` parameter is not assignable to, so it is adapted, not cast.)
 */
export function logPort(logger: Logger): Log {
  const level =
    (method: 'debug' | 'info' | 'warn' | 'error') =>
    (message: string, attributes?: Record<string, unknown>): void => {
      if (attributes === undefined) logger[method](message);
      else logger[method](message, attributes);
    };
  return { debug: level('debug'), info: level('info'), warn: level('warn'), error: level('error') };
}

/** The `Metrics` port over Powertools Metrics: counts are buffered and published with the invocation's. */
export function metricsPort(metrics: PowertoolsMetrics): Metrics {
  return { count: (name, value = 1) => metrics.addMetric(name, MetricUnit.Count, value) };
}

/**
 * Wraps an SQS handler: adds the Lambda context to the logs, aborts the AWS requests still under way
 * `requestCutoffMs` before the function's timeout (see ./deadline.ts), counts the records processed and failed, and
 * publishes the invocation's metrics when it ends, whether it returned or threw.
 */
export function instrumentHandler(
  handler: SqsHandler,
  logger: Logger,
  metrics: PowertoolsMetrics,
  requestCutoffMs = 3000,
): SqsHandler {
  return async (event, lambdaContext?: Context) => {
    if (lambdaContext) logger.addContext(lambdaContext);
    metrics.captureColdStartMetric(lambdaContext?.functionName);
    const total = event.Records.length;
    let failed = total;
    try {
      const response = await withinInvocation(lambdaContext, requestCutoffMs, () => handler(event, lambdaContext));
      failed = new Set(response.batchItemFailures.map((failure) => failure.itemIdentifier)).size;
      return response;
    } finally {
      metrics.addMetric(METRICS.recordsProcessed, MetricUnit.Count, total - failed);
      metrics.addMetric(METRICS.recordsFailed, MetricUnit.Count, failed);
      metrics.publishStoredMetrics();
    }
  };
}

/**
 * Builds a function's runtime at cold start: SDK clients (once), the cloud adapters, the bundled jobs (validated at synth),
 * a Powertools Logger as the pipeline's log and Powertools Metrics.
 *
 * @example
 * const config = loadConfig(['bucket', 'table', 'fetchQueue']);
 * const runtime = createFunctionRuntime({ stage: 'parser', config });
 * export const handler = runtime.instrument(createParserHandler(runtime.pipeline));
 */
export function createFunctionRuntime(options: FunctionRuntimeOptions): FunctionRuntime {
  const { stage, config } = options;
  const logger =
    options.logger ??
    new Logger({
      ...(config.serviceName === undefined ? {} : { serviceName: config.serviceName }),
      ...(config.logLevel === undefined ? {} : { logLevel: config.logLevel }),
      persistentKeys: { stage },
    });
  const metrics =
    options.metrics ??
    new PowertoolsMetrics({
      namespace: config.metricsNamespace,
      ...(config.serviceName === undefined ? {} : { serviceName: config.serviceName }),
      defaultDimensions: { stage },
    });
  // Bounded: no request outlives the invocation that made it (see ./deadline.ts).
  const clients: FunctionClients = {
    s3: boundedByInvocation(options.clients?.s3 ?? new S3Client(clientConfig('s3', { region: config.region }))),
    dynamodb: boundedByInvocation(
      options.clients?.dynamodb ?? new DynamoDBClient(clientConfig('dynamodb', { region: config.region })),
    ),
    sqs: boundedByInvocation(options.clients?.sqs ?? lazySqsClient(config.region)),
  };
  const queue = (url: string | undefined, name: string, variable: string): Queue =>
    url === undefined ? unavailableQueue(stage, name, variable) : new SqsQueue({ client: clients.sqs, queueUrl: url });
  const state = new DynamoStateStore({ client: clients.dynamodb, tableName: config.table });
  const pipeline = createContext({
    jobs: jobRegistry(loadBundledJobs(options.jobs ?? bundledJobs)),
    store: new S3ObjectStore({ client: clients.s3, bucket: config.bucket }),
    state,
    fetchQueue: queue(config.fetchQueue, 'fetch', 'FETCH_QUEUE_URL'),
    parseQueue: queue(config.parseQueue, 'parse', 'PARSE_QUEUE_URL'),
    http: options.http ?? unavailableHttp(stage),
    ...(options.extractor === undefined ? {} : { extractor: options.extractor }),
    ...(options.secrets === undefined ? {} : { secrets: options.secrets }),
    // Many fetcher instances run at once: per-host start slots are booked in the state table, shared by all of them
    // (one conditional write per start, none on release; hosts with minDelayMs 0 cost nothing).
    hosts: new StateHostGate(state, {
      clock: systemClock,
      ...(config.fleetSize === undefined ? {} : { fleetSize: config.fleetSize }),
    }),
    clock: systemClock,
    log: logPort(logger),
    metrics: metricsPort(metrics),
    events: runEvents(stage, config.eventBus, config.region),
    settings: { memoryMb: config.memoryMb, ...options.settings },
  });
  return {
    pipeline,
    clients,
    logger,
    metrics,
    instrument: (handler) => instrumentHandler(handler, logger, metrics, options.requestCutoffMs),
  };
}
