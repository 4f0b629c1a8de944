import { Annotations, Duration, Names, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as athena from 'aws-cdk-lib/aws-athena';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { S3_SERVER_ACCESS_LOGS_USE_BUCKET_POLICY } from 'aws-cdk-lib/cx-api';
import { Construct } from 'constructs';
import {
  type AthenaTableDefinition,
  DEFAULT_PROJECTION_START,
  glueTableInput,
  jobTables,
  projectionStartProblem,
  type TableSourceJob,
  tableNameProblems,
} from '../../shared/athena/table.js';
import { PropsValidator } from './validation.js';

/** Athena refuses a per-query data usage control under 10 MB. */
const MIN_BYTES_SCANNED_CUTOFF = 10_000_000;

/** Properties of {@link Analytics}. */
export interface AnalyticsProps {
  /** Every job: each gets a dataset table and a changes table. */
  readonly jobs: readonly TableSourceJob[];
  /** The pipeline bucket, holding `datasets/` and `changes/`. */
  readonly dataBucket: s3.IBucket;
  /** Bucket receiving the server access logs of the results bucket. */
  readonly accessLogsBucket: s3.IBucket;
  /**
   * Bytes one query may scan before Athena cancels it (the workgroup's per-query data usage control), at least
   * 10 MB. Athena bills 5 USD per TB scanned, so the default caps a runaway query at about 0.05 USD.
   * @default 10 GiB
   */
  readonly bytesScannedCutoffPerQuery?: number;
  /** Days a query result is kept in the results bucket. @default 7 */
  readonly resultsRetentionDays?: number;
  /** First day (`YYYY-MM-DD`, UTC) the `dt` partition projection covers. @default '2024-01-01' */
  readonly projectionStart?: string;
  /** Name of the Glue database (lowercase letters, digits, `_`). @default the stack name, lowercased, `-` → `_` */
  readonly databaseName?: string;
  /** Name of the Athena workgroup. @default the stack name */
  readonly workGroupName?: string;
}

/** The tables of one job. */
export interface JobTables {
  readonly dataset: glue.CfnTable;
  readonly changes: glue.CfnTable;
}

/**
 * SQL over the pipeline's output: a Glue database with two tables per job (its curated dataset and its changes,
 * gzip NDJSON read by the OpenX JSON SerDe, `dt` partitions projected), and an Athena workgroup (engine version 3)
 * whose configuration is enforced: query results go to a bucket of their own, encrypted (SSE-S3), TLS only,
 * access-logged and expiring after a few days, and a query scanning more than a cutoff is cancelled.
 *
 * The results have their own bucket rather than a prefix of the pipeline bucket: they expire without touching that
 * bucket's versioning and lifecycle rules, and people who query get write access to results only, never to the
 * bucket the pipeline writes.
 */
export class Analytics extends Construct {
  /** The Glue database. */
  readonly database: glue.CfnDatabase;
  /** Its name (the `GlueDatabase` stack output). */
  readonly databaseName: string;
  /** The Athena workgroup. */
  readonly workGroup: athena.CfnWorkGroup;
  /** Its name (the `AthenaWorkgroup` stack output). */
  readonly workGroupName: string;
  /** Where the workgroup writes query results. */
  readonly resultsBucket: s3.Bucket;
  /** `s3://<results bucket>/results/` */
  readonly resultsLocation: string;
  /** The tables, by job name. */
  readonly tables: ReadonlyMap<string, JobTables>;
  /** The names of each job's tables, as Athena names them, by job name. */
  readonly tableNames: ReadonlyMap<string, { readonly dataset: string; readonly changes: string }>;
  /** The table definitions the tables were made from, by job name. */
  readonly definitions: ReadonlyMap<string, { readonly dataset: AthenaTableDefinition; readonly changes: AthenaTableDefinition }>;

  constructor(scope: Construct, id: string, props: AnalyticsProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const bytesScannedCutoff = props.bytesScannedCutoffPerQuery ?? 10 * 1024 ** 3;
    const retentionDays = props.resultsRetentionDays ?? 7;
    const projectionStart = props.projectionStart ?? DEFAULT_PROJECTION_START;
    const stackName = Token.isUnresolved(stack.stackName) ? Names.uniqueId(this) : stack.stackName;
    const databaseName = props.databaseName ?? stackName.toLowerCase().replace(/[^a-z0-9_]/g, '_');
    const workGroupName = props.workGroupName ?? stackName;

    const validator = new PropsValidator(`Analytics (${id})`);
    validator.jobs(props.jobs);
    for (const problem of tableNameProblems([...new Set(props.jobs.map((job) => job.name))].map((name) => ({ name }))))
      validator.check(false, `jobs: ${problem}`);
    validator.integer('bytesScannedCutoffPerQuery', bytesScannedCutoff, MIN_BYTES_SCANNED_CUTOFF, Number.MAX_SAFE_INTEGER);
    validator.integer('resultsRetentionDays', retentionDays, 1, 36_500);
    const startProblem = projectionStartProblem(projectionStart);
    validator.check(startProblem === undefined, startProblem ?? '');
    validator.check(
      Token.isUnresolved(databaseName) || /^[a-z0-9_]{1,255}$/.test(databaseName),
      `databaseName must be lowercase letters, digits and "_" (Athena cannot use other names), got "${databaseName}"`,
    );
    validator.check(
      Token.isUnresolved(workGroupName) || /^[A-Za-z0-9._-]{1,128}$/.test(workGroupName),
      `workGroupName must be 1 to 128 letters, digits, ".", "_" or "-", got "${workGroupName}"`,
    );
    validator.throwIfInvalid();

    // Log delivery is allowed by a bucket policy, not an ACL (which BUCKET_OWNER_ENFORCED forbids), whatever the app's flags.
    this.node.setContext(S3_SERVER_ACCESS_LOGS_USE_BUCKET_POLICY, true);
    this.resultsBucket = new s3.Bucket(this, 'Results', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      serverAccessLogsBucket: props.accessLogsBucket,
      serverAccessLogsPrefix: 'athena-results-bucket/',
      lifecycleRules: [
        {
          id: 'expire-query-results',
          expiration: Duration.days(retentionDays),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
      ],
      // Retained like every bucket of the stack; emptied by its lifecycle rule within resultsRetentionDays.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.resultsLocation = `s3://${this.resultsBucket.bucketName}/results/`;

    this.database = new glue.CfnDatabase(this, 'Database', {
      catalogId: stack.account,
      databaseInput: {
        // CloudFormation's generated names ("resource_name-random") are not valid Athena names: one is derived.
        name: databaseName,
        description: `Scrapeline datasets and changes of stack ${stackName}, one pair of tables per job`,
      },
    });
    this.databaseName = this.database.ref;

    const tables = new Map<string, JobTables>();
    const definitions = new Map<string, { dataset: AthenaTableDefinition; changes: AthenaTableDefinition }>();
    const warnings = new Set<string>();
    for (const job of props.jobs) {
      const defined = jobTables(job, { bucket: props.dataBucket.bucketName, projectionStart });
      definitions.set(job.name, defined);
      const table = (kind: 'Dataset' | 'Changes', definition: AthenaTableDefinition) => {
        for (const warning of definition.warnings) warnings.add(warning);
        return new glue.CfnTable(this, `${kind}-${job.name}`, {
          catalogId: stack.account,
          databaseName: this.database.ref,
          tableInput: glueTableInput(definition),
        });
      };
      tables.set(job.name, { dataset: table('Dataset', defined.dataset), changes: table('Changes', defined.changes) });
    }
    this.tables = tables;
    this.definitions = definitions;
    this.tableNames = new Map(
      [...definitions].map(([job, defined]) => [job, { dataset: defined.dataset.name, changes: defined.changes.name }]),
    );
    for (const warning of warnings) Annotations.of(this).addWarningV2('@scrapeline/analytics:unreadable-field', warning);

    this.workGroup = new athena.CfnWorkGroup(this, 'WorkGroup', {
      name: workGroupName,
      description: `Scrapeline queries of stack ${stackName}: results encrypted and expiring, scans capped per query`,
      state: 'ENABLED',
      // The workgroup belongs to the stack: deleting the stack deletes the named queries saved in it too.
      recursiveDeleteOption: true,
      workGroupConfiguration: {
        enforceWorkGroupConfiguration: true,
        engineVersion: { selectedEngineVersion: 'Athena engine version 3' },
        bytesScannedCutoffPerQuery: bytesScannedCutoff,
        publishCloudWatchMetricsEnabled: true,
        requesterPaysEnabled: false,
        resultConfiguration: {
          outputLocation: this.resultsLocation,
          encryptionConfiguration: { encryptionOption: 'SSE_S3' },
          expectedBucketOwner: stack.account,
        },
      },
    });
    this.workGroupName = this.workGroup.ref;
  }
}
