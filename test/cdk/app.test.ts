import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { afterAll, describe, expect, it } from 'vitest';
import { createApp, main } from '../../cdk/app.js';
import { PROJECT_ROOT } from '../../cdk/paths.js';
import { ScrapelineStack } from '../../cdk/stack.js';
import { cleanUp, jobsDir, tempDir, testAppProps } from './support.js';

afterAll(cleanUp);

/** Where a test's jobs module goes, instead of functions/commons/jobs.generated.ts. */
const moduleIn = (dir: string) => join(dir, 'jobs.generated.ts');

describe('Function: main', () => {
  it('fails with the file and path of every problem when a job is invalid, and synthesizes nothing', async () => {
    // Prepare
    const dir = jobsDir({
      'broken.yaml': [
        'name: broken',
        'start:',
        '  urls: [ftp://example.com/]',
        'templates:',
        '  item:',
        '    key: sku',
        '    fields:',
        '      title: h1',
        '',
      ].join('\n'),
      'good.json': JSON.stringify({ name: 'good', start: { urls: ['https://good.example/'] } }),
    });
    const out = tempDir();
    const errors: string[] = [];

    // Act
    const code = await main({ jobsDir: dir, cwd: dirname(dir), jobsModule: moduleIn(out), appProps: testAppProps() }, (m) =>
      errors.push(m),
    );

    // Assess
    expect(code).toBe(1);
    const source = `${basename(dir)}/broken.yaml`;
    expect(errors.join('')).toBe(
      [
        'Invalid jobs, nothing synthesized:',
        `${source}: start.urls[0]: only http and https URLs can be fetched, got "ftp:"`,
        `${source}: templates.item.key: "sku" is not one of the template's fields (title)`,
        '',
      ].join('\n'),
    );
    expect(existsSync(moduleIn(out))).toBe(false);
  });

  it('synthesizes the stack, with cdk-nag and CloudFormation validation, when every job is valid', async () => {
    // Prepare
    const out = tempDir();
    const errors: string[] = [];

    // Act
    const code = await main(
      { jobsDir: jobsDir(), cwd: out, jobsModule: moduleIn(out), appProps: testAppProps({ validate: true }) },
      (m) => errors.push(m),
    );

    // Assess
    expect(errors).toEqual([]);
    expect(code).toBe(0);
  });

  it('acknowledges only the expected cdk-nag findings, each with a reason', async () => {
    // Prepare
    const out = tempDir();
    const { app } = await createApp({ jobsDir: jobsDir(), cwd: out, jobsModule: moduleIn(out), appProps: testAppProps() });

    // Act
    const acknowledged: [string, string, string][] = [];
    for (const construct of app.node.findAll()) {
      for (const entry of construct.node.metadata) {
        if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
        for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) {
          acknowledged.push([construct.node.path, id.replace(/^Annotation::/, ''), reason]);
        }
      }
    }

    // Assess
    for (const [, , reason] of acknowledged) expect(reason.length).toBeGreaterThan(40);
    const bucket = /<StorageBucket[0-9A-F]{8}\.Arn>/;
    const rules = acknowledged.map(
      ([path, id]) =>
        `${path.replace(/\/BucketNotificationsHandler\w+$/, '/BucketNotificationsHandler')} ${id.replace(bucket, '<Bucket>')}`,
    );
    expect(rules.sort()).toEqual(
      [
        'Scrapeline/BucketNotificationsHandler AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        'Scrapeline/Fetcher/Role AwsSolutions-IAM5[Resource::<Bucket>/raw/*]',
        'Scrapeline/Fetcher/Role AwsSolutions-IAM5[Resource::<Bucket>/records/*]',
        'Scrapeline/DeadLetters/Role AwsSolutions-IAM5[Resource::<Bucket>/records/*]',
        'Scrapeline/DeadLetters/Role AwsSolutions-IAM5[Resource::<Bucket>/runs/*]',
        'Scrapeline/DeadLetters/Role AwsSolutions-IAM5[Resource::<Bucket>/changes/*]',
        'Scrapeline/DeadLetters/Role AwsSolutions-IAM5[Resource::<Bucket>/current/*]',
        'Scrapeline/DeadLetters/Role AwsSolutions-IAM5[Resource::<Bucket>/scratch/*]',
        'Scrapeline/Watchdog/Role AwsSolutions-IAM5[Resource::<Bucket>/runs/*]',
        'Scrapeline/Watchdog/Role AwsSolutions-IAM5[Resource::<Bucket>/changes/*]',
        'Scrapeline/Watchdog/Role AwsSolutions-IAM5[Resource::<Bucket>/current/*]',
        'Scrapeline/Watchdog/Role AwsSolutions-IAM5[Resource::<Bucket>/scratch/*]',
        'Scrapeline/Fetcher/Role AwsSolutions-IAM5[Resource::<Bucket>/runs/*]',
        'Scrapeline/Fetcher/Role AwsSolutions-IAM5[Resource::<Bucket>/changes/*]',
        'Scrapeline/Fetcher/Role AwsSolutions-IAM5[Resource::<Bucket>/current/*]',
        'Scrapeline/Fetcher/Role AwsSolutions-IAM5[Resource::<Bucket>/scratch/*]',
        'Scrapeline/Parser/Role AwsSolutions-IAM5[Resource::<Bucket>/raw/*]',
        'Scrapeline/Parser/Role AwsSolutions-IAM5[Resource::<Bucket>/records/*]',
        'Scrapeline/Postprocessor/Role AwsSolutions-IAM5[Resource::<Bucket>/records/*]',
        'Scrapeline/Postprocessor/Role AwsSolutions-IAM5[Resource::<Bucket>/datasets/*]',
        'Scrapeline/Postprocessor/Role AwsSolutions-IAM5[Resource::<Bucket>/quarantine/*]',
        'Scrapeline/Postprocessor/Role AwsSolutions-IAM5[Resource::<Bucket>/runs/*]',
        'Scrapeline/Postprocessor/Role AwsSolutions-IAM5[Resource::<Bucket>/changes/*]',
        'Scrapeline/Postprocessor/Role AwsSolutions-IAM5[Resource::<Bucket>/current/*]',
        'Scrapeline/Postprocessor/Role AwsSolutions-IAM5[Resource::<Bucket>/scratch/*]',
        'Scrapeline/Schedules/DeadLetterQueue AwsSolutions-SQS3',
      ].sort(),
    );
  });
});

describe('Function: createApp', () => {
  it('loads the jobs, regenerates the jobs module and builds one stack', async () => {
    // Prepare
    const out = tempDir();
    const dir = jobsDir();

    // Act
    const { app, stack } = await createApp({
      jobsDir: dir,
      cwd: dirname(dir),
      jobsModule: moduleIn(out),
      appProps: testAppProps(),
    });

    // Assess
    expect(app.node.children.filter((child) => child instanceof Stack)).toEqual([stack]);
    expect(stack).toBeInstanceOf(ScrapelineStack);
    expect(stack.stackName).toBe('Scrapeline');
    expect([...stack.schedules.schedules.keys()]).toEqual(['alpha']);
    const generated = readFileSync(moduleIn(out), 'utf8');
    expect(generated).toContain(`source: "${basename(dir)}/alpha.yaml"`);
    expect(generated).toContain(`source: "${basename(dir)}/beta.json"`);
  });

  it('runs the AwsSolutions checks: an insecure resource fails the synth', async () => {
    // Prepare
    const out = tempDir();
    const { app, stack } = await createApp({ jobsDir: jobsDir(), cwd: out, jobsModule: moduleIn(out), appProps: testAppProps() });
    new sqs.Queue(stack, 'Insecure', { encryption: sqs.QueueEncryption.UNENCRYPTED });

    // Act
    let message = '';
    try {
      app.synth();
    } catch (error) {
      message = (error as Error).message;
    }

    // Assess
    for (const rule of ['AwsSolutions-SQS2', 'AwsSolutions-SQS3', 'AwsSolutions-SQS4']) expect(message).toContain(rule);
    expect(message.match(/^ {3}Scrapeline\/\S+/gm)).toEqual([
      '   Scrapeline/Insecure/Resource',
      '   Scrapeline/Insecure/Resource',
      '   Scrapeline/Insecure/Resource',
    ]);
  });

  it('takes the stack name and the alarm topic from the context', async () => {
    // Prepare
    const out = tempDir();
    const props = testAppProps();
    const topicArn = 'arn:aws:sns:eu-west-1:123456789012:scrapeline-alarms';

    // Act
    const { stack } = await createApp({
      jobsDir: jobsDir(),
      cwd: out,
      jobsModule: moduleIn(out),
      appProps: { ...props, context: { ...props.context, stackName: 'ScrapelineDev', alarmTopicArn: topicArn } },
    });

    // Assess
    expect(stack.stackName).toBe('ScrapelineDev');
    Template.fromStack(stack).resourcePropertiesCountIs('AWS::CloudWatch::Alarm', { AlarmActions: [topicArn] }, 12);
  });
});

describe('File: cdk.json', () => {
  it('runs the app offline: no notices, no version reporting, no telemetry', () => {
    // Prepare
    const config = JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8'));

    // Assess
    expect(config.app).toMatch(/tsx cdk\/app\.ts$/);
    expect(config).toMatchObject({ notices: false, versionReporting: false, context: { 'cli-telemetry': false } });
    expect(config.context['@aws-cdk/aws-lambda-nodejs:useLatestRuntimeVersion']).toBe(true);
  });
});
