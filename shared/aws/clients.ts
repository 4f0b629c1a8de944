import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { type AwsClientsOptions, clientConfig } from './client-config.js';

export type { AwsClientsOptions } from './client-config.js';

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
  const s3 = new S3Client(clientConfig('s3', options));
  const sqs = new SQSClient(clientConfig('sqs', options));
  const dynamodb = new DynamoDBClient(clientConfig('dynamodb', options));
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
