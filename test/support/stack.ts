import { CloudFormationClient, DescribeStacksCommand, type DescribeStacksCommandOutput } from '@aws-sdk/client-cloudformation';
import { mockClient } from 'aws-sdk-client-mock';
import type { PeerQueue } from './aws-peers.js';

/**
 * A CloudFormation client (mocked: there is no wire-level peer) that describes one deployed scrapeline stack with
 * the given bucket and queues as its outputs, and no other stack.
 */
export function stackWithOutputs(
  stackName: string,
  resources: { bucket: string; fetch: PeerQueue; parse: PeerQueue; postprocess: PeerQueue },
): CloudFormationClient {
  const client = new CloudFormationClient({ region: 'us-east-1' });
  const outputs = {
    BucketName: resources.bucket,
    FetchQueueUrl: resources.fetch.url,
    ParseQueueUrl: resources.parse.url,
    PostprocessQueueUrl: resources.postprocess.url,
    FetchDeadLetterQueueUrl: resources.fetch.deadLetter.url,
    ParseDeadLetterQueueUrl: resources.parse.deadLetter.url,
    PostprocessDeadLetterQueueUrl: resources.postprocess.deadLetter.url,
  };
  // The catch-all first: a later, more specific behaviour takes precedence in aws-sdk-client-mock.
  mockClient(client)
    .on(DescribeStacksCommand)
    // As CloudFormation answers DescribeStacks for a stack that is not there.
    .rejects(Object.assign(new Error('Stack with id does not exist'), { name: 'ValidationError' }))
    .on(DescribeStacksCommand, { StackName: stackName })
    .resolves(describedStack(stackName, outputs));
  return client;
}

/** CloudFormation's answer to DescribeStacks for one deployed stack with the given outputs. */
export function describedStack(stackName: string, outputs: Readonly<Record<string, string>>): DescribeStacksCommandOutput {
  return {
    $metadata: {},
    Stacks: [
      {
        StackName: stackName,
        StackStatus: 'CREATE_COMPLETE',
        CreationTime: new Date(),
        Outputs: Object.entries(outputs).map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue })),
      },
    ],
  };
}
