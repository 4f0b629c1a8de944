/**
 * Cost model: USD per million pages at AWS list prices (shared/design/architecture.md), from the AWS requests a
 * run makes. Needs the AWS adapters (shared/aws/) and the local peers (test/support/aws-peers.ts).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './common.js';

/** List prices, us-east-1 (architecture.md; check before quoting). */
export const PRICES = {
  s3PutPer1000: 0.005,
  s3GetPer1000: 0.0004,
  sqsPerMillion: 0.4,
  lambdaPerMillionInvocations: 0.2,
  lambdaPerGbSecond: 0.0000133334,
  dynamoWritePerMillion: 0.625,
  dynamoReadPerMillion: 0.125,
} as const;

const REQUIRED = [
  'shared/aws/s3-object-store.ts',
  'shared/aws/sqs-queue.ts',
  'shared/aws/dynamo-state-store.ts',
  'test/support/aws-peers.ts',
];

export interface CostReport {
  readonly skipped?: string;
  readonly usdPerMillionPages?: number;
  readonly summary?: string;
}

export async function measureCost(log: (message: string) => void): Promise<CostReport> {
  const missing = REQUIRED.filter((file) => !existsSync(join(REPO_ROOT, file)));
  if (missing.length > 0) {
    log(`cost: skipped, missing ${missing.join(', ')}`);
    return { skipped: `AWS adapters/peers missing (${missing.join(', ')})` };
  }
  return { skipped: 'TODO: drive a run through the AWS adapters against the local peers (see bench/README.md)' };
}
