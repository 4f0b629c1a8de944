import {
  type CloudFormationClient,
  DescribeStacksCommand,
  type DescribeStacksCommandOutput,
} from '@aws-sdk/client-cloudformation';
import { StackLookupError } from './common.js';

/**
 * Reads the outputs of a deployed stack through CloudFormation: the one lookup every command against a stack uses.
 * Any other error (credentials, permissions, throttling) is AWS refusing the call: it is rethrown (exit code 1).
 *
 * @throws {StackLookupError} when the stack does not exist, naming the region looked in
 */
export async function readStackOutputs(client: CloudFormationClient, stackName: string): Promise<Record<string, string>> {
  let stacks: DescribeStacksCommandOutput;
  try {
    stacks = await client.send(new DescribeStacksCommand({ StackName: stackName }));
  } catch (error) {
    if (error instanceof Error && error.name === 'ValidationError' && /does not exist/i.test(error.message)) {
      const region = await client.config.region().catch(() => 'the default region');
      throw new StackLookupError(
        `stack "${stackName}" does not exist in ${region} (deploy it with npx cdk deploy, or pass --region or --stack)`,
      );
    }
    throw error;
  }
  const stack = stacks.Stacks?.[0];
  if (!stack) throw new StackLookupError(`stack "${stackName}" was not found`);
  const outputs: Record<string, string> = {};
  for (const output of stack.Outputs ?? []) {
    if (output.OutputKey && output.OutputValue !== undefined) outputs[output.OutputKey] = output.OutputValue;
  }
  return outputs;
}
