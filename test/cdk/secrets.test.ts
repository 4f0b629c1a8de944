import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { JobSecrets } from '../../cdk/constructs/secrets.js';
import { parseJob } from '../../shared/job/load.js';
import type { Job } from '../../shared/job/schema.js';
import { cleanUp, logicalId, resourcesFor, statementsOfRole, synthStack, twoJobs } from './support.js';

afterAll(cleanUp);

function job(name: string, input: Record<string, unknown>): Job {
  return parseJob({ name, start: { urls: [`https://${name}.example/`] }, ...input }, `${name}.yaml`);
}

/**
 * Two jobs naming four Secrets Manager secrets (one twice, two by a JSON key; a login's password, a proxy URL) and
 * one SSM parameter.
 */
const JOBS = [
  job('alpha', {
    fetch: {
      request: {
        headers: { Authorization: { secret: 'alpha/token' }, 'X-Key': { secret: 'shared/key', key: 'apiKey' } },
        cookies: { session: { secret: '/alpha/session', store: 'ssm' } },
      },
    },
  }),
  job('beta', {
    fetch: {
      request: { headers: { 'X-Key': { secret: 'shared/key', key: 'apiKey' } } },
      proxy: { urls: ['http://proxy.example:8080', { secret: 'beta/proxy' }] },
    },
    session: {
      login: { url: 'https://beta.example/login', fields: { user: 'me', password: { secret: 'beta/login', key: 'password' } } },
      success: { cookie: 'sid' },
      loggedOut: { status: [401] },
    },
  }),
];

const SECRET_ACTIONS = /^(secretsmanager|ssm|kms):/;

describe('Construct: JobSecrets', () => {
  it('grants the fetcher read access to exactly the secrets and parameters the jobs name', () => {
    // Act
    const { stack, template } = synthStack({ jobs: JOBS });
    const statements = statementsOfRole(template, logicalId(stack.fetcher.role));

    // Assess: one resource per secret, by name with the suffix Secrets Manager adds
    const secretArn = (name: string) =>
      JSON.stringify({
        'Fn::Join': [
          '',
          [
            'arn:',
            { Ref: 'AWS::Partition' },
            ':secretsmanager:',
            { Ref: 'AWS::Region' },
            ':',
            { Ref: 'AWS::AccountId' },
            `:secret:${name}-??????`,
          ],
        ],
      });
    const secrets = ['alpha/token', 'beta/login', 'beta/proxy', 'shared/key'];
    expect(resourcesFor(statements, 'secretsmanager:GetSecretValue').sort()).toEqual(secrets.map(secretArn).sort());
    const parameterArn = JSON.stringify({
      'Fn::Join': [
        '',
        [
          'arn:',
          { Ref: 'AWS::Partition' },
          ':ssm:',
          { Ref: 'AWS::Region' },
          ':',
          { Ref: 'AWS::AccountId' },
          ':parameter/alpha/session',
        ],
      ],
    });
    expect(resourcesFor(statements, 'ssm:GetParameter')).toEqual([parameterArn]);
    expect([...stack.secrets.secrets.keys()]).toEqual(secrets);
    expect([...stack.secrets.parameters.keys()]).toEqual(['/alpha/session']);
    // Nothing that reads secrets anywhere but on these resources.
    const reads = statements.filter((statement) => statement.actions.some((action) => SECRET_ACTIONS.test(action)));
    expect(reads.flatMap((statement) => statement.resources).sort()).toEqual([...secrets.map(secretArn), parameterArn].sort());
    // No other function may read them.
    for (const fn of [stack.parser, stack.postprocessor, stack.deadLetters, stack.watchdog]) {
      const actions = statementsOfRole(template, logicalId(fn.role)).flatMap((statement) => statement.actions);
      expect(
        actions.filter((action) => SECRET_ACTIONS.test(action)),
        fn.node.id,
      ).toEqual([]);
    }
  });

  it('grants nothing when no job names a secret', async () => {
    // Act
    const { stack, template } = synthStack({ jobs: await twoJobs() });

    // Assess
    const actions = statementsOfRole(template, logicalId(stack.fetcher.role)).flatMap((statement) => statement.actions);
    expect(actions.filter((action) => SECRET_ACTIONS.test(action))).toEqual([]);
    expect(stack.secrets.secrets.size + stack.secrets.parameters.size).toBe(0);
    expect(Template.fromStack(stack).findResources('AWS::SecretsManager::Secret')).toEqual({});
  });

  it('refuses a missing grantee', () => {
    // Assess
    const { stack } = synthStack({ jobs: [] });
    expect(() => new JobSecrets(stack, 'Bad', { jobs: JOBS, grantee: undefined as never })).toThrow(/grantee is required/);
  });
});
