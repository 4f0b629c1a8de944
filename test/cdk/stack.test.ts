import { Duration } from 'aws-cdk-lib';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScrapelineFunction } from '../../cdk/constructs/function.js';
import type { ScrapelineStack } from '../../cdk/stack.js';
import type { Job } from '../../shared/job/schema.js';
import { METRICS } from '../../shared/metrics.js';
import { FUNCTION_STAGES } from '../../shared/stages.js';
import { cleanUp, defined, logicalId, resourcesFor, type Statement, statementsOfRole, synthStack, twoJobs } from './support.js';

let jobs: Job[];
let stack: ScrapelineStack;
let template: Template;

beforeAll(async () => {
  // Prepare
  jobs = await twoJobs();
  ({ stack, template } = synthStack({ jobs }));
});
afterAll(cleanUp);

const getAtt = (id: string, attribute = 'Arn') => ({ 'Fn::GetAtt': [id, attribute] });

describe('Class: ScrapelineStack', () => {
  describe('Functions', () => {
    it('run on Node.js 24 on arm64, with their own log group kept a month', () => {
      // Assess
      for (const fn of [stack.fetcher, stack.parser, stack.postprocessor]) {
        template.hasResourceProperties('AWS::Lambda::Function', {
          FunctionName: Match.absent(),
          Runtime: 'nodejs24.x',
          Architectures: ['arm64'],
          Handler: 'index.handler',
          LoggingConfig: { LogGroup: { Ref: logicalId(fn.logGroup) } },
          Role: getAtt(logicalId(fn.role)),
        });
        template.hasResource('AWS::Logs::LogGroup', {
          Properties: { RetentionInDays: 30, LogGroupName: Match.absent() },
          DeletionPolicy: 'Retain',
        });
      }
    });

    it('get the environment variables their handlers validate at cold start, and no others', () => {
      // Prepare
      const common = ['BUCKET_NAME', 'STATE_TABLE_NAME', 'POWERTOOLS_SERVICE_NAME', 'POWERTOOLS_METRICS_NAMESPACE', 'LOG_LEVEL'];
      const expected: [ScrapelineFunction, string[]][] = [
        [stack.fetcher, [...common, 'FETCH_QUEUE_URL', 'PARSE_QUEUE_URL', 'EVENT_BUS_NAME', 'MAX_RECEIVE_COUNT', 'FLEET_SIZE']],
        [stack.parser, [...common, 'FETCH_QUEUE_URL', 'PARSE_QUEUE_URL', 'MAX_RECEIVE_COUNT']],
        [stack.postprocessor, [...common, 'EVENT_BUS_NAME', 'MAX_RECEIVE_COUNT', 'POSTPROCESS_QUEUE_URL']],
        [stack.deadLetters, [...common, 'EVENT_BUS_NAME', 'DEAD_LETTER_ROUTES']],
        [stack.watchdog, [...common, 'EVENT_BUS_NAME', 'STALL_AFTER_MINUTES']],
      ];
      const functions = template.findResources('AWS::Lambda::Function');

      // Assess
      for (const [fn, names] of expected) {
        const variables = functions[logicalId(fn.function)]?.Properties.Environment.Variables as Record<string, unknown>;
        // No NODE_OPTIONS: source maps are read only at DEBUG and TRACE (they cost cold-start time).
        expect(Object.keys(variables).sort()).toEqual([...names].sort());
        expect(variables).toMatchObject({
          BUCKET_NAME: { Ref: logicalId(stack.storage.bucket) },
          STATE_TABLE_NAME: { Ref: logicalId(stack.state.table) },
          POWERTOOLS_METRICS_NAMESPACE: 'Scrapeline',
          POWERTOOLS_SERVICE_NAME: 'Test',
          LOG_LEVEL: 'INFO',
        });
      }
      const fetcherVariables = functions[logicalId(stack.fetcher.function)]?.Properties.Environment.Variables;
      expect(fetcherVariables).toMatchObject({
        FETCH_QUEUE_URL: { Ref: logicalId(stack.fetchQueue.queue) },
        PARSE_QUEUE_URL: { Ref: logicalId(stack.parseQueue.queue) },
        // The fleet's politeness gate knows how many fetchers can run at once: the fetch queue's maxConcurrency.
        FLEET_SIZE: '2',
      });
      template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        FunctionName: { Ref: logicalId(stack.fetcher.function) },
        ScalingConfig: { MaximumConcurrency: 2 },
      });
    });

    it('let the crawl loop through SQS (fetcher and parser) but not the post-processor (its hand-backs are short chains)', () => {
      // Assess
      const functions = template.findResources('AWS::Lambda::Function');
      expect(functions[logicalId(stack.fetcher.function)]?.Properties.RecursiveLoop).toBe('Allow');
      expect(functions[logicalId(stack.parser.function)]?.Properties.RecursiveLoop).toBe('Allow');
      expect(functions[logicalId(stack.postprocessor.function)]?.Properties.RecursiveLoop).toBe('Terminate');
    });
  });

  describe('Queues', () => {
    const stages = () =>
      [
        [stack.fetchQueue, stack.fetcher, 2, 100, 5],
        [stack.parseQueue, stack.parser, 10, 100, 20],
        [stack.postprocessQueue, stack.postprocessor, 5, 5, 10],
      ] as const;

    it('feed each function in batches (100 pages per fetch and parse batch, gathered for 5 and 20 s) with partial batch responses and bounded concurrency', () => {
      // Assess
      for (const [queue, fn, concurrency, batchSize, windowSeconds] of stages()) {
        template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
          EventSourceArn: getAtt(logicalId(queue.queue)),
          FunctionName: { Ref: logicalId(fn.function) },
          BatchSize: batchSize,
          FunctionResponseTypes: ['ReportBatchItemFailures'],
          MaximumBatchingWindowInSeconds: windowSeconds,
          ScalingConfig: { MaximumConcurrency: concurrency },
        });
      }
      // Three stage queues, and the dead-letter stage on each of their dead-letter inboxes.
      template.resourceCountIs('AWS::Lambda::EventSourceMapping', 6);
    });

    it('give each function the time its batch needs: fetcher 5 min, parser 2 min, post-processor 5 min', () => {
      // Prepare
      const functions = template.findResources('AWS::Lambda::Function');

      // Assess
      const timeouts = stages().map(([, fn]) => functions[logicalId(fn.function)]?.Properties.Timeout as number);
      expect(timeouts).toEqual([300, 120, 300]);
    });

    it('hide a received message for at least 6 times the timeout of the function consuming it', () => {
      // Prepare
      const queues = template.findResources('AWS::SQS::Queue');
      const functions = template.findResources('AWS::Lambda::Function');

      // Assess
      for (const [queue, fn] of stages()) {
        const visibility = queues[logicalId(queue.queue)]?.Properties.VisibilityTimeout as number;
        const timeout = functions[logicalId(fn.function)]?.Properties.Timeout as number;
        expect(timeout).toBeGreaterThan(0);
        expect(visibility).toBeGreaterThanOrEqual(6 * timeout);
      }
    });

    it('dead-letter a message after 5 receives, into an encrypted queue kept 14 days', () => {
      // Assess
      for (const [queue] of stages()) {
        template.hasResourceProperties('AWS::SQS::Queue', {
          QueueName: Match.absent(),
          SqsManagedSseEnabled: true,
          RedrivePolicy: { deadLetterTargetArn: getAtt(logicalId(queue.deadLetterQueue)), maxReceiveCount: 5 },
        });
      }
      const queues = template.findResources('AWS::SQS::Queue');
      for (const [queue] of stages()) {
        expect(queues[logicalId(queue.deadLetterQueue)]?.Properties).toMatchObject({
          SqsManagedSseEnabled: true,
          MessageRetentionPeriod: 14 * 24 * 3600,
        });
      }
    });

    it('take maxReceiveCount and stage sizing from the stack props', () => {
      // Act
      const custom = synthStack({
        jobs,
        maxReceiveCount: 3,
        parser: { timeout: Duration.seconds(90), maxConcurrency: 4, batchSize: 5 },
      });

      // Assess
      custom.template.hasResourceProperties('AWS::SQS::Queue', {
        VisibilityTimeout: 540,
        RedrivePolicy: { maxReceiveCount: 3, deadLetterTargetArn: Match.anyValue() },
      });
      custom.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        EventSourceArn: getAtt(logicalId(custom.stack.parseQueue.queue)),
        BatchSize: 5,
        ScalingConfig: { MaximumConcurrency: 4 },
      });
    });

    it('refuse requests without TLS', () => {
      // Assess
      template.resourcePropertiesCountIs(
        'AWS::SQS::QueuePolicy',
        {
          PolicyDocument: {
            Statement: Match.arrayWith([
              Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
            ]),
          },
        },
        10,
      );
    });
  });

  describe('Storage', () => {
    it('notifies the post-processing queue of objects created under records/ only', () => {
      // Assess
      template.hasResourceProperties('Custom::S3BucketNotifications', {
        BucketName: { Ref: logicalId(stack.storage.bucket) },
        NotificationConfiguration: {
          QueueConfigurations: [
            {
              Events: ['s3:ObjectCreated:*'],
              Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: 'records/' }] } },
              QueueArn: getAtt(logicalId(stack.postprocessQueue.queue)),
            },
          ],
        },
      });
    });

    it('keeps the bucket private, encrypted, versioned, logged, and expires raw/ after 30 days', () => {
      // Assess
      template.hasResource('AWS::S3::Bucket', {
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
        Properties: {
          BucketName: Match.absent(),
          BucketEncryption: {
            ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
          },
          PublicAccessBlockConfiguration: {
            BlockPublicAcls: true,
            BlockPublicPolicy: true,
            IgnorePublicAcls: true,
            RestrictPublicBuckets: true,
          },
          VersioningConfiguration: { Status: 'Enabled' },
          LoggingConfiguration: { DestinationBucketName: { Ref: logicalId(stack.storage.accessLogsBucket) } },
          LifecycleConfiguration: {
            Rules: Match.arrayWith([
              Match.objectLike({ Prefix: 'raw/', ExpirationInDays: 30, Status: 'Enabled' }),
              Match.objectLike({ Prefix: 'scratch/', ExpirationInDays: 1, Status: 'Enabled' }),
            ]),
          },
        },
      });
      template.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: { Ref: logicalId(stack.storage.bucket) },
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ]),
        },
      });
    });

    it('keeps the raw archive as many days as rawRetentionDays says', () => {
      // Act
      const { template: custom } = synthStack({ jobs, rawRetentionDays: 7 });

      // Assess
      custom.hasResourceProperties('AWS::S3::Bucket', {
        LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ Prefix: 'raw/', ExpirationInDays: 7 })]) },
      });
    });

    it('keeps the state in an on-demand pk/sk table with TTL, point-in-time recovery and encryption, retained', () => {
      // Assess
      template.hasResource('AWS::DynamoDB::Table', {
        DeletionPolicy: 'Retain',
        Properties: {
          TableName: Match.absent(),
          KeySchema: [
            { AttributeName: 'pk', KeyType: 'HASH' },
            { AttributeName: 'sk', KeyType: 'RANGE' },
          ],
          AttributeDefinitions: [
            { AttributeName: 'pk', AttributeType: 'S' },
            { AttributeName: 'sk', AttributeType: 'S' },
          ],
          BillingMode: 'PAY_PER_REQUEST',
          TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          SSESpecification: { SSEEnabled: true },
        },
      });
    });
  });

  describe('Schedules', () => {
    it('start each scheduled job on the fetch queue, and no other job', () => {
      // Assess
      template.resourceCountIs('AWS::Scheduler::Schedule', 1);
      template.hasResourceProperties('AWS::Scheduler::Schedule', {
        Name: Match.absent(),
        ScheduleExpression: 'rate(6 hours)',
        FlexibleTimeWindow: { Mode: 'OFF' },
        Target: {
          Arn: getAtt(logicalId(stack.fetchQueue.queue)),
          Input: JSON.stringify({ type: 'start-run', job: 'alpha', scheduledAt: '<aws.scheduler.scheduled-time>' }),
          DeadLetterConfig: {
            Arn: getAtt(logicalId(defined(stack.schedules.deadLetterQueue, 'the schedule dead-letter queue'))),
          },
          RoleArn: Match.anyValue(),
        },
      });
      expect([...stack.schedules.schedules.keys()]).toEqual(['alpha']);
    });

    it('send with a role that may only send to the fetch queue and the schedule dead-letter queue', () => {
      // Prepare
      const schedule = Object.values(template.findResources('AWS::Scheduler::Schedule'))[0];
      const roleId = schedule?.Properties.Target.RoleArn['Fn::GetAtt'][0] as string;
      const statements = statementsOfRole(template, roleId);

      // Assess
      expect(statements.flatMap((s) => s.actions)).toEqual(['sqs:SendMessage']);
      expect(resourcesFor(statements, 'sqs:SendMessage').sort()).toEqual(
        [
          JSON.stringify(getAtt(logicalId(stack.fetchQueue.queue))),
          JSON.stringify(getAtt(logicalId(defined(stack.schedules.deadLetterQueue, 'the schedule dead-letter queue')))),
        ].sort(),
      );
      template.hasResourceProperties('AWS::IAM::Role', {
        AssumeRolePolicyDocument: {
          Statement: [Match.objectLike({ Principal: { Service: 'scheduler.amazonaws.com' }, Condition: Match.anyValue() })],
        },
      });
    });

    it('are not created for jobs without a schedule', async () => {
      // Act
      const unscheduled = jobs.filter((job) => job.schedule === undefined);
      const { stack: bare, template: bareTemplate } = synthStack({ jobs: unscheduled });

      // Assess
      bareTemplate.resourceCountIs('AWS::Scheduler::Schedule', 0);
      expect(bare.schedules.deadLetterQueue).toBeUndefined();
      expect(Object.keys(bareTemplate.findOutputs('*'))).not.toContain('ScheduleDeadLetterQueueUrl');
    });
  });

  describe('IAM', () => {
    const statementsOf = (fn: ScrapelineFunction) => statementsOfRole(template, logicalId(fn.role));
    const arn = (construct: Parameters<typeof logicalId>[0]) => JSON.stringify(getAtt(logicalId(construct)));
    const s3Writes = (statements: readonly Statement[]) =>
      statements.filter((s) => s.actions.some((action) => /^s3:(Put|Delete|Abort|\*)/.test(action) || action === '*'));
    const objects = (prefix: string) =>
      JSON.stringify({ 'Fn::Join': ['', [getAtt(logicalId(stack.storage.bucket)), `/${prefix}/*`]] });

    it('gives no function a wildcard action or a "*" resource', () => {
      // Assess
      for (const fn of [stack.fetcher, stack.parser, stack.postprocessor]) {
        for (const statement of statementsOf(fn)) {
          expect(statement.actions.filter((action) => action.includes('*'))).toEqual([]);
          expect(statement.resources).not.toContain('"*"');
        }
      }
    });

    it("lets the fetcher write raw/, records/ (pages ended without a parse) and what finishing a run writes only, read large pages' lists and finalization scratch, and send to the fetch and parse queues", () => {
      // Prepare
      const statements = statementsOf(stack.fetcher);

      // Assess
      const writes = s3Writes(statements);
      expect(writes.flatMap((s) => s.actions)).toEqual(['s3:PutObject']);
      expect(writes.flatMap((s) => s.resources).sort()).toEqual(
        ['raw', 'records', 'runs', 'changes', 'current', 'scratch'].map(objects).sort(),
      );
      expect(resourcesFor(statements, 's3:GetObject').sort()).toEqual(['runs', 'scratch'].map(objects).sort());
      expect(resourcesFor(statements, 'sqs:SendMessage').sort()).toEqual(
        [arn(stack.fetchQueue.queue), arn(stack.parseQueue.queue)].sort(),
      );
      expect(resourcesFor(statements, 'sqs:ReceiveMessage')).toEqual([arn(stack.fetchQueue.queue)]);
      expect(resourcesFor(statements, 'dynamodb:UpdateItem')).toEqual([arn(stack.state.table)]);
    });

    it('lets the parser read raw/, write records/ only, and send to the fetch queue and its own (hand-backs)', () => {
      // Prepare
      const statements = statementsOf(stack.parser);

      // Assess
      const writes = s3Writes(statements);
      expect(writes.flatMap((s) => s.actions)).toEqual(['s3:PutObject']);
      expect(writes.flatMap((s) => s.resources)).toEqual([objects('records')]);
      expect(resourcesFor(statements, 's3:GetObject')).toEqual([objects('raw')]);
      expect(resourcesFor(statements, 'sqs:SendMessage').sort()).toEqual(
        [arn(stack.fetchQueue.queue), arn(stack.parseQueue.queue)].sort(),
      );
      expect(resourcesFor(statements, 'sqs:ReceiveMessage')).toEqual([arn(stack.parseQueue.queue)]);
      expect(resourcesFor(statements, 'dynamodb:PutItem')).toEqual([arn(stack.state.table)]);
    });

    it("lets the post-processor read records/, runs/ (large pages' lists) and scratch/, write datasets/, quarantine/, changes/, runs/, current/ and scratch/, and send to its own queue only (hand-backs)", () => {
      // Prepare
      const statements = statementsOf(stack.postprocessor);

      // Assess
      expect(resourcesFor(statements, 'sqs:SendMessage')).toEqual([arn(stack.postprocessQueue.queue)]);
      expect(resourcesFor(statements, 'sqs:ReceiveMessage')).toEqual([arn(stack.postprocessQueue.queue)]);
      expect(resourcesFor(statements, 's3:GetObject').sort()).toEqual(['records', 'runs', 'scratch'].map(objects).sort());
      const writes = s3Writes(statements);
      expect(writes.flatMap((s) => s.actions)).toEqual(['s3:PutObject']);
      expect(writes.flatMap((s) => s.resources).sort()).toEqual(
        ['datasets', 'quarantine', 'changes', 'runs', 'current', 'scratch'].map(objects).sort(),
      );
      expect(resourcesFor(statements, 'dynamodb:Query')).toEqual([arn(stack.state.table)]);
    });

    it('lets each function write only to its own log group', () => {
      // Assess
      for (const fn of [stack.fetcher, stack.parser, stack.postprocessor]) {
        expect(resourcesFor(statementsOf(fn), 'logs:PutLogEvents')).toEqual([arn(fn.logGroup)]);
      }
      template.resourcePropertiesCountIs(
        'AWS::IAM::Role',
        { ManagedPolicyArns: Match.anyValue(), AssumeRolePolicyDocument: Match.objectLike({}) },
        1, // the CDK-owned bucket notifications handler only
      );
    });
  });

  describe('Monitoring', () => {
    it('raises an alarm when any dead-letter queue holds a message', () => {
      // Prepare
      const deadLetterQueues = [
        stack.fetchQueue.deadLetterQueue,
        stack.parseQueue.deadLetterQueue,
        stack.postprocessQueue.deadLetterQueue,
        defined(stack.schedules.deadLetterQueue, 'the schedule dead-letter queue'),
      ];

      // Assess
      for (const queue of deadLetterQueues) {
        template.hasResourceProperties('AWS::CloudWatch::Alarm', {
          Namespace: 'AWS/SQS',
          MetricName: 'ApproximateNumberOfMessagesVisible',
          Dimensions: [{ Name: 'QueueName', Value: getAtt(logicalId(queue), 'QueueName') }],
          ComparisonOperator: 'GreaterThanThreshold',
          Threshold: 0,
          TreatMissingData: 'notBreaching',
        });
      }
    });

    it('raises an alarm when a function errs', () => {
      // Assess
      for (const fn of [stack.fetcher, stack.parser, stack.postprocessor]) {
        template.hasResourceProperties('AWS::CloudWatch::Alarm', {
          Namespace: 'AWS/Lambda',
          MetricName: 'Errors',
          Dimensions: [{ Name: 'FunctionName', Value: { Ref: logicalId(fn.function) } }],
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
          Threshold: 1,
        });
      }
    });

    it('raises an alarm when a run is degraded (a selector broke), whichever stage finished it', () => {
      const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter((alarm) =>
        JSON.stringify(alarm).includes('"RunsDegraded"'),
      );
      expect(alarms).toHaveLength(1);
      expect(defined(alarms[0], 'a RunsDegraded alarm').Properties).toMatchObject({
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        Threshold: 1,
        TreatMissingData: 'notBreaching',
      });
    });

    it('lets only the stages that finish runs announce them on the default event bus', () => {
      const policies = template.findResources('AWS::IAM::Policy');
      const putters = Object.values(policies)
        .filter((policy) => JSON.stringify(policy).includes('events:PutEvents'))
        .flatMap((policy) => (policy.Properties.Roles as { Ref: string }[]).map((role) => role.Ref));
      expect(putters.sort()).toEqual(
        [stack.fetcher, stack.postprocessor, stack.deadLetters, stack.watchdog].map((fn) => logicalId(fn.role)).sort(),
      );
    });

    it('raises an alarm when a run fails, whichever stage finished it (RunsFailed summed over the stages)', () => {
      // Prepare
      const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter((alarm) =>
        JSON.stringify(alarm).includes('"RunsFailed"'),
      );
      const properties = defined(alarms[0], 'a RunsFailed alarm').Properties;
      const queries = properties.Metrics as { Id: string; Expression?: string; MetricStat?: Record<string, unknown> }[];

      // Assess
      expect(alarms).toHaveLength(1);
      expect(properties).toMatchObject({
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        Threshold: 1,
        EvaluationPeriods: 1,
        TreatMissingData: 'notBreaching',
      });
      const stats = queries.filter((query) => query.MetricStat);
      expect(stats.map((query) => query.MetricStat)).toEqual(
        FUNCTION_STAGES.map((stage) => ({
          Metric: {
            Namespace: 'Scrapeline',
            MetricName: 'RunsFailed',
            Dimensions: [
              { Name: 'service', Value: 'Test' },
              { Name: 'stage', Value: stage },
            ],
          },
          Period: 300,
          Stat: 'Sum',
        })),
      );
      const expression = defined(
        queries.find((query) => query.Expression),
        'the sum',
      ).Expression;
      for (const query of stats) expect(expression).toContain(`FILL(${query.Id}, 0)`);
      template.resourceCountIs('AWS::CloudWatch::Alarm', 12);
    });

    it('graphs the per-invocation metrics the functions publish (shared/metrics.ts)', () => {
      // Prepare
      const dashboard = Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0];

      // Assess
      const body = JSON.stringify(dashboard?.Properties.DashboardBody);
      expect(body).toContain(METRICS.recordsProcessed);
      expect(body).toContain(METRICS.recordsFailed);
    });

    it('graphs queues, dead letters, functions and failed runs on one dashboard', () => {
      // Prepare
      const dashboard = Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0];
      const body = JSON.stringify(dashboard?.Properties.DashboardBody);

      // Assess
      expect(dashboard?.Properties.DashboardName).toBeUndefined();
      for (const metric of [
        'ApproximateNumberOfMessagesVisible',
        'ApproximateAgeOfOldestMessage',
        'Errors',
        'Duration',
        'RunsFailed',
      ]) {
        expect(body).toContain(metric);
      }
    });

    it('notifies an alarm topic when one is given', () => {
      // Act
      const topicArn = 'arn:aws:sns:us-east-1:123456789012:alarms';
      const { template: notified } = synthStack({ jobs, alarmTopicArn: topicArn });

      // Assess
      notified.resourcePropertiesCountIs('AWS::CloudWatch::Alarm', { AlarmActions: [topicArn], OKActions: [topicArn] }, 12);
    });
  });

  describe('Dead letters and stalled runs', () => {
    const workQueues = () => [stack.fetchQueue, stack.parseQueue, stack.postprocessQueue];

    it('dead-letter each stage queue into an inbox the dead-letter stage consumes, which keeps what it settled in the dead-letter queue', () => {
      for (const queue of workQueues()) {
        // Assess
        const inbox = defined(queue.deadLetterInbox, 'a dead-letter inbox');
        template.hasResourceProperties('AWS::SQS::Queue', {
          VisibilityTimeout: Match.anyValue(),
          RedrivePolicy: { maxReceiveCount: 5, deadLetterTargetArn: getAtt(logicalId(inbox)) },
        });
        // What the stage cannot settle still reaches the dead-letter queue (and its alarm) after 5 receives.
        template.hasResourceProperties('AWS::SQS::Queue', {
          RedrivePolicy: { maxReceiveCount: 5, deadLetterTargetArn: getAtt(logicalId(queue.deadLetterQueue)) },
          MessageRetentionPeriod: 1_209_600,
        });
        template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
          EventSourceArn: getAtt(logicalId(inbox)),
          FunctionName: { Ref: logicalId(stack.deadLetters.function) },
          FunctionResponseTypes: ['ReportBatchItemFailures'],
        });
      }
      const statements = statementsOfRole(template, logicalId(stack.deadLetters.role));
      expect(resourcesFor(statements, 'sqs:SendMessage').sort()).toEqual(
        workQueues()
          .map((queue) => JSON.stringify(getAtt(logicalId(queue.deadLetterQueue))))
          .sort(),
      );
      const functions = template.findResources('AWS::Lambda::Function');
      const routes = JSON.stringify(
        functions[logicalId(stack.deadLetters.function)]?.Properties.Environment.Variables.DEAD_LETTER_ROUTES,
      );
      for (const queue of workQueues()) {
        expect(routes).toContain(logicalId(defined(queue.deadLetterInbox, 'an inbox')));
        expect(routes).toContain(logicalId(queue.deadLetterQueue));
      }
    });

    it('tell each stage its maxReceiveCount, so a message failing for the last time leaves its error', () => {
      const functions = template.findResources('AWS::Lambda::Function');
      for (const fn of [stack.fetcher, stack.parser, stack.postprocessor]) {
        expect(functions[logicalId(fn.function)]?.Properties.Environment.Variables.MAX_RECEIVE_COUNT).toBe('5');
      }
    });

    it('run the watchdog every 5 minutes, with the stall limit (60 minutes by default)', () => {
      template.hasResourceProperties('AWS::Events::Rule', {
        ScheduleExpression: 'rate(5 minutes)',
        State: 'ENABLED',
        Targets: [Match.objectLike({ Arn: getAtt(logicalId(stack.watchdog.function)) })],
      });
      template.hasResourceProperties('AWS::Lambda::Permission', {
        Action: 'lambda:InvokeFunction',
        Principal: 'events.amazonaws.com',
        FunctionName: getAtt(logicalId(stack.watchdog.function)),
      });
      const functions = template.findResources('AWS::Lambda::Function');
      expect(functions[logicalId(stack.watchdog.function)]?.Properties.Environment.Variables.STALL_AFTER_MINUTES).toBe('60');
    });

    it('raises an alarm when a run stalls, whichever function ended it (RunsStalled summed over the stages)', () => {
      const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter((alarm) =>
        JSON.stringify(alarm).includes('"RunsStalled"'),
      );
      expect(alarms).toHaveLength(1);
      const properties = defined(alarms[0], 'a RunsStalled alarm').Properties;
      expect(properties).toMatchObject({ ComparisonOperator: 'GreaterThanOrEqualToThreshold', Threshold: 1 });
      const stages = (properties.Metrics as { MetricStat?: { Metric: { Dimensions: { Value: string }[] } } }[])
        .flatMap((query) => (query.MetricStat ? [query.MetricStat.Metric.Dimensions[1]?.Value] : []))
        .sort();
      expect(stages).toEqual([...FUNCTION_STAGES].sort());
      expect(stages).toContain('watchdog');
    });

    it('refuses a stall limit no longer than a run may legitimately be quiet', () => {
      expect(() => synthStack({ jobs, stallAfterMinutes: 20 })).toThrow(
        /stallAfterMinutes must be longer than the longest legitimate quiet time of a run \(30 minutes.*got 20/,
      );
      const { template: custom } = synthStack({ jobs, stallAfterMinutes: 45 });
      custom.hasResourceProperties('AWS::Lambda::Function', {
        Environment: { Variables: Match.objectLike({ STALL_AFTER_MINUTES: '45' }) },
      });
    });
  });

  describe('Outputs', () => {
    it('name the bucket, table, queues, dead-letter queues, log groups, dashboard and Athena workgroup and database', () => {
      // Assess
      expect(Object.keys(template.findOutputs('*')).sort()).toEqual(
        [
          'BucketName',
          'StateTableName',
          'FetchQueueUrl',
          'ParseQueueUrl',
          'PostprocessQueueUrl',
          'FetchDeadLetterQueueUrl',
          'ParseDeadLetterQueueUrl',
          'PostprocessDeadLetterQueueUrl',
          'ScheduleDeadLetterQueueUrl',
          'FetcherLogGroupName',
          'ParserLogGroupName',
          'PostprocessorLogGroupName',
          'DeadLettersLogGroupName',
          'WatchdogLogGroupName',
          'DashboardName',
          'DashboardUrl',
          'AthenaWorkgroup',
          'GlueDatabase',
        ].sort(),
      );
      template.hasOutput('BucketName', { Value: { Ref: logicalId(stack.storage.bucket) } });
      template.hasOutput('StateTableName', { Value: { Ref: logicalId(stack.state.table) } });
      template.hasOutput('FetchQueueUrl', { Value: { Ref: logicalId(stack.fetchQueue.queue) } });
      template.hasOutput('PostprocessDeadLetterQueueUrl', { Value: { Ref: logicalId(stack.postprocessQueue.deadLetterQueue) } });
      template.hasOutput('DashboardName', { Value: { Ref: logicalId(stack.monitoring.dashboard) } });
      template.hasOutput('ParserLogGroupName', { Value: { Ref: logicalId(stack.parser.logGroup) } });
    });
  });
});
