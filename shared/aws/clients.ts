import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';

/** Options of {@link createAwsClients}. */
export interface AwsClientsOptions {
  /** @default the SDK's own resolution (`AWS_REGION`, then the shared config) */
  readonly region?: string;
  /**
   * Endpoint per service, for S3-, SQS- and DynamoDB-compatible servers.
   * @default the SDK's own resolution: AWS, or `AWS_ENDPOINT_URL_S3` / `_SQS` / `_DYNAMODB` when set
   */
  readonly endpoints?: { readonly s3?: string; readonly sqs?: string; readonly dynamodb?: string };
  /** Path-style S3 URLs (`endpoint/bucket/key`), as s3rver wants. @default false (IP-address endpoints are path-style anyway) */
  readonly forcePathStyle?: boolean;
  /**
   * When the S3 client computes request checksums. `WHEN_REQUIRED` keeps request bodies plain: with the SDK's
   * default (`WHEN_SUPPORTED`), streamed bodies are sent with aws-chunked framing that S3-compatible test servers
   * store verbatim. @default 'WHEN_REQUIRED'
   */
  readonly requestChecksumCalculation?: 'WHEN_REQUIRED' | 'WHEN_SUPPORTED';
  /** @default the SDK's default provider chain */
  readonly credentials?: S3ClientConfig['credentials'];
  /** Attempts per SDK call, retries of throttling and 5xx included. @default 3 (the SDK's) */
  readonly maxAttempts?: number;
}

/** The SDK clients the cloud adapters use. Create them once per process (module scope in a Lambda function). */
export interface AwsClients {
  readonly s3: S3Client;
  readonly sqs: SQSClient;
  readonly dynamodb: DynamoDBClient;
  /** Closes the clients' connection pools. */
  destroy(): void;
}

/**
 * Creates the S3, SQS and DynamoDB clients with one set of options.
 *
 * @example
 * const clients = createAwsClients({ region: 'eu-west-1' });
 * const store = new S3ObjectStore({ client: clients.s3, bucket: 'my-bucket' });
 */
export function createAwsClients(options: AwsClientsOptions = {}): AwsClients {
  const common = {
    ...(options.region === undefined ? {} : { region: options.region }),
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
    ...(options.maxAttempts === undefined ? {} : { maxAttempts: options.maxAttempts }),
  };
  const endpoint = (url: string | undefined) => (url === undefined ? {} : { endpoint: url });
  const s3 = new S3Client({
    ...common,
    ...endpoint(options.endpoints?.s3),
    forcePathStyle: options.forcePathStyle ?? false,
    requestChecksumCalculation: options.requestChecksumCalculation ?? 'WHEN_REQUIRED',
  });
  const sqs = new SQSClient({ ...common, ...endpoint(options.endpoints?.sqs) });
  const dynamodb = new DynamoDBClient({ ...common, ...endpoint(options.endpoints?.dynamodb) });
  return {
    s3,
    sqs,
    dynamodb,
    destroy() {
      s3.destroy();
      sqs.destroy();
      dynamodb.destroy();
    },
  };
}
