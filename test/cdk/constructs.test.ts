import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { afterAll, describe, expect, it } from 'vitest';
import { ScrapelineFunction } from '../../cdk/constructs/function.js';
import { ScrapelineMonitoring } from '../../cdk/constructs/monitoring.js';
import { JobSchedules } from '../../cdk/constructs/schedules.js';
import { StateTable } from '../../cdk/constructs/state.js';
import { ScrapelineStorage } from '../../cdk/constructs/storage.js';
import { PropsValidationError } from '../../cdk/constructs/validation.js';
import { WorkQueue } from '../../cdk/constructs/work-queue.js';
import { cleanUp, tempDir, testApp } from './support.js';

afterAll(cleanUp);

const newStack = () => new Stack(testApp(), 'Constructs');

/** A project holding a handler the function construct can point at (bundling is skipped). */
function stubProject(): { projectRoot: string; entry: string } {
  const projectRoot = tempDir();
  writeFileSync(join(projectRoot, 'package-lock.json'), '{}\n');
  writeFileSync(join(projectRoot, 'handler.ts'), 'export const handler = async () => ({ batchItemFailures: [] });\n');
  return { projectRoot, entry: 'handler.ts' };
}

/** Runs `build`, expecting one PropsValidationError; returns its problems. */
function problemsOf(build: () => unknown): readonly string[] {
  try {
    build();
  } catch (error) {
    expect(error).toBeInstanceOf(PropsValidationError);
    return (error as PropsValidationError).problems;
  }
  throw new Error('expected a PropsValidationError');
}

describe('Class: WorkQueue', () => {
  it('derives a visibility timeout of 6 × the consumer timeout and a redrive after 5 receives', () => {
    // Prepare
    const stack = newStack();

    // Act
    const queue = new WorkQueue(stack, 'Work', { consumerTimeout: Duration.seconds(30) });

    // Assess
    expect(queue.visibilityTimeout.toSeconds()).toBe(180);
    Template.fromStack(stack).hasResourceProperties('AWS::SQS::Queue', {
      VisibilityTimeout: 180,
      SqsManagedSseEnabled: true,
      RedrivePolicy: { maxReceiveCount: 5, deadLetterTargetArn: Match.anyValue() },
    });
  });

  it('lists every invalid prop in one error', () => {
    // Act
    const build = () =>
      new WorkQueue(newStack(), 'Work', {
        consumerTimeout: Duration.minutes(1),
        visibilityTimeout: Duration.minutes(2),
        maxReceiveCount: 0,
        retentionPeriod: Duration.days(14),
        deadLetterRetentionPeriod: Duration.days(4),
      });

    // Assess
    expect(build).toThrow(/Invalid WorkQueue \(Work\) props/);
    const problems = problemsOf(build);
    expect(problems).toEqual([
      'visibilityTimeout must be at least 6 × consumerTimeout (360 s), got 120 s',
      'maxReceiveCount must be an integer from 1 to 1000, got 0',
      'deadLetterRetentionPeriod must be longer than retentionPeriod (1209600 s), got 345600 s',
    ]);
  });

  it('refuses a consumer whose timeout the visibility timeout does not cover, and bad batching, in one error', () => {
    // Prepare
    const stack = newStack();
    const queue = new WorkQueue(stack, 'Work', { consumerTimeout: Duration.seconds(30) });
    const consumer = new ScrapelineFunction(stack, 'Slow', {
      ...stubProject(),
      serviceName: 'test',
      timeout: Duration.minutes(5),
    });

    // Act
    const problems = problemsOf(() => queue.addConsumer(consumer, { batchSize: 11, maxConcurrency: 1 }));

    // Assess
    expect(problems).toHaveLength(3);
    expect(problems[0]).toMatch(/^batchSize must be an integer from 1 to 10, got 11/);
    expect(problems[1]).toMatch(/^maxConcurrency must be an integer from 2 to 1000, got 1/);
    expect(problems[2]).toMatch(/consumer's timeout \(300 s\) must be at most consumerTimeout \(30 s\)/);
  });

  it('takes batches of up to 10,000 messages with a batching window, and refuses more', () => {
    // Prepare
    const stack = newStack();
    const queue = new WorkQueue(stack, 'Work', { consumerTimeout: Duration.seconds(30) });
    const consumer = new ScrapelineFunction(stack, 'Consumer', {
      ...stubProject(),
      serviceName: 'test',
      timeout: Duration.seconds(30),
    });

    // Act
    queue.addConsumer(consumer, { batchSize: 100, maxBatchingWindow: Duration.seconds(5) });
    const problems = problemsOf(() => queue.addConsumer(consumer, { batchSize: 10_001, maxBatchingWindow: Duration.seconds(5) }));

    // Assess
    Template.fromStack(stack).hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      BatchSize: 100,
      MaximumBatchingWindowInSeconds: 5,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    expect(problems).toEqual([expect.stringMatching(/^batchSize must be an integer from 1 to 10000, got 10001/)]);
  });
});

describe('Class: ScrapelineFunction', () => {
  it('lists every invalid prop in one error', () => {
    // Act
    const problems = problemsOf(
      () =>
        new ScrapelineFunction(newStack(), 'Fn', {
          entry: '/nowhere/handler.ts',
          serviceName: ' ',
          memorySize: 64,
          timeout: Duration.minutes(20),
          environment: { LOG_LEVEL: 'DEBUG', AWS_REGION: 'eu-west-1' },
        }),
    );

    // Assess
    expect(problems).toEqual([
      'entry must be an existing file, got "/nowhere/handler.ts"',
      'serviceName must not be empty',
      'memorySize must be an integer from 128 to 10240, got 64',
      'timeout must be from 1 to 900 seconds, got 1200 s',
      'environment must not set LOG_LEVEL (set by the construct or reserved by Lambda)',
      'environment must not set AWS_REGION (set by the construct or reserved by Lambda)',
    ]);
  });

  it('applies the house defaults', () => {
    // Prepare
    const stack = newStack();

    // Act
    new ScrapelineFunction(stack, 'Fn', { ...stubProject(), serviceName: 'svc' });

    // Assess
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      MemorySize: 512,
      Timeout: 60,
      RecursiveLoop: 'Terminate',
      Environment: {
        Variables: {
          POWERTOOLS_SERVICE_NAME: 'svc',
          POWERTOOLS_METRICS_NAMESPACE: 'Scrapeline',
          LOG_LEVEL: 'INFO',
          NODE_OPTIONS: Match.absent(),
        },
      },
    });
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
    template.hasResourceProperties('AWS::IAM::Role', { ManagedPolicyArns: Match.absent() });
  });

  it('enables source maps (NODE_OPTIONS) only at the DEBUG and TRACE log levels: reading them costs cold-start time', () => {
    // Prepare
    const stack = newStack();

    // Act
    new ScrapelineFunction(stack, 'Debug', { ...stubProject(), serviceName: 'debug', logLevel: 'DEBUG' });
    new ScrapelineFunction(stack, 'Trace', { ...stubProject(), serviceName: 'trace', logLevel: 'TRACE' });
    new ScrapelineFunction(stack, 'Warn', { ...stubProject(), serviceName: 'warn', logLevel: 'WARN' });

    // Assess
    const template = Template.fromStack(stack);
    for (const [service, nodeOptions] of [
      ['debug', '--enable-source-maps'],
      ['trace', '--enable-source-maps'],
      ['warn', Match.absent()],
    ] as const) {
      template.hasResourceProperties('AWS::Lambda::Function', {
        Environment: { Variables: { POWERTOOLS_SERVICE_NAME: service, NODE_OPTIONS: nodeOptions } },
      });
    }
  });
});

describe('Class: ScrapelineStorage', () => {
  it('lists every invalid prop in one error', () => {
    // Prepare
    const stack = newStack();
    const recordsQueue = new sqs.Queue(stack, 'Records');

    // Act
    const problems = problemsOf(
      () =>
        new ScrapelineStorage(stack, 'Storage', {
          recordsQueue,
          recordsPrefix: 'records',
          rawPrefix: 'raw/',
          rawRetentionDays: 0,
          versioned: false,
          noncurrentVersionRetentionDays: 10,
        }),
    );

    // Assess
    expect(problems).toEqual([
      'recordsPrefix must be one folder name ending in "/", got "records"',
      'rawRetentionDays must be an integer from 1 to 36500, got 0',
      'noncurrentVersionRetentionDays applies only to a versioned bucket (versioned is false)',
    ]);
  });
});

describe('Class: StateTable', () => {
  it('lists every invalid prop in one error', () => {
    // Act
    const problems = problemsOf(() => new StateTable(newStack(), 'State', { timeToLiveAttribute: 'pk' }));

    // Assess
    expect(problems).toEqual(['timeToLiveAttribute must not be a key attribute, got "pk"']);
  });
});

describe('Class: JobSchedules', () => {
  it('lists every invalid prop in one error', () => {
    // Prepare
    const stack = newStack();
    const queue = new sqs.Queue(stack, 'Fetch');

    // Act
    const problems = problemsOf(
      () =>
        new JobSchedules(stack, 'Schedules', {
          queue,
          jobs: [{ name: 'a', schedule: 'rate(1 hours)' }, { name: 'a' }, { name: 'B', schedule: 'cron(0 6 * * * *)' }],
          retryAttempts: 500,
        }),
    );

    // Assess
    expect(problems).toEqual([
      'jobs[0].schedule of job "a", "rate(1 hours)": use the singular unit for a value of 1: "rate(1 hour)"',
      'jobs[1].name "a" is not unique',
      'jobs[2].name must be a job name, got "B"',
      'jobs[2].schedule of job "B", "cron(0 6 * * * *)": cron: exactly one of day-of-month and day-of-week must be "?"',
      'retryAttempts must be an integer from 0 to 185, got 500',
    ]);
  });
});

describe('Class: ScrapelineMonitoring', () => {
  it('lists every invalid prop in one error', () => {
    // Prepare
    const stack = newStack();
    const queue = new sqs.Queue(stack, 'Queue');

    // Act
    const problems = problemsOf(
      () =>
        new ScrapelineMonitoring(stack, 'Monitoring', {
          queues: [
            { label: 'Work', queue },
            { label: 'Work', queue },
          ],
          deadLetterQueues: [{ label: 'bad label!', queue }],
          functions: [],
          alarmPeriod: Duration.seconds(90),
        }),
    );

    // Assess
    expect(problems).toEqual([
      'queues[1].label "Work" is not unique',
      'deadLetterQueues[0].label must be a short name, got "bad label!"',
      'functions must name at least one function',
      'alarmPeriod must be a whole number of minutes, got 90 s',
    ]);
  });
});
