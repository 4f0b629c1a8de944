import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { type AwsClients, createAwsClients } from '../shared/aws/clients.js';
import { S3ObjectStore } from '../shared/aws/s3-object-store.js';
import { SqsQueue } from '../shared/aws/sqs-queue.js';
import type { StartRunMessage } from '../shared/pipeline/messages.js';
import { runIdFor } from '../shared/pipeline/start.js';
import type { ObjectStore } from '../shared/ports.js';
import { QUEUE_STAGES, type QueueStage } from '../shared/stages.js';
import { StackLookupError, UsageError } from './common.js';
import { readStackOutputs } from './stack-outputs.js';

/** AWS clients the CLI uses against a deployed stack; tests inject clients pointed at local peers. */
export interface CloudServices {
  readonly aws: () => AwsClients;
  readonly cloudFormation: () => CloudFormationClient;
}

/** Clients from the SDK's usual configuration (profile, region, credentials chain), created on first use. */
export function defaultCloudServices(): CloudServices {
  let aws: AwsClients | undefined;
  let cloudFormation: CloudFormationClient | undefined;
  return {
    aws: () => {
      aws ??= createAwsClients();
      return aws;
    },
    cloudFormation: () => {
      cloudFormation ??= new CloudFormationClient({});
      return cloudFormation;
    },
  };
}

/** The stack outputs the CLI reads (keys kept stable by cdk/stack.ts). */
export interface StackOutputs {
  readonly BucketName: string;
  readonly FetchQueueUrl: string;
  readonly ParseQueueUrl: string;
  readonly PostprocessQueueUrl: string;
  readonly FetchDeadLetterQueueUrl: string;
  readonly ParseDeadLetterQueueUrl: string;
  readonly PostprocessDeadLetterQueueUrl: string;
}

const REQUIRED_OUTPUTS: readonly (keyof StackOutputs)[] = [
  'BucketName',
  'FetchQueueUrl',
  'ParseQueueUrl',
  'PostprocessQueueUrl',
  'FetchDeadLetterQueueUrl',
  'ParseDeadLetterQueueUrl',
  'PostprocessDeadLetterQueueUrl',
];

/**
 * Reads a deployed scrapeline stack's outputs through CloudFormation.
 *
 * @throws {StackLookupError} when the stack does not exist or lacks an output (exit code 2)
 */
export async function stackOutputs(services: CloudServices, stackName: string): Promise<StackOutputs> {
  const outputs = await readStackOutputs(services.cloudFormation(), stackName);
  const missing = REQUIRED_OUTPUTS.filter((key) => outputs[key] === undefined);
  if (missing.length > 0) {
    throw new StackLookupError(
      `stack "${stackName}" has no output ${missing.join(', ')}: is it a scrapeline stack, deployed with this version?`,
    );
  }
  return outputs as unknown as StackOutputs;
}

/** The object store a command reads: the stack's bucket, a named bucket, or `undefined` for the local store. */
export async function remoteStore(
  services: CloudServices,
  options: { stack?: string | undefined; bucket?: string | undefined },
): Promise<ObjectStore | undefined> {
  if (options.stack !== undefined && options.bucket !== undefined) throw new UsageError('give --stack or --bucket, not both');
  const bucket =
    options.bucket ?? (options.stack === undefined ? undefined : (await stackOutputs(services, options.stack)).BucketName);
  return bucket === undefined ? undefined : new S3ObjectStore({ client: services.aws().s3, bucket });
}

/** Starts a run on a deployed stack: the start message goes to its fetch queue, as the schedule's would. */
export async function startCloudRun(
  services: CloudServices,
  stackName: string,
  job: string,
  startUrls?: string[],
): Promise<string> {
  const outputs = await stackOutputs(services, stackName);
  const runId = runIdFor(Date.now(), `${job}:${Math.random()}`);
  const message: StartRunMessage = { type: 'start-run', job, runId, ...(startUrls ? { startUrls } : {}) };
  await new SqsQueue({ client: services.aws().sqs, queueUrl: outputs.FetchQueueUrl }).send([{ body: JSON.stringify(message) }]);
  return runId;
}

function queuesOf(outputs: StackOutputs, stage: QueueStage): { source: string; deadLetters: string } {
  switch (stage) {
    case 'fetch':
      return { source: outputs.FetchQueueUrl, deadLetters: outputs.FetchDeadLetterQueueUrl };
    case 'parse':
      return { source: outputs.ParseQueueUrl, deadLetters: outputs.ParseDeadLetterQueueUrl };
    case 'postprocess':
      return { source: outputs.PostprocessQueueUrl, deadLetters: outputs.PostprocessDeadLetterQueueUrl };
  }
}

/** Whether a dead letter belongs to a job: by its `job` field, or by the records key of an S3 notification. */
export function belongsTo(body: string, job: string | undefined): boolean {
  if (job === undefined) return true;
  try {
    const parsed = JSON.parse(body) as { job?: unknown; Records?: { s3?: { object?: { key?: string } } }[] };
    if (typeof parsed.job === 'string') return parsed.job === job;
    return (parsed.Records ?? []).some((record) => (record.s3?.object?.key ?? '').startsWith(`records/${job}/`));
  } catch {
    return false;
  }
}

/**
 * Moves dead letters back to the queues they came from, so they are tried again (after the cause was fixed).
 * Messages of other jobs are left in the dead-letter queue. Each message is sent before it is deleted: a crash
 * in between redrives it twice, which the pipeline's idempotent stages absorb.
 *
 * @returns messages moved, per stage
 */
export async function redrive(
  services: CloudServices,
  stackName: string,
  options: { job?: string; stages?: readonly QueueStage[]; maxMessages?: number } = {},
): Promise<Record<QueueStage, number>> {
  const outputs = await stackOutputs(services, stackName);
  const sqs = services.aws().sqs;
  const moved: Record<QueueStage, number> = { fetch: 0, parse: 0, postprocess: 0 };
  const limit = options.maxMessages ?? Number.POSITIVE_INFINITY;
  for (const stage of options.stages ?? QUEUE_STAGES) {
    const { source, deadLetters } = queuesOf(outputs, stage);
    const skipped = new Set<string>();
    while (moved[stage] < limit) {
      const received = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: deadLetters, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, VisibilityTimeout: 30 }),
      );
      const messages = (received.Messages ?? []).filter((message) => message.MessageId && !skipped.has(message.MessageId));
      if (messages.length === 0) break;
      const mine = messages.filter((message) => belongsTo(message.Body ?? '', options.job));
      for (const other of messages.filter((message) => !mine.includes(message))) skipped.add(other.MessageId ?? '');
      if (mine.length === 0) continue;
      const sent = await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: source,
          Entries: mine.map((message, index) => ({ Id: String(index), MessageBody: message.Body ?? '' })),
        }),
      );
      if ((sent.Failed ?? []).length > 0) {
        throw new Error(
          `redrive of ${stage}: ${sent.Failed?.length} message(s) could not be sent back; nothing of them was deleted`,
        );
      }
      await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: deadLetters,
          Entries: mine.map((message, index) => ({ Id: String(index), ReceiptHandle: message.ReceiptHandle ?? '' })),
        }),
      );
      moved[stage] += mine.length;
    }
  }
  return moved;
}
