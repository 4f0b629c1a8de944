import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it } from 'vitest';
import type { CloudServices } from '../cli/cloud.js';
import { EXIT } from '../cli/common.js';
import { main } from '../cli/main.js';
import { commandSql } from '../cli/sql.js';
import { capture } from './support/cli-io.js';

/** Cloud services whose CloudFormation answers DescribeStacks as `answer` does; nothing else is reachable. */
function cloudWith(answer: (mock: ReturnType<typeof mockClient>) => void): CloudServices {
  const client = new CloudFormationClient({ region: 'eu-west-1' });
  answer(mockClient(client));
  return {
    aws: () => {
      throw new Error('no AWS clients in this test');
    },
    cloudFormation: () => client,
  };
}

const denied = () =>
  Object.assign(new Error('User is not authorized to perform: cloudformation:DescribeStacks'), { name: 'AccessDenied' });

describe('Function: main, errors against a stack', () => {
  it('maps a stack AWS refuses to describe to exit code 1, as sql does', async () => {
    // Prepare
    const cloud = cloudWith((mock) => mock.on(DescribeStacksCommand).rejects(denied()));
    const runs = capture();
    const sql = capture();

    // Act
    const runsCode = await main(['runs', 'books', '--stack', 'Locked'], runs.io, cloud);
    const sqlCode = await commandSql(['SELECT 1', '--stack', 'Locked'], sql.io, {
      createClients: () => ({
        cloudFormation: cloud.cloudFormation(),
        athena: { destroy() {} } as never,
        glue: { destroy() {} } as never,
      }),
    });

    // Assess
    expect(runsCode).toBe(EXIT.error);
    expect(sqlCode).toBe(EXIT.error);
    expect(runs.stderr()).toBe('error: User is not authorized to perform: cloudformation:DescribeStacks\n');
    expect(sql.stderr()).toBe(runs.stderr());
  });

  it('maps a stack that does not exist to exit code 2, naming the region, for every command against a stack', async () => {
    // Prepare
    const cloud = cloudWith((mock) =>
      mock
        .on(DescribeStacksCommand)
        .rejects(Object.assign(new Error('Stack with id Nope does not exist'), { name: 'ValidationError' })),
    );
    const expected = 'stack "Nope" does not exist in eu-west-1 (deploy it with npx cdk deploy, or pass --region or --stack)\n';

    // Act & Assess
    for (const argv of [
      ['runs', 'books', '--stack', 'Nope'],
      ['query', 'books', '--stack', 'Nope'],
      ['run', 'books', '--stack', 'Nope'],
      ['redrive', '--stack', 'Nope'],
    ]) {
      const out = capture();
      expect(await main(argv, out.io, cloud)).toBe(EXIT.usage);
      expect(out.stderr()).toBe(expected);
    }
  });

  it('maps a stack without the scrapeline outputs to exit code 2, naming them', async () => {
    // Prepare
    const cloud = cloudWith((mock) =>
      mock.on(DescribeStacksCommand).resolves({
        Stacks: [
          {
            StackName: 'Other',
            StackStatus: 'CREATE_COMPLETE',
            CreationTime: new Date(),
            Outputs: [{ OutputKey: 'BucketName', OutputValue: 'b' }],
          },
        ],
      }),
    );
    const out = capture();

    // Act
    const code = await main(['runs', 'books', '--stack', 'Other'], out.io, cloud);

    // Assess
    expect(code).toBe(EXIT.usage);
    expect(out.stderr()).toContain('stack "Other" has no output FetchQueueUrl, ParseQueueUrl');
  });
});
