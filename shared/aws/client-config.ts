import type { S3ClientConfig } from '@aws-sdk/client-s3';

/** Options of the SDK clients the cloud adapters use ({@link clientConfig}, `createAwsClients`). */
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

/**
 * The configuration of one service's client, from the options every client shares. Kept apart from the clients
 * themselves (and from the SDK packages), so that a Lambda function creates only the clients it uses and loads no
 * other SDK package.
 *
 * @example
 * const s3 = new S3Client(clientConfig('s3', { region: 'eu-west-1' }));
 */
export function clientConfig(service: 's3', options?: AwsClientsOptions): S3ClientConfig;
export function clientConfig(
  service: 'sqs' | 'dynamodb' | 'secretsmanager' | 'ssm',
  options?: AwsClientsOptions,
): Record<string, unknown>;
export function clientConfig(
  service: 's3' | 'sqs' | 'dynamodb' | 'secretsmanager' | 'ssm',
  options: AwsClientsOptions = {},
): Record<string, unknown> {
  const endpoint = service === 's3' || service === 'sqs' || service === 'dynamodb' ? options.endpoints?.[service] : undefined;
  return {
    ...(options.region === undefined ? {} : { region: options.region }),
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
    ...(options.maxAttempts === undefined ? {} : { maxAttempts: options.maxAttempts }),
    ...(endpoint === undefined ? {} : { endpoint }),
    ...(service === 's3'
      ? {
          forcePathStyle: options.forcePathStyle ?? false,
          requestChecksumCalculation: options.requestChecksumCalculation ?? 'WHEN_REQUIRED',
        }
      : {}),
  };
}
