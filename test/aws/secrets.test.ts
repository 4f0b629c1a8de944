import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AwsSecretSource } from '../../shared/aws/secrets.js';
import { parseJob } from '../../shared/job/load.js';
import { LocalRuntime } from '../../shared/local/runtime.js';
import { runRows } from '../../shared/query.js';
import { type FixtureServer, startFixtureServer } from '../fixtures/http-fixture.js';
import { FAST_RETRIES, LOOPBACK_ALLOWED } from '../support/local-run.js';

const API_KEY = 'ak-0c9f4e2a7d1b';
const SESSION = 'ss-5e8d2b7a1c3f';

const secretsManager = mockClient(SecretsManagerClient);
const ssm = mockClient(SSMClient);

afterEach(() => {
  secretsManager.reset();
  ssm.reset();
});

describe('Class: AwsSecretSource', () => {
  it('reads a Secrets Manager secret by name and an SSM parameter decrypted', async () => {
    // Prepare
    secretsManager.on(GetSecretValueCommand, { SecretId: 'shop/api' }).resolves({ SecretString: '{"key":"v"}' });
    ssm.on(GetParameterCommand, { Name: '/shop/session', WithDecryption: true }).resolves({ Parameter: { Value: SESSION } });
    const source = new AwsSecretSource({ region: 'eu-west-1' });

    // Act
    const values = [await source.read('shop/api', 'secrets-manager'), await source.read('/shop/session', 'ssm')];

    // Assess
    expect(values).toEqual(['{"key":"v"}', SESSION]);
    expect(secretsManager.commandCalls(GetSecretValueCommand)).toHaveLength(1);
    expect(ssm.commandCalls(GetParameterCommand)[0]?.args[0].input).toEqual({ Name: '/shop/session', WithDecryption: true });
  });

  it('classifies failures: missing and denied are final, throttling is retried', async () => {
    // Prepare
    const error = (name: string) => Object.assign(new Error(`${name}: ${API_KEY}?`), { name });
    secretsManager.on(GetSecretValueCommand, { SecretId: 'gone' }).rejects(error('ResourceNotFoundException'));
    secretsManager.on(GetSecretValueCommand, { SecretId: 'busy' }).rejects(error('ThrottlingException'));
    ssm.on(GetParameterCommand, { Name: 'denied' }).rejects(error('AccessDeniedException'));
    const source = new AwsSecretSource({ region: 'eu-west-1' });

    // Act
    const failures = await Promise.all([
      source.read('gone', 'secrets-manager').catch((e) => e),
      source.read('busy', 'secrets-manager').catch((e) => e),
      source.read('denied', 'ssm').catch((e) => e),
    ]);

    // Assess: the messages name the secret and the service's code, never the service's own message
    expect(failures.map(({ reason, retryable, message }) => ({ reason, retryable, message }))).toEqual([
      {
        reason: 'secret-not-found',
        retryable: false,
        message: 'Secrets Manager secret "gone" does not exist (ResourceNotFoundException)',
      },
      {
        reason: 'secret-unavailable',
        retryable: true,
        message: 'Secrets Manager secret "busy" could not be read: ThrottlingException',
      },
      {
        reason: 'secret-denied',
        retryable: false,
        message:
          'SSM parameter "denied" cannot be read by this function (AccessDeniedException): is it named by a job of the stack?',
      },
    ]);
  });
});

describe('Secrets from AWS through the pipeline', () => {
  let server: FixtureServer;
  let dataDir: string;

  beforeAll(async () => {
    server = await startFixtureServer();
    server.route('/', (request, response) => {
      const ok = request.headers['x-api-key'] === API_KEY && request.headers.cookie === `session=${SESSION}`;
      response.writeHead(ok ? 200 : 403, { 'content-type': 'text/html' }).end(ok ? '<h1>Welcome</h1>' : '<h1>No</h1>');
    });
    dataDir = await mkdtemp(join(tmpdir(), 'scrapeline-aws-secrets-'));
  });

  afterAll(async () => {
    await server?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('fetches with a header from a Secrets Manager JSON secret and a cookie from an SSM parameter, each read once', async () => {
    // Prepare
    secretsManager
      .on(GetSecretValueCommand, { SecretId: 'shop/api' })
      .resolves({ SecretString: JSON.stringify({ key: API_KEY }) });
    ssm.on(GetParameterCommand, { Name: '/shop/session' }).resolves({ Parameter: { Value: SESSION } });
    const job = parseJob(
      {
        name: 'shop',
        start: { urls: [`${server.origin}/`], template: 'page' },
        templates: { page: { key: 'title', fields: { title: 'h1' } } },
        politeness: { robotsTxt: 'ignore' },
        fetch: {
          request: {
            headers: { 'X-Api-Key': { secret: 'shop/api', key: 'key' } },
            cookies: { session: { secret: '/shop/session', store: 'ssm' } },
          },
        },
      },
      'shop.yaml',
    );
    const runtime = new LocalRuntime(
      { jobs: [job], settings: FAST_RETRIES, ssrf: LOOPBACK_ALLOWED, secrets: new AwsSecretSource({ region: 'eu-west-1' }) },
      { dataDir },
    );

    // Act
    const titles: unknown[] = [];
    try {
      const { outcome } = await runtime.run('shop');
      if (outcome.kind !== 'finished') throw new Error('run stalled');
      for await (const row of runRows(runtime.store, outcome.manifest)) titles.push(row.title);
    } finally {
      await runtime.close();
    }

    // Assess
    expect(titles).toEqual(['Welcome']);
    expect(secretsManager.commandCalls(GetSecretValueCommand)).toHaveLength(1);
    expect(ssm.commandCalls(GetParameterCommand)).toHaveLength(1);
  });
});
