import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Stack, Validations } from 'aws-cdk-lib';
import { Annotations, Match, type Template } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../cdk/app.js';
import { Analytics, type AnalyticsProps } from '../../cdk/constructs/analytics.js';
import { PropsValidationError } from '../../cdk/constructs/validation.js';
import type { ScrapelineStack } from '../../cdk/stack.js';
import { loadJobs } from '../../shared/job/load.js';
import type { Job } from '../../shared/job/schema.js';
import { cleanUp, defined, jobsDir, logicalId, synthStack, tempDir, testApp, testAppProps } from './support.js';

/** Two jobs: a shop with two templates sharing fields, and a news site with a list and a date. */
const JOBS: Readonly<Record<string, string>> = {
  'shop-de.yaml': [
    'name: shop-de',
    'schedule: rate(1 day)',
    'start:',
    '  urls: [https://shop.example/]',
    '  template: product',
    'templates:',
    '  product:',
    '    key: sku',
    '    fields:',
    '      sku: .sku',
    '      title: h1',
    '      price: { selector: .price, type: number }',
    '      inStock: { selector: .stock, extract: exists, type: boolean }',
    '  offer:',
    '    key: sku',
    '    fields:',
    '      sku: .sku',
    '      price: { selector: .price, type: integer }',
    '      seller: .seller',
    '',
  ].join('\n'),
  'news.json': JSON.stringify({
    name: 'news',
    start: { urls: ['https://news.example/'], template: 'article' },
    templates: {
      article: {
        key: 'url',
        fields: {
          url: { from: 'url', type: 'url' },
          published: { selector: 'time', attr: 'datetime', type: 'date' },
          tags: { selector: '.tag', many: true },
          words: { selector: '.words', type: 'integer' },
        },
      },
    },
  }),
};

let jobs: Job[];
let stack: ScrapelineStack;
let template: Template;

beforeAll(async () => {
  // Prepare
  jobs = await loadJobs(jobsDir(JOBS), tmpdir());
  ({ stack, template } = synthStack({ jobs }));
});
afterAll(cleanUp);

/** What the tests read of an `AWS::Glue::Table`. */
interface GlueTableProperties {
  readonly CatalogId: unknown;
  readonly DatabaseName: unknown;
  readonly TableInput: {
    readonly Name: string;
    readonly Parameters: Record<string, unknown>;
    readonly StorageDescriptor: { readonly Columns: { Name: string; Type: string }[]; readonly Location: unknown };
  };
}

/** The `AWS::Glue::Table` resources, by table name. */
function glueTables(from: Template): Map<string, GlueTableProperties> {
  const tables = new Map<string, GlueTableProperties>();
  for (const resource of Object.values(from.findResources('AWS::Glue::Table'))) {
    const properties = resource.Properties as GlueTableProperties;
    tables.set(properties.TableInput.Name, properties);
  }
  return tables;
}

const columns = (table: GlueTableProperties | undefined) =>
  defined(table, 'the table').TableInput.StorageDescriptor.Columns.map(({ Name, Type }) => `${Name} ${Type}`);

const bucketRef = () => ({ Ref: logicalId(stack.storage.bucket) });

describe('Class: Analytics', () => {
  describe('Glue catalog', () => {
    it('makes one database named after the stack, in this account', () => {
      // Assess
      template.resourceCountIs('AWS::Glue::Database', 1);
      template.hasResourceProperties('AWS::Glue::Database', {
        CatalogId: { Ref: 'AWS::AccountId' },
        DatabaseInput: { Name: 'test' },
      });
      expect(stack.resolve(stack.analytics.databaseName)).toEqual({ Ref: logicalId(stack.analytics.database) });
    });

    it('makes a dataset and a changes table per job, in that database', () => {
      // Act
      const tables = glueTables(template);

      // Assess
      expect([...tables.keys()].sort()).toEqual(['news', 'news_changes', 'shop_de', 'shop_de_changes']);
      for (const table of tables.values()) {
        expect(table.DatabaseName).toEqual({ Ref: logicalId(stack.analytics.database) });
        expect(table.CatalogId).toEqual({ Ref: 'AWS::AccountId' });
      }
      expect(Object.fromEntries(stack.analytics.tableNames)).toEqual({
        'shop-de': { dataset: 'shop_de', changes: 'shop_de_changes' },
        news: { dataset: 'news', changes: 'news_changes' },
      });
    });

    it('gives the dataset tables the union of the template fields (a type conflict as string) and the metadata columns', () => {
      // Act
      const tables = glueTables(template);

      // Assess
      expect(columns(tables.get('shop_de'))).toEqual([
        'sku string',
        'title string',
        'price string',
        'instock boolean',
        'seller string',
        '_key string',
        '_url string',
        '_runid string',
        '_fetchedat string',
      ]);
      expect(columns(tables.get('news'))).toEqual([
        'url string',
        'published string',
        'tags array<string>',
        'words bigint',
        '_key string',
        '_url string',
        '_runid string',
        '_fetchedat string',
      ]);
    });

    it('gives the changes tables the item and its diff as structs', () => {
      // Act
      const tables = glueTables(template);

      // Assess
      expect(columns(tables.get('news_changes'))).toEqual([
        'type string',
        'key string',
        'runid string',
        'url string',
        'data struct<url:string,published:string,tags:array<string>,words:bigint>',
        'diff struct<url:struct<before:string,after:string>,published:struct<before:string,after:string>,tags:struct<before:array<string>,after:array<string>>,words:struct<before:bigint,after:bigint>>',
      ]);
    });

    it('reads gzip JSON lines from the pipeline bucket, with dt partitions projected', () => {
      // Act
      const table = defined(glueTables(template).get('shop_de'), 'the shop_de table');
      const changes = defined(glueTables(template).get('shop_de_changes'), 'the shop_de_changes table');

      // Assess
      expect(table.TableInput).toMatchObject({
        TableType: 'EXTERNAL_TABLE',
        PartitionKeys: [{ Name: 'dt', Type: 'string' }],
        Parameters: {
          classification: 'json',
          compressionType: 'gzip',
          'projection.enabled': 'true',
          'projection.dt.type': 'date',
          'projection.dt.format': 'yyyy-MM-dd',
          'projection.dt.range': '2024-01-01,NOW',
          'projection.dt.interval': '1',
          'projection.dt.interval.unit': 'DAYS',
          // biome-ignore lint/suspicious/noTemplateCurlyInString: Athena's own placeholder, written as it is
          'storage.location.template': { 'Fn::Join': ['', ['s3://', bucketRef(), '/datasets/shop-de/dt=${dt}/']] },
        },
        StorageDescriptor: {
          Location: { 'Fn::Join': ['', ['s3://', bucketRef(), '/datasets/shop-de/']] },
          InputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
          OutputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
          Compressed: true,
          SerdeInfo: {
            SerializationLibrary: 'org.openx.data.jsonserde.JsonSerDe',
            Parameters: { 'case.insensitive': 'true' },
          },
        },
      });
      expect(changes.TableInput.StorageDescriptor.Location).toEqual({
        'Fn::Join': ['', ['s3://', bucketRef(), '/changes/shop-de/']],
      });
      expect(changes.TableInput.Parameters['storage.location.template']).toEqual({
        // biome-ignore lint/suspicious/noTemplateCurlyInString: Athena's own placeholder, written as it is
        'Fn::Join': ['', ['s3://', bucketRef(), '/changes/shop-de/dt=${dt}/']],
      });
    });

    it('warns at synth about fields Athena cannot read as written', async () => {
      // Prepare
      const cased = await loadJobs(
        jobsDir({
          'cased.json': JSON.stringify({
            name: 'cased',
            start: { urls: ['https://cased.example/'] },
            templates: { item: { key: 'id', fields: { id: '.id', Price: '.a', price: '.b' } } },
          }),
        }),
        tmpdir(),
      );

      // Act
      const { stack: casedStack } = synthStack({ jobs: cased });

      // Assess
      Annotations.fromStack(casedStack).hasWarning(
        '/Test/Analytics',
        Match.stringLikeRegexp('fields Price, price are one column "price" in Athena'),
      );
    });
  });

  describe('Athena workgroup', () => {
    it('enforces engine version 3, encrypted results in the results bucket and a 10 GiB scan cutoff per query', () => {
      // Assess
      template.resourceCountIs('AWS::Athena::WorkGroup', 1);
      template.hasResourceProperties('AWS::Athena::WorkGroup', {
        Name: 'Test',
        State: 'ENABLED',
        WorkGroupConfiguration: {
          EnforceWorkGroupConfiguration: true,
          EngineVersion: { SelectedEngineVersion: 'Athena engine version 3' },
          BytesScannedCutoffPerQuery: 10 * 1024 ** 3,
          PublishCloudWatchMetricsEnabled: true,
          ResultConfiguration: {
            OutputLocation: { 'Fn::Join': ['', ['s3://', { Ref: logicalId(stack.analytics.resultsBucket) }, '/results/']] },
            EncryptionConfiguration: { EncryptionOption: 'SSE_S3' },
            ExpectedBucketOwner: { Ref: 'AWS::AccountId' },
          },
        },
      });
      expect(stack.resolve(stack.analytics.workGroupName)).toEqual({ Ref: logicalId(stack.analytics.workGroup) });
    });

    it('takes the cutoff, the result retention and the first projected day from the stack props', () => {
      // Act
      const { template: custom } = synthStack({
        jobs,
        analytics: { bytesScannedCutoffPerQuery: 100_000_000, resultsRetentionDays: 2, projectionStart: '2026-01-01' },
      });

      // Assess
      custom.hasResourceProperties('AWS::Athena::WorkGroup', {
        WorkGroupConfiguration: Match.objectLike({ BytesScannedCutoffPerQuery: 100_000_000 }),
      });
      custom.hasResourceProperties('AWS::S3::Bucket', {
        LifecycleConfiguration: { Rules: [Match.objectLike({ Id: 'expire-query-results', ExpirationInDays: 2 })] },
      });
      for (const table of glueTables(custom).values()) {
        expect(table.TableInput.Parameters['projection.dt.range']).toBe('2026-01-01,NOW');
      }
    });
  });

  describe('Results bucket', () => {
    it('is encrypted, private, TLS only, access-logged, expires results after 7 days, and is retained', () => {
      // Assess
      template.hasResource('AWS::S3::Bucket', {
        DeletionPolicy: 'Retain',
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
          LoggingConfiguration: {
            DestinationBucketName: { Ref: logicalId(stack.storage.accessLogsBucket) },
            LogFilePrefix: 'athena-results-bucket/',
          },
          LifecycleConfiguration: {
            Rules: [
              {
                Id: 'expire-query-results',
                Status: 'Enabled',
                ExpirationInDays: 7,
                AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
              },
            ],
          },
        },
      });
      template.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: { Ref: logicalId(stack.analytics.resultsBucket) },
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ]),
        },
      });
    });

    it('has its access logs delivered under a bucket policy of the log bucket, not an ACL', () => {
      // Assess
      template.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: { Ref: logicalId(stack.storage.accessLogsBucket) },
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Principal: { Service: 'logging.s3.amazonaws.com' },
              Condition: Match.objectLike({
                ArnLike: { 'aws:SourceArn': { 'Fn::GetAtt': [logicalId(stack.analytics.resultsBucket), 'Arn'] } },
              }),
            }),
          ]),
        },
      });
    });
  });

  describe('Stack outputs', () => {
    it('name the workgroup and the database for scrapeline sql', () => {
      // Assess
      template.hasOutput('AthenaWorkgroup', { Value: { Ref: logicalId(stack.analytics.workGroup) } });
      template.hasOutput('GlueDatabase', { Value: { Ref: logicalId(stack.analytics.database) } });
    });
  });

  describe('cdk-nag', () => {
    it('passes the AwsSolutions checks with nothing acknowledged', () => {
      // Prepare
      const app = testApp();
      Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
      const alone = new Stack(app, 'Alone');
      const logs = new s3.Bucket(alone, 'Logs', {
        encryption: s3.BucketEncryption.S3_MANAGED,
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        enforceSSL: true,
      });
      const data = s3.Bucket.fromBucketName(alone, 'Data', 'pipeline');

      // Act
      const analytics = new Analytics(alone, 'Analytics', { jobs, dataBucket: data, accessLogsBucket: logs });

      // Assess
      expect(() => app.synth()).not.toThrow();
      const acknowledged = analytics.node
        .findAll()
        .flatMap((construct) => construct.node.metadata)
        .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY);
      expect(acknowledged).toEqual([]);
    });

    it('lets the whole app synthesize with the analytics construct, cdk-nag included', async () => {
      // Prepare
      const out = tempDir();

      // Act
      const { app } = await createApp({
        jobsDir: jobsDir(JOBS),
        cwd: out,
        jobsModule: join(out, 'jobs.generated.ts'),
        appProps: testAppProps(),
      });

      // Assess
      expect(() => app.synth()).not.toThrow();
    });
  });

  describe('Props', () => {
    it('lists every invalid prop in one error', () => {
      // Prepare
      const props: AnalyticsProps = {
        jobs: [
          { name: 'shop', templates: {} },
          { name: 'shop-changes', templates: {} },
          { name: 'shop', templates: {} },
          { name: 'Bad_Name', templates: {} },
        ],
        dataBucket: s3.Bucket.fromBucketName(new Stack(testApp(), 'Ignored'), 'Data', 'pipeline'),
        accessLogsBucket: s3.Bucket.fromBucketName(new Stack(testApp(), 'Ignored2'), 'Logs', 'logs'),
        bytesScannedCutoffPerQuery: 1_000_000,
        resultsRetentionDays: 0,
        projectionStart: '2024-13-01',
        databaseName: 'Scrapeline-DB',
        workGroupName: 'no spaces',
      };

      // Act
      let problems: readonly string[] = [];
      try {
        new Analytics(new Stack(testApp(), 'Invalid'), 'Analytics', props);
      } catch (error) {
        expect(error).toBeInstanceOf(PropsValidationError);
        expect((error as Error).message).toMatch(/^Invalid Analytics \(Analytics\) props:/);
        problems = (error as PropsValidationError).problems;
      }

      // Assess
      expect(problems).toEqual([
        'jobs[2].name "shop" is not unique',
        'jobs[3].name must be a job name, got "Bad_Name"',
        'jobs: table name "shop_changes" would be the changes table of job "shop" and the dataset table of job "shop-changes": rename one of the jobs',
        'bytesScannedCutoffPerQuery must be an integer from 10000000 to 9007199254740991, got 1000000',
        'resultsRetentionDays must be an integer from 1 to 36500, got 0',
        'projectionStart must be a date as YYYY-MM-DD, got "2024-13-01"',
        'databaseName must be lowercase letters, digits and "_" (Athena cannot use other names), got "Scrapeline-DB"',
        'workGroupName must be 1 to 128 letters, digits, ".", "_" or "-", got "no spaces"',
      ]);
    });
  });
});
