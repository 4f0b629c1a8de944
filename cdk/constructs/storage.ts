import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { SqsDestination } from 'aws-cdk-lib/aws-s3-notifications';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { S3_SERVER_ACCESS_LOGS_USE_BUCKET_POLICY } from 'aws-cdk-lib/cx-api';
import { Construct } from 'constructs';
import { PropsValidator } from './validation.js';

/** Object-level actions {@link ScrapelineStorage.grantObjects} hands out. */
export type ObjectAction = 's3:GetObject' | 's3:PutObject';

/** Properties of {@link ScrapelineStorage}. */
export interface ScrapelineStorageProps {
  /** Queue notified (S3 `ObjectCreated`) of every object written under `recordsPrefix`. */
  readonly recordsQueue: sqs.IQueue;
  /** Key prefix whose new objects are notified to `recordsQueue`. @default 'records/' */
  readonly recordsPrefix?: string;
  /** Key prefix of the raw archive, expired by a lifecycle rule. @default 'raw/' */
  readonly rawPrefix?: string;
  /** Key prefix of short-lived scratch objects (a large run's finalization), expired after a day. @default 'scratch/' */
  readonly scratchPrefix?: string;
  /** Days a raw archive object is kept. @default 30 */
  readonly rawRetentionDays?: number;
  /**
   * Keep previous versions of overwritten or deleted objects. Datasets and run manifests are the only record of what
   * a site said on a given day (a rerun sees today's site), so an accidental delete or a faulty overwrite must be
   * recoverable; the pipeline's idempotent rewrites are rare, so the noncurrent versions cost little.
   * @default true
   */
  readonly versioned?: boolean;
  /** Days a noncurrent version is kept (raw/ noncurrent versions: 1 day). Only with `versioned`. @default 30 */
  readonly noncurrentVersionRetentionDays?: number;
  /** Bucket receiving the server access logs. @default a new bucket */
  readonly accessLogsBucket?: s3.IBucket;
  /** Days an access log object is kept in the bucket this construct creates. @default 90 */
  readonly accessLogsRetentionDays?: number;
}

/**
 * The pipeline's bucket (raw archive, records, datasets, quarantine, run manifests): encrypted (SSE-S3), no public
 * access, TLS only, versioned, raw archive expiring after a number of days, server access logs in a separate
 * bucket, and an `ObjectCreated` notification of new records objects to the post-processing queue.
 * Both buckets are retained when the stack is deleted.
 */
export class ScrapelineStorage extends Construct {
  /** The pipeline's bucket. */
  readonly bucket: s3.Bucket;
  /** Where the pipeline bucket's server access logs go. */
  readonly accessLogsBucket: s3.IBucket;
  /** Roles and prefixes whose cdk-nag finding is acknowledged already (`<role path> <prefix>`). */
  readonly #acknowledged = new Set<string>();

  constructor(scope: Construct, id: string, props: ScrapelineStorageProps) {
    super(scope, id);
    const recordsPrefix = props.recordsPrefix ?? 'records/';
    const rawPrefix = props.rawPrefix ?? 'raw/';
    const scratchPrefix = props.scratchPrefix ?? 'scratch/';
    const versioned = props.versioned ?? true;
    const rawRetentionDays = props.rawRetentionDays ?? 30;
    const noncurrentDays = props.noncurrentVersionRetentionDays ?? 30;
    const accessLogsDays = props.accessLogsRetentionDays ?? 90;

    const validator = new PropsValidator(`ScrapelineStorage (${id})`);
    for (const [name, prefix] of [
      ['recordsPrefix', recordsPrefix],
      ['rawPrefix', rawPrefix],
      ['scratchPrefix', scratchPrefix],
    ] as const) {
      validator.check(
        /^[A-Za-z0-9][A-Za-z0-9._-]*\/$/.test(prefix),
        `${name} must be one folder name ending in "/", got "${prefix}"`,
      );
    }
    validator.check(recordsPrefix !== rawPrefix, `recordsPrefix and rawPrefix must differ, both are "${rawPrefix}"`);
    validator.check(
      scratchPrefix !== rawPrefix && scratchPrefix !== recordsPrefix,
      `scratchPrefix must differ from rawPrefix and recordsPrefix, got "${scratchPrefix}"`,
    );
    validator.integer('rawRetentionDays', rawRetentionDays, 1, 36_500);
    validator.integer('noncurrentVersionRetentionDays', noncurrentDays, 1, 36_500);
    validator.check(
      versioned || props.noncurrentVersionRetentionDays === undefined,
      'noncurrentVersionRetentionDays applies only to a versioned bucket (versioned is false)',
    );
    validator.integer('accessLogsRetentionDays', accessLogsDays, 1, 36_500);
    validator.check(
      props.accessLogsBucket === undefined || props.accessLogsRetentionDays === undefined,
      'accessLogsRetentionDays applies only to the access logs bucket this construct creates (accessLogsBucket is given)',
    );
    validator.throwIfInvalid();

    // Log delivery is allowed by a bucket policy, not an ACL (which BUCKET_OWNER_ENFORCED forbids), whatever the app's flags.
    this.node.setContext(S3_SERVER_ACCESS_LOGS_USE_BUCKET_POLICY, true);
    if (props.accessLogsBucket) {
      this.accessLogsBucket = props.accessLogsBucket;
    } else {
      const logs = new s3.Bucket(this, 'AccessLogs', {
        // Log delivery writes with SSE-S3 only.
        encryption: s3.BucketEncryption.S3_MANAGED,
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        enforceSSL: true,
        removalPolicy: RemovalPolicy.RETAIN,
        lifecycleRules: [
          {
            id: 'expire-access-logs',
            expiration: Duration.days(accessLogsDays),
            abortIncompleteMultipartUploadAfter: Duration.days(7),
          },
        ],
      });
      // cdk-nag S1 accepts a bucket that is another bucket's access log destination; its own access is not logged.
      this.accessLogsBucket = logs;
    }

    const lifecycleRules: s3.LifecycleRule[] = [
      {
        id: 'expire-raw-archive',
        prefix: rawPrefix,
        expiration: Duration.days(rawRetentionDays),
        ...(versioned ? { noncurrentVersionExpiration: Duration.days(1) } : {}),
      },
      {
        // A large run's finalization scratch is read back within the invocation that wrote it: a day is plenty.
        id: 'expire-scratch',
        prefix: scratchPrefix,
        expiration: Duration.days(1),
        ...(versioned ? { noncurrentVersionExpiration: Duration.days(1) } : {}),
      },
      {
        id: versioned ? 'expire-noncurrent-versions' : 'abort-incomplete-uploads',
        abortIncompleteMultipartUploadAfter: Duration.days(7),
        ...(versioned ? { noncurrentVersionExpiration: Duration.days(noncurrentDays), expiredObjectDeleteMarker: true } : {}),
      },
    ];
    this.bucket = new s3.Bucket(this, 'Bucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      versioned,
      lifecycleRules,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: 'pipeline-bucket/',
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.bucket.addEventNotification(s3.EventType.OBJECT_CREATED, new SqsDestination(props.recordsQueue), {
      prefix: recordsPrefix,
    });
    this.#acknowledgeNotificationsHandler();
  }

  /**
   * Grants `actions` on the objects under `prefix` (e.g. `'raw/'`) and nothing else: no bucket-level action, no
   * other prefix. The `prefix/*` resource is the point of the grant, so its cdk-nag IAM5 finding is acknowledged
   * on the grantee's role.
   */
  grantObjects(grantee: iam.IGrantable, prefix: string, ...actions: ObjectAction[]): iam.Grant {
    const validator = new PropsValidator(`ScrapelineStorage (${this.node.id}) grant`);
    validator.check(
      /^[A-Za-z0-9][A-Za-z0-9._-]*\/$/.test(prefix),
      `prefix must be one folder name ending in "/", got "${prefix}"`,
    );
    validator.check(actions.length > 0, 'actions must name at least one action');
    validator.throwIfInvalid();
    const grant = this.bucket.grants.actionsOnObjectKeys(grantee, `${prefix}*`, ...actions);
    const principal = grantee.grantPrincipal;
    // A role granted reading and writing the same prefix has one finding for it: acknowledged once.
    if (Construct.isConstruct(principal) && !this.#acknowledged.has(`${principal.node.path} ${prefix}`)) {
      this.#acknowledged.add(`${principal.node.path} ${prefix}`);
      const bucketId = Stack.of(this).getLogicalId(this.bucket.node.defaultChild as s3.CfnBucket);
      Validations.of(principal).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${prefix}*]`,
        reason: `Scoped to one key prefix: object reads or writes (s3:GetObject, s3:PutObject) under ${prefix} only (keys are made per job, run and batch).`,
      });
    }
    return grant;
  }

  /**
   * CDK configures bucket notifications through a singleton custom resource whose Lambda function and role it owns;
   * their findings are acknowledged here, where the notification that creates them is added.
   */
  #acknowledgeNotificationsHandler(): void {
    const stack = Stack.of(this);
    const handler = stack.node.children.find((child) => child.node.id.startsWith('BucketNotificationsHandler'));
    if (!handler) return;
    Validations.of(handler).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      reason:
        'CDK-owned custom resource that writes the bucket notification configuration during deployments; the managed policy only lets it write its logs.',
    });
  }
}
