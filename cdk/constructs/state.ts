import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { STATE_TABLE_ATTRIBUTES } from '../../shared/ports.js';
import { PropsValidator } from './validation.js';

/** Properties of {@link StateTable}. */
export interface StateTableProps {
  /** Attribute holding the epoch second after which DynamoDB may delete an item. @default 'expiresAt' */
  readonly timeToLiveAttribute?: string;
  /**
   * Encryption at rest. `AWS_MANAGED` (the `aws/dynamodb` KMS key) makes key use visible in CloudTrail at a
   * negligible cost; `CUSTOMER_MANAGED` is not offered (the state is rebuilt by rerunning a job).
   * @default dynamodb.TableEncryption.AWS_MANAGED
   */
  readonly encryption?: dynamodb.TableEncryption.AWS_MANAGED | dynamodb.TableEncryption.DEFAULT;
  /** Continuous backups for 35 days. @default true */
  readonly pointInTimeRecovery?: boolean;
  /** Refuse `DeleteTable` until the protection is turned off. @default true */
  readonly deletionProtection?: boolean;
}

/**
 * The pipeline's state (run ledgers, URL frontier, validators, item hashes, host politeness): one on-demand table
 * with a string partition key `pk` and sort key `sk`, items expiring through TTL, point-in-time recovery, encryption
 * at rest. Retained when the stack is deleted.
 */
export class StateTable extends Construct {
  /** The table. */
  readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string, props: StateTableProps = {}) {
    super(scope, id);
    const { partitionKey, sortKey, timeToLive } = STATE_TABLE_ATTRIBUTES;
    const ttl = props.timeToLiveAttribute ?? timeToLive;
    const encryption = props.encryption ?? dynamodb.TableEncryption.AWS_MANAGED;
    const validator = new PropsValidator(`StateTable (${id})`);
    validator.check(/^[A-Za-z_][A-Za-z0-9_.-]{0,254}$/.test(ttl), `timeToLiveAttribute must be an attribute name, got "${ttl}"`);
    validator.check(ttl !== partitionKey && ttl !== sortKey, `timeToLiveAttribute must not be a key attribute, got "${ttl}"`);
    validator.check(
      encryption === dynamodb.TableEncryption.AWS_MANAGED || encryption === dynamodb.TableEncryption.DEFAULT,
      `encryption must be AWS_MANAGED or DEFAULT, got "${encryption}"`,
    );
    validator.throwIfInvalid();

    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: sortKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: ttl,
      encryption,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: props.pointInTimeRecovery ?? true },
      deletionProtection: props.deletionProtection ?? true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }
}
