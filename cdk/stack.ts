import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import type { LogLevel } from '../functions/commons/config.js';
import type { Job } from '../shared/job/schema.js';
import { layout } from '../shared/layout.js';
import { METRICS, METRICS_NAMESPACE } from '../shared/metrics.js';
import { FUNCTION_STAGES, type FunctionStage } from '../shared/stages.js';
import { Analytics, type AnalyticsProps } from './constructs/analytics.js';
import { ScrapelineFunction } from './constructs/function.js';
import { ScrapelineMonitoring } from './constructs/monitoring.js';
import { JobSchedules } from './constructs/schedules.js';
import { JobSecrets } from './constructs/secrets.js';
import { StateTable } from './constructs/state.js';
import { ScrapelineStorage } from './constructs/storage.js';
import { PropsValidator, secondsOf } from './constructs/validation.js';
import { WorkQueue } from './constructs/work-queue.js';

/** Sizing of one pipeline stage: its function and how it consumes its queue. */
export interface StageSettings {
  /** Memory of the function in MB. */
  readonly memorySize?: number;
  /** Timeout of the function; the queue's visibility timeout is 6 × this. */
  readonly timeout?: Duration;
  /** Messages per invocation (up to 10; up to 10,000 with `maxBatchingWindow`). */
  readonly batchSize?: number;
  /** How long Lambda gathers messages to fill a batch. */
  readonly maxBatchingWindow?: Duration;
  /** Concurrent invocations the queue may start (2–1,000). */
  readonly maxConcurrency?: number;
}

/**
 * The defaults of each stage. Large batches, gathered for a few seconds, make one raw archive object per fetch
 * batch and one records object (hence one dataset object) per parse batch: about 100 pages per object, which keeps
 * S3 PUTs per page and the objects Athena opens low. Lambda accepts up to 10,000 messages per SQS batch with a
 * batching window. Parse tasks are gathered for 20 s: a fetch-bound crawl fills a batch of 100 in well under that,
 * and a polite host (4 pages a second) still makes objects of about 80 pages rather than 20; the window delays the
 * last pages of a run by as much. The fetch window stays 5 s: a task handed back with a booked start is sent to
 * arrive that much (and a second) before it (shared/pipeline/politeness.ts, `SLOT_LEAD_MS`).
 *
 * The fetcher's batch is what one invocation can fetch within its timeout: 100 pages take ~25 s on a polite single
 * host (2 in flight, 250 ms apart) and a few seconds spread over many hosts (the batch's records run concurrently).
 * Its deadline guard (shared/handlers.ts) stops starting fetches before the timeout and hands the rest back, so a
 * slower batch is never refetched whole.
 *
 * The fetcher's concurrency is 2 (the least SQS allows) for cost, not politeness: the politeness gate is fleet-wide
 * (StateHostGate books each host's starts in the state table), so any number of fetchers keeps `perHostConcurrency`
 * and `minDelayMs`. But a host's pages come no faster than its politeness allows whatever the fleet, and one
 * invocation already fetches its whole batch concurrently across hosts, so more fetchers on a polite crawl mostly
 * wait in the gate (billed) or hand tasks back to the queue; and each fetcher takes `floor(concurrency / FLEET_SIZE)`
 * of an undelayed host's slots without a state request, so a larger fleet books more hosts through the table. Raise
 * it for crawls over many hosts whose batches are bounded by one invocation's time.
 *
 * The parser writes one records object per batch; 100 pages (extraction, link acceptance) fit well in 2 minutes. The
 * post-processor gets one S3 notification per records object: 5 of them are 500 pages per invocation.
 */
export const STAGE_DEFAULTS = {
  fetcher: {
    memorySize: 512,
    timeout: Duration.minutes(5),
    batchSize: 100,
    maxBatchingWindow: Duration.seconds(5),
    maxConcurrency: 2,
  },
  parser: {
    memorySize: 1024,
    timeout: Duration.minutes(2),
    batchSize: 100,
    maxBatchingWindow: Duration.seconds(20),
    maxConcurrency: 10,
  },
  postprocessor: {
    memorySize: 512,
    timeout: Duration.minutes(5),
    batchSize: 5,
    maxBatchingWindow: Duration.seconds(10),
    maxConcurrency: 5,
  },
} as const satisfies Record<string, Required<StageSettings>>;

/**
 * Key prefixes of the bucket (shared/layout.ts) each stage reads and writes. A run is finished
 * (shared/pipeline/finalize.ts: manifest and failures under runs/, removed items under changes/, the current-state
 * snapshot under current/) by whichever stage completes its last URL: the post-processor, the fetcher (a run that
 * started empty), the dead-letter stage or the watchdog.
 */
const RUN_FINISH_PREFIXES = ['runs/', 'changes/', 'current/', layout.scratchPrefix] as const;
/**
 * What finishing a run reads: the key lists of pages too large for their state items (`runs/…/pages/`) and the
 * scratch a large run's finalization writes and reads back.
 */
const RUN_FINISH_READS = ['runs/', layout.scratchPrefix] as const;
export const BUCKET_ACCESS = {
  // The fetcher writes records/ for pages that end without a parse (unchanged, failed, skipped, sitemaps), and reads
  // an unchanged page's links from its page lists when they were too large for its memory item.
  fetcher: { read: RUN_FINISH_READS, write: ['raw/', layout.recordsPrefix, ...RUN_FINISH_PREFIXES] },
  parser: { read: ['raw/'], write: [layout.recordsPrefix] },
  // The post-processor also writes each batch's new and changed items under changes/, and large pages' lists under runs/.
  postprocessor: {
    read: [layout.recordsPrefix, ...RUN_FINISH_READS],
    write: ['datasets/', 'quarantine/', ...RUN_FINISH_PREFIXES],
  },
  // The dead-letter stage reads a dead-lettered records object to learn its pages, and may finish their run.
  deadletters: { read: [layout.recordsPrefix, ...RUN_FINISH_READS], write: RUN_FINISH_PREFIXES },
  watchdog: { read: RUN_FINISH_READS, write: RUN_FINISH_PREFIXES },
} as const satisfies Record<FunctionStage, { read: readonly string[]; write: readonly string[] }>;

/** The settings of each stage, defaults applied. */
type StageSettingsOf = Readonly<Record<'fetcher' | 'parser' | 'postprocessor', StageSettings>>;

/** Properties of {@link ScrapelineStack}. */
export interface ScrapelineStackProps extends StackProps {
  /** The validated jobs (from `loadJobs('jobs')`); each job with a `schedule` gets an EventBridge schedule. */
  readonly jobs: readonly Job[];
  /** `POWERTOOLS_SERVICE_NAME` of the functions: the `service` of log lines and metrics. @default the stack name */
  readonly serviceName?: string;
  /** `LOG_LEVEL` of the functions. @default 'INFO' */
  readonly logLevel?: LogLevel;
  /** Retention of the functions' log groups. @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /** Days the raw archive (`raw/`) is kept. @default 30 */
  readonly rawRetentionDays?: number;
  /** Receives of a message before it is dead-lettered, on every queue. @default 5 */
  readonly maxReceiveCount?: number;
  /**
   * Minutes a run may go without progress before the watchdog (every 5 minutes) ends it `stalled`. Longer than any
   * legitimate quiet time: the 15-minute SQS delay of deferred fetches and the visibility timeout of every queue (a
   * crashed invocation's messages come back only after it). @default 60
   */
  readonly stallAfterMinutes?: number;
  /** Fetcher sizing. @default STAGE_DEFAULTS.fetcher */
  readonly fetcher?: StageSettings;
  /** Parser sizing. @default STAGE_DEFAULTS.parser */
  readonly parser?: StageSettings;
  /** Post-processor sizing. @default STAGE_DEFAULTS.postprocessor */
  readonly postprocessor?: StageSettings;
  /**
   * ARN of an SNS topic the alarms notify (it must let CloudWatch publish; an encrypted topic needs a customer
   * managed key that CloudWatch may use). @default no notification
   */
  readonly alarmTopicArn?: string;
  /** Folder holding `functions/`, `package.json` and `package-lock.json`. @default the repository root */
  readonly projectRoot?: string;
  /** Athena: per-query scan cutoff, result retention, first projected day. @default the defaults of {@link Analytics} */
  readonly analytics?: Pick<AnalyticsProps, 'bytesScannedCutoffPerQuery' | 'resultsRetentionDays' | 'projectionStart'>;
}

/**
 * Scrapeline on AWS: the pipeline bucket, the state table, the fetch, parse and post-processing queues with their
 * dead-letter queues, the three functions, one schedule per scheduled job, alarms and a dashboard.
 */
export class ScrapelineStack extends Stack {
  readonly storage: ScrapelineStorage;
  readonly state: StateTable;
  readonly fetchQueue: WorkQueue;
  readonly parseQueue: WorkQueue;
  readonly postprocessQueue: WorkQueue;
  readonly fetcher: ScrapelineFunction;
  /** The fetcher's read access to the secrets the jobs name. */
  readonly secrets: JobSecrets;
  readonly parser: ScrapelineFunction;
  readonly postprocessor: ScrapelineFunction;
  readonly schedules: JobSchedules;
  readonly monitoring: ScrapelineMonitoring;
  readonly analytics: Analytics;
  /** The dead-letter stage: settles what the stage queues' dead letters stand for, then keeps them for redrive. */
  readonly deadLetters: ScrapelineFunction;
  /** Ends runs that stopped moving (`stalled`), every 5 minutes. */
  readonly watchdog: ScrapelineFunction;
  /** The schedule of the watchdog. */
  readonly watchdogSchedule: events.Rule;

  constructor(scope: Construct, id: string, props: ScrapelineStackProps) {
    super(scope, id, props);
    const serviceName = props.serviceName ?? this.stackName;
    const stages = {
      fetcher: { ...STAGE_DEFAULTS.fetcher, ...props.fetcher },
      parser: { ...STAGE_DEFAULTS.parser, ...props.parser },
      postprocessor: { ...STAGE_DEFAULTS.postprocessor, ...props.postprocessor },
    };

    this.fetchQueue = new WorkQueue(this, 'FetchQueue', {
      consumerTimeout: stages.fetcher.timeout,
      maxReceiveCount: props.maxReceiveCount,
      deadLetterInbox: true,
    });
    this.parseQueue = new WorkQueue(this, 'ParseQueue', {
      consumerTimeout: stages.parser.timeout,
      maxReceiveCount: props.maxReceiveCount,
      deadLetterInbox: true,
    });
    this.postprocessQueue = new WorkQueue(this, 'PostprocessQueue', {
      consumerTimeout: stages.postprocessor.timeout,
      maxReceiveCount: props.maxReceiveCount,
      deadLetterInbox: true,
    });
    const stallAfterMinutes = this.#validate(id, props);
    this.storage = new ScrapelineStorage(this, 'Storage', {
      recordsQueue: this.postprocessQueue.queue,
      recordsPrefix: layout.recordsPrefix,
      rawPrefix: 'raw/',
      scratchPrefix: layout.scratchPrefix,
      rawRetentionDays: props.rawRetentionDays,
    });
    this.state = new StateTable(this, 'State');

    const functions = this.#createFunctions(props, serviceName, stages, stallAfterMinutes);
    this.fetcher = functions.fetcher;
    this.parser = functions.parser;
    this.postprocessor = functions.postprocessor;
    this.deadLetters = functions.deadLetters;
    this.watchdog = functions.watchdog;
    this.secrets = this.#grantAccess(props, stages);
    this.watchdogSchedule = new events.Rule(this, 'WatchdogSchedule', {
      description: 'Runs the scrapeline watchdog, which ends runs that stopped moving as stalled',
      schedule: events.Schedule.rate(Duration.minutes(5)),
      targets: [new targets.LambdaFunction(this.watchdog.function, { retryAttempts: 0 })],
    });
    // Whoever finishes a run (fetcher or post-processor) announces it on the default event bus.
    const defaultBus = events.EventBus.fromEventBusName(this, 'DefaultBus', 'default');
    defaultBus.grantPutEventsTo(this.fetcher.function);
    defaultBus.grantPutEventsTo(this.postprocessor.function);
    defaultBus.grantPutEventsTo(this.deadLetters.function);
    defaultBus.grantPutEventsTo(this.watchdog.function);

    this.schedules = new JobSchedules(this, 'Schedules', { jobs: props.jobs, queue: this.fetchQueue.queue });

    this.monitoring = this.#monitor(props, serviceName);

    this.analytics = new Analytics(this, 'Analytics', {
      ...props.analytics,
      jobs: props.jobs,
      dataBucket: this.storage.bucket,
      accessLogsBucket: this.storage.accessLogsBucket,
    });

    this.#addOutputs();
  }

  /** The three stage queues, in pipeline order. */
  get #workQueues(): readonly WorkQueue[] {
    return [this.fetchQueue, this.parseQueue, this.postprocessQueue];
  }

  /**
   * Checks the props that need the queues (the stall limit against their visibility timeouts), throwing one error
   * that lists every problem; returns the stall limit in minutes.
   */
  #validate(id: string, props: ScrapelineStackProps): number {
    const stallAfterMinutes = props.stallAfterMinutes ?? 60;
    const quietSeconds = Math.max(15 * 60, ...this.#workQueues.map((queue) => secondsOf(queue.visibilityTimeout) ?? 0));
    const validator = new PropsValidator(`ScrapelineStack (${id})`);
    validator.integer('stallAfterMinutes', stallAfterMinutes, 1, 10_080);
    validator.check(
      stallAfterMinutes * 60 > quietSeconds,
      `stallAfterMinutes must be longer than the longest legitimate quiet time of a run (${quietSeconds / 60} minutes: the SQS delay limit and the queues' visibility timeouts), got ${stallAfterMinutes}`,
    );
    validator.throwIfInvalid();
    return stallAfterMinutes;
  }

  /** The five functions: the three stages, the dead-letter stage and the watchdog, each with its environment. */
  #createFunctions(props: ScrapelineStackProps, serviceName: string, stages: StageSettingsOf, stallAfterMinutes: number) {
    const { bucket } = this.storage;
    const { table } = this.state;
    const common = {
      serviceName,
      metricsNamespace: METRICS_NAMESPACE,
      logLevel: props.logLevel,
      logRetention: props.logRetention,
      projectRoot: props.projectRoot,
    };
    const environment = { BUCKET_NAME: bucket.bucketName, STATE_TABLE_NAME: table.tableName };

    const fetcher = new ScrapelineFunction(this, 'Fetcher', {
      ...common,
      entry: 'functions/fetcher.ts',
      description: 'Scrapeline fetcher: starts runs, fetches pages, archives them (raw/) and enqueues parse tasks',
      memorySize: stages.fetcher.memorySize,
      timeout: stages.fetcher.timeout,
      // fetch → parse → fetch of discovered links is a Lambda–SQS loop by design, bounded by the job's limits.
      recursiveLoop: lambda.RecursiveLoop.ALLOW,
      environment: {
        ...environment,
        FETCH_QUEUE_URL: this.fetchQueue.queue.queueUrl,
        PARSE_QUEUE_URL: this.parseQueue.queue.queueUrl,
        EVENT_BUS_NAME: 'default',
        MAX_RECEIVE_COUNT: String(this.fetchQueue.maxReceiveCount),
        // The politeness gate splits a host's concurrency between this many fetchers without a state request.
        FLEET_SIZE: String(stages.fetcher.maxConcurrency),
      },
    });
    const parser = new ScrapelineFunction(this, 'Parser', {
      ...common,
      entry: 'functions/parser.ts',
      description: 'Scrapeline parser: extracts items from archived pages (records/) and enqueues followed links',
      memorySize: stages.parser.memorySize,
      timeout: stages.parser.timeout,
      recursiveLoop: lambda.RecursiveLoop.ALLOW,
      environment: {
        ...environment,
        FETCH_QUEUE_URL: this.fetchQueue.queue.queueUrl,
        // Pages it has no time left to start near its deadline go back to its own queue.
        PARSE_QUEUE_URL: this.parseQueue.queue.queueUrl,
        MAX_RECEIVE_COUNT: String(this.parseQueue.maxReceiveCount),
      },
    });
    const postprocessor = new ScrapelineFunction(this, 'Postprocessor', {
      ...common,
      entry: 'functions/postprocessor.ts',
      description: 'Scrapeline post-processor: validates and deduplicates items (datasets/), writes run manifests',
      memorySize: stages.postprocessor.memorySize,
      timeout: stages.postprocessor.timeout,
      environment: {
        ...environment,
        EVENT_BUS_NAME: 'default',
        MAX_RECEIVE_COUNT: String(this.postprocessQueue.maxReceiveCount),
        // Records objects it has no time left to finish near its deadline go back to its own queue.
        POSTPROCESS_QUEUE_URL: this.postprocessQueue.queue.queueUrl,
      },
    });
    const deadLetterRoutes: Record<string, string> = {};
    for (const queue of this.#workQueues) {
      if (queue.deadLetterInbox) deadLetterRoutes[queue.deadLetterInbox.queueArn] = queue.deadLetterQueue.queueUrl;
    }
    const deadLetters = new ScrapelineFunction(this, 'DeadLetters', {
      ...common,
      entry: 'functions/dead-letters.ts',
      description: 'Scrapeline dead-letter stage: ends dead-lettered URLs failed so their run completes, keeps the messages',
      memorySize: 512,
      timeout: Duration.minutes(1),
      environment: { ...environment, EVENT_BUS_NAME: 'default', DEAD_LETTER_ROUTES: this.toJsonString(deadLetterRoutes) },
    });
    const watchdog = new ScrapelineFunction(this, 'Watchdog', {
      ...common,
      entry: 'functions/watchdog.ts',
      description: 'Scrapeline watchdog: ends runs that made no progress for a while as stalled',
      memorySize: 512,
      timeout: Duration.minutes(5),
      environment: { ...environment, EVENT_BUS_NAME: 'default', STALL_AFTER_MINUTES: String(stallAfterMinutes) },
    });

    return { fetcher, parser, postprocessor, deadLetters, watchdog };
  }

  /**
   * Grants each function exactly what it touches (consuming its queue is granted by the event source); returns the
   * fetcher's read access to the secrets the jobs name.
   */
  #grantAccess(props: ScrapelineStackProps, stages: StageSettingsOf): JobSecrets {
    const { table } = this.state;
    const grantBucket = (
      fn: ScrapelineFunction,
      access: { readonly read: readonly string[]; readonly write: readonly string[] },
    ) => {
      for (const prefix of access.read) this.storage.grantObjects(fn.function, prefix, 's3:GetObject');
      for (const prefix of access.write) this.storage.grantObjects(fn.function, prefix, 's3:PutObject');
    };
    const fetcher = this.fetcher.function;
    this.fetchQueue.addConsumer(this.fetcher, stages.fetcher);
    this.fetchQueue.queue.grants.sendMessages(fetcher);
    this.parseQueue.queue.grants.sendMessages(fetcher);
    grantBucket(this.fetcher, BUCKET_ACCESS.fetcher);
    table.grants.readWriteData(fetcher);
    // The secrets the jobs name (request headers and cookies, proxies, logins): the fetcher reads them, no one else.
    const secrets = new JobSecrets(this, 'JobSecrets', { jobs: props.jobs, grantee: fetcher });

    const parser = this.parser.function;
    this.parseQueue.addConsumer(this.parser, stages.parser);
    this.fetchQueue.queue.grants.sendMessages(parser);
    this.parseQueue.queue.grants.sendMessages(parser);
    grantBucket(this.parser, BUCKET_ACCESS.parser);
    table.grants.readWriteData(parser);

    const postprocessor = this.postprocessor.function;
    this.postprocessQueue.addConsumer(this.postprocessor, stages.postprocessor);
    this.postprocessQueue.queue.grants.sendMessages(postprocessor);
    grantBucket(this.postprocessor, BUCKET_ACCESS.postprocessor);
    table.grants.readWriteData(postprocessor);

    // The dead-letter stage consumes every stage's inbox and keeps what it settled in that stage's dead-letter queue.
    for (const queue of this.#workQueues) {
      queue.addDeadLetterConsumer(this.deadLetters);
      queue.deadLetterQueue.grants.sendMessages(this.deadLetters.function);
    }
    grantBucket(this.deadLetters, BUCKET_ACCESS.deadletters);
    table.grants.readWriteData(this.deadLetters.function);
    grantBucket(this.watchdog, BUCKET_ACCESS.watchdog);
    table.grants.readWriteData(this.watchdog.function);
    return secrets;
  }

  /** Alarms and the dashboard over the queues, dead-letter queues, functions and the pipeline's custom metrics. */
  #monitor(props: ScrapelineStackProps, serviceName: string): ScrapelineMonitoring {
    const deadLetterQueues = [
      { label: 'Fetch', queue: this.fetchQueue.deadLetterQueue },
      { label: 'Parse', queue: this.parseQueue.deadLetterQueue },
      { label: 'Postprocess', queue: this.postprocessQueue.deadLetterQueue },
      ...(this.schedules.deadLetterQueue ? [{ label: 'Schedule', queue: this.schedules.deadLetterQueue }] : []),
    ];
    return new ScrapelineMonitoring(this, 'Monitoring', {
      queues: [
        { label: 'Fetch', queue: this.fetchQueue.queue },
        { label: 'Parse', queue: this.parseQueue.queue },
        { label: 'Postprocess', queue: this.postprocessQueue.queue },
      ],
      deadLetterQueues,
      functions: [
        { label: 'Fetcher', function: this.fetcher.function },
        { label: 'Parser', function: this.parser.function },
        { label: 'Postprocessor', function: this.postprocessor.function },
        { label: 'DeadLetters', function: this.deadLetters.function },
        { label: 'Watchdog', function: this.watchdog.function },
      ],
      metricsNamespace: METRICS_NAMESPACE,
      stageDimensions: FUNCTION_STAGES.map((stage) => ({ service: serviceName, stage })),
      runsFailedMetricName: METRICS.runsFailed,
      runsDegradedMetricName: METRICS.runsDegraded,
      runsStalledMetricName: METRICS.runsStalled,
      stageMetricNames: [METRICS.recordsProcessed, METRICS.recordsFailed],
      alarmTopic: props.alarmTopicArn ? sns.Topic.fromTopicArn(this, 'AlarmTopic', props.alarmTopicArn) : undefined,
    });
  }

  /** The stack outputs. Their keys are read by `scrapeline query --stack NAME` and documented in docs/deploy.md: keep them stable. */
  #addOutputs(): void {
    const { bucket } = this.storage;
    const { table } = this.state;
    const output = (key: string, value: string, description: string) => new CfnOutput(this, key, { value, description });
    output('BucketName', bucket.bucketName, 'Pipeline bucket (raw/, records/, datasets/, quarantine/, runs/)');
    output('StateTableName', table.tableName, 'State table');
    output(
      'FetchQueueUrl',
      this.fetchQueue.queue.queueUrl,
      'Fetch queue (send {"type":"start-run","job":"<name>"} to start a run)',
    );
    output('ParseQueueUrl', this.parseQueue.queue.queueUrl, 'Parse queue');
    output('PostprocessQueueUrl', this.postprocessQueue.queue.queueUrl, 'Post-processing queue');
    output('FetchDeadLetterQueueUrl', this.fetchQueue.deadLetterQueue.queueUrl, 'Fetch dead-letter queue');
    output('ParseDeadLetterQueueUrl', this.parseQueue.deadLetterQueue.queueUrl, 'Parse dead-letter queue');
    output('PostprocessDeadLetterQueueUrl', this.postprocessQueue.deadLetterQueue.queueUrl, 'Post-processing dead-letter queue');
    if (this.schedules.deadLetterQueue) {
      output(
        'ScheduleDeadLetterQueueUrl',
        this.schedules.deadLetterQueue.queueUrl,
        'Start messages the schedules could not send',
      );
    }
    output('FetcherLogGroupName', this.fetcher.logGroup.logGroupName, 'Fetcher logs (aws logs tail NAME --follow)');
    output('ParserLogGroupName', this.parser.logGroup.logGroupName, 'Parser logs');
    output('PostprocessorLogGroupName', this.postprocessor.logGroup.logGroupName, 'Post-processor logs');
    output('DeadLettersLogGroupName', this.deadLetters.logGroup.logGroupName, 'Dead-letter stage logs');
    output('WatchdogLogGroupName', this.watchdog.logGroup.logGroupName, 'Watchdog logs');
    output('DashboardName', this.monitoring.dashboard.dashboardName, 'CloudWatch dashboard');
    output('DashboardUrl', this.monitoring.dashboardUrl, 'CloudWatch dashboard in the console');
    // Read by `scrapeline sql --stack NAME` (cli/sql.ts).
    output('AthenaWorkgroup', this.analytics.workGroupName, 'Athena workgroup (results encrypted, scans capped per query)');
    output('GlueDatabase', this.analytics.databaseName, 'Glue database: one dataset table and one changes table per job');
  }
}
