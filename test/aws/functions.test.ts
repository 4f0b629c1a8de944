import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../functions/commons/config.js';
import { createFunctionRuntime, instrumentHandler, loadBundledJobs, logPort } from '../../functions/commons/context.js';
import { ConfigurationError, UnavailablePortError } from '../../functions/commons/errors.js';
import { bundledJobs } from '../../functions/commons/jobs.generated.js';
import { createAwsClients } from '../../shared/aws/clients.js';
import { createPostProcessorHandler } from '../../shared/handlers.js';
import { JobValidationError } from '../../shared/job/errors.js';
import { parseJob } from '../../shared/job/load.js';
import { objectCreatedNotification } from '../../shared/local/runtime.js';
import { lambdaContext, sqsRecord } from './lambda-driver.js';

const BASE_ENV = {
  AWS_REGION: 'eu-west-1',
  BUCKET_NAME: 'scrapeline-data',
  STATE_TABLE_NAME: 'scrapeline-state',
  FETCH_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/fetch',
  PARSE_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/parse',
};

function event(...ids: string[]): SQSEvent {
  const queueArn = 'arn:aws:sqs:eu-west-1:123456789012:fetch';
  return { Records: ids.map((id) => sqsRecord({ MessageId: id, ReceiptHandle: id, Body: '{}' }, queueArn, 'eu-west-1')) };
}

/** The EMF documents Powertools Metrics printed while `act` ran. */
async function emfDuring(act: () => Promise<unknown>): Promise<Record<string, unknown>[]> {
  const lines: string[] = [];
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
  try {
    await act().catch(() => undefined);
  } finally {
    write.mockRestore();
  }
  return lines
    .flatMap((line) => line.split('\n'))
    .filter((line) => line.includes('"_aws"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('Function: loadConfig', () => {
  it('reads the settings asked for, with defaults', () => {
    const config = loadConfig(['bucket', 'table', 'fetchQueue'], BASE_ENV);
    expect(config).toEqual({
      region: 'eu-west-1',
      serviceName: undefined,
      metricsNamespace: 'Scrapeline',
      logLevel: undefined,
      memoryMb: 1024,
      bucket: 'scrapeline-data',
      table: 'scrapeline-state',
      fetchQueue: BASE_ENV.FETCH_QUEUE_URL,
    });
  });

  it('reads the optional settings: service name, namespace, log level (any case), allowed addresses, retry base', () => {
    const config = loadConfig(['bucket', 'table', 'fetchAllowAddresses', 'retryBaseMs'], {
      ...BASE_ENV,
      POWERTOOLS_SERVICE_NAME: 'scrapeline',
      POWERTOOLS_METRICS_NAMESPACE: 'Custom',
      LOG_LEVEL: 'warn',
      FETCH_ALLOW_ADDRESSES: ' 10.1.0.0/16, 127.0.0.1 ,',
      RETRY_BASE_MS: '50',
    });
    expect(config).toMatchObject({
      serviceName: 'scrapeline',
      metricsNamespace: 'Custom',
      logLevel: 'WARN',
      fetchAllowAddresses: ['10.1.0.0/16', '127.0.0.1'],
      retryBaseMs: 50,
    });
    expect(loadConfig(['fetchAllowAddresses'], BASE_ENV).fetchAllowAddresses).toEqual([]);
  });

  it('names every missing and invalid variable at once', () => {
    const load = () =>
      loadConfig(['bucket', 'table', 'fetchQueue', 'parseQueue'], {
        AWS_REGION: 'eu-west-1',
        BUCKET_NAME: 'Not_A_Bucket',
        FETCH_QUEUE_URL: 'fetch-queue',
        LOG_LEVEL: 'LOUD',
      });
    expect(load).toThrow(ConfigurationError);
    try {
      load();
    } catch (error) {
      expect((error as ConfigurationError).problems).toEqual([
        'BUCKET_NAME must be an S3 bucket name (got "Not_A_Bucket")',
        'STATE_TABLE_NAME is required',
        'FETCH_QUEUE_URL must be an SQS queue URL (got "fetch-queue")',
        'PARSE_QUEUE_URL is required',
        'LOG_LEVEL must be one of TRACE, DEBUG, INFO, WARN, ERROR, CRITICAL, SILENT (got "LOUD")',
      ]);
      expect((error as Error).message).toMatch(/^invalid function environment: BUCKET_NAME must be/);
    }
  });

  it('ignores the variables of settings a function does not use', () => {
    const config = loadConfig(['bucket', 'table'], { ...BASE_ENV, FETCH_QUEUE_URL: 'not a url', PARSE_QUEUE_URL: undefined });
    expect(config).not.toHaveProperty('fetchQueue');
    expect(() => loadConfig(['bucket'], { BUCKET_NAME: 'b-1' })).toThrow('invalid function environment: AWS_REGION is required');
  });

  it('refuses a malformed address list and retry base', () => {
    expect(() =>
      loadConfig(['fetchAllowAddresses', 'retryBaseMs'], {
        ...BASE_ENV,
        FETCH_ALLOW_ADDRESSES: 'intranet.local',
        RETRY_BASE_MS: '-1',
      }),
    ).toThrow(
      'FETCH_ALLOW_ADDRESSES must list IP addresses or CIDRs, separated by commas (got "intranet.local"); RETRY_BASE_MS must be at least 0 (got "-1")',
    );
  });
});

describe('Function: instrumentHandler', () => {
  const logger = new Logger({ logLevel: 'SILENT' });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('publishes the records processed and failed of each invocation, with the stage dimension', async () => {
    // Prepare
    const metrics = new Metrics({ namespace: 'Test', serviceName: 'svc', defaultDimensions: { stage: 'parser' } });
    const handler = instrumentHandler(async () => ({ batchItemFailures: [{ itemIdentifier: 'b' }] }), logger, metrics);

    // Act
    const documents = await emfDuring(() => handler(event('a', 'b', 'c'), lambdaContext('parser')));

    // Assess
    const invocation = documents.find((document) => 'RecordsProcessed' in document);
    expect(invocation).toMatchObject({ RecordsProcessed: 2, RecordsFailed: 1, stage: 'parser', service: 'svc' });
    expect(JSON.stringify(invocation)).toContain('"Namespace":"Test"');
  });

  it('counts the whole batch as failed and still publishes when the handler throws', async () => {
    const metrics = new Metrics({ namespace: 'Test', defaultDimensions: { stage: 'fetcher' } });
    const handler = instrumentHandler(
      async () => {
        throw new Error('boom');
      },
      logger,
      metrics,
    );

    const documents = await emfDuring(() => handler(event('a', 'b')));

    expect(documents.find((document) => 'RecordsFailed' in document)).toMatchObject({ RecordsProcessed: 0, RecordsFailed: 2 });
    await expect(handler(event('a'))).rejects.toThrow('boom');
  });
});

describe('Function: logPort', () => {
  it('hands the attributes to the Powertools Logger as extra keys', () => {
    const logger = new Logger({ logLevel: 'DEBUG', serviceName: 'svc' });
    const info = vi.spyOn(logger, 'info').mockImplementation(() => undefined);
    const log = logPort(logger);

    log.info('fetched', { url: 'https://example.com/', runId: 'r1' });
    log.info('plain');

    expect(info.mock.calls).toEqual([['fetched', { url: 'https://example.com/', runId: 'r1' }], ['plain']]);
  });
});

describe('Function: createFunctionRuntime', () => {
  const config = { ...loadConfig(['bucket', 'table'], BASE_ENV), logLevel: 'SILENT' as const };

  it('gives a function without a queue one that fails clearly, and one that does not fetch an HTTP client that fails', async () => {
    const clients = createAwsClients({ region: 'eu-west-1' });
    const runtime = createFunctionRuntime({ stage: 'postprocessor', config, clients });

    await expect(runtime.pipeline.fetchQueue.send([{ body: '{}' }])).rejects.toThrow(
      new UnavailablePortError('the postprocessor has no fetch queue (its configuration has no FETCH_QUEUE_URL)'),
    );
    await expect(runtime.pipeline.parseQueue.send([])).rejects.toMatchObject({ retryable: false, reason: 'unavailable-port' });
    await expect(
      runtime.pipeline.http.fetchPage('https://example.com/', { timeoutMs: 1, maxBytes: 1, maxRedirects: 0, userAgent: 'x' }),
    ).rejects.toBeInstanceOf(UnavailablePortError);
    expect(runtime.pipeline.jobs.names()).toEqual(['books', 'toscrape']);
    clients.destroy();
  });
});

describe('Function: createFunctionRuntime (request cutoff)', () => {
  let server: Server;
  let endpoint: string;
  const sockets = new Set<Socket>();

  beforeAll(async () => {
    // A peer that takes every request and never answers: a hung connection, as an overloaded service gives.
    server = createServer((socket) => {
      sockets.add(socket);
      socket.on('data', () => {});
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  /** A post-processor runtime whose DynamoDB is the peer that never answers. */
  function silentRuntime() {
    const clients = createAwsClients({
      region: 'eu-west-1',
      endpoints: { dynamodb: endpoint },
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      maxAttempts: 1,
    });
    const config = { ...loadConfig(['bucket', 'table'], BASE_ENV), logLevel: 'SILENT' as const };
    return { clients, runtime: createFunctionRuntime({ stage: 'postprocessor', config, clients }) };
  }

  it('aborts the AWS requests still under way shortly before the timeout: the record fails alone, the handler returns in time', async () => {
    // Prepare: a post-processor whose S3 and DynamoDB never answer, with 2.5 s to run (requests cut at once, the
    // ones started later 1 s before the timeout).
    const config = {
      ...loadConfig(['bucket', 'table', 'postprocessQueue'], {
        ...BASE_ENV,
        POSTPROCESS_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/postprocess',
      }),
      logLevel: 'SILENT' as const,
    };
    const clients = createAwsClients({
      region: 'eu-west-1',
      endpoints: { s3: endpoint, sqs: endpoint, dynamodb: endpoint },
      forcePathStyle: true,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      maxAttempts: 1,
    });
    const runtime = createFunctionRuntime({ stage: 'postprocessor', config, clients });
    const handler = runtime.instrument(createPostProcessorHandler(runtime.pipeline));
    const notification = objectCreatedNotification('scrapeline-data', 'records/books/20261202T000000Z-cutoff/b1.ndjson.gz', 1, 0);
    const queueArn = 'arn:aws:sqs:eu-west-1:123456789012:postprocess';
    const records = { Records: [sqsRecord({ MessageId: 'm1', ReceiptHandle: 'm1', Body: notification }, queueArn, 'eu-west-1')] };
    const lambda = lambdaContext('postprocessor', 2500);

    // Act
    let response: SQSBatchResponse | undefined;
    await emfDuring(async () => {
      response = await handler(records, lambda);
    });
    const remainingMs = lambda.getRemainingTimeInMillis();

    // Assess: it returned before its 2.5 s, the record as a failure (SQS delivers it again).
    expect(response?.batchItemFailures).toEqual([{ itemIdentifier: 'm1' }]);
    expect(remainingMs).toBeGreaterThan(0);
    clients.destroy();
  });

  it('aborts the requests under way at the cut, and lets those started after it run until 1 s before the timeout', async () => {
    // Prepare: an invocation of 5 s, cut with 3 s left; a handler that makes a request, then another once it failed.
    const { clients, runtime } = silentRuntime();
    const lambda = lambdaContext('postprocessor', 5000);
    const abortedWithMs: number[] = [];
    const request = () =>
      runtime.clients.dynamodb
        .send(new GetItemCommand({ TableName: 'scrapeline-state', Key: { pk: { S: 'run#books#r1' }, sk: { S: 'meta' } } }))
        .catch(() => abortedWithMs.push(lambda.getRemainingTimeInMillis()));
    const handler = runtime.instrument(async () => {
      await request();
      await request();
      return { batchItemFailures: [] };
    });

    // Act
    await emfDuring(() => handler({ Records: [] }, lambda));

    // Assess: the first aborted at the cut (3 s left), the second, started after it, 1 s before the timeout.
    expect(abortedWithMs).toHaveLength(2);
    expect(abortedWithMs[0]).toBeGreaterThan(2000);
    expect(abortedWithMs[0]).toBeLessThanOrEqual(3000);
    expect(abortedWithMs[1]).toBeGreaterThan(0);
    expect(abortedWithMs[1]).toBeLessThanOrEqual(1000);
    clients.destroy();
  });

  it('leaves requests made outside an invocation (a direct call) unbounded', async () => {
    // Prepare
    const { clients, runtime } = silentRuntime();

    // Act: still waiting after 1 s, so not cut (an invocation would have been)
    const pending = runtime.pipeline.ledger.getRun('books', '20261202T000000Z-cutoff');
    const outcome = await Promise.race([
      pending.then(
        () => 'answered',
        () => 'failed',
      ),
      new Promise((resolve) => setTimeout(() => resolve('waiting'), 1000)),
    ]);

    // Assess
    expect(outcome).toBe('waiting');
    clients.destroy();
    await pending.catch(() => undefined);
  });
});

describe('Function: loadBundledJobs', () => {
  it('gives back the jobs validated at synth, equal to the jobs the loader validates', () => {
    // Act
    const jobs = loadBundledJobs(bundledJobs);

    // Assess
    expect(jobs.map((job) => job.name)).toEqual(['books', 'toscrape']);
    for (const [index, job] of jobs.entries()) {
      const entry = bundledJobs[index];
      if (!entry) throw new Error('no bundled job');
      expect(job).toEqual(JSON.parse(JSON.stringify(parseJob(entry.input ?? entry.job, entry.source))));
    }
  });

  it('gives code extractors back from the job module', () => {
    // Prepare
    const extractor = () => [{ title: 'x' }];
    const input = {
      name: 'code',
      start: { urls: ['https://example.com/'] },
      templates: { page: { key: 'title', fields: { title: 'h1' }, extractor } },
    };
    const job = JSON.parse(JSON.stringify(parseJob(input, 'jobs/code.ts')));

    // Act
    const [resolved] = loadBundledJobs([{ source: 'jobs/code.ts', job, input }]);

    // Assess
    expect(job.templates.page.extractor).toBeUndefined();
    expect(resolved?.templates.page?.extractor).toBe(extractor);
  });

  it('names the file of an entry that is not a validated job', () => {
    expect(() => loadBundledJobs([{ source: 'jobs/broken.yaml', job: { name: 'Broken Name' } }])).toThrow(JobValidationError);
    expect(() => loadBundledJobs([{ source: 'jobs/broken.yaml', job: { name: 'Broken Name' } }])).toThrow(
      /jobs\/broken\.yaml: \(bundle\): is not a validated job/,
    );
  });

  it('refuses two jobs with one name', () => {
    const books = bundledJobs[0];
    if (!books) throw new Error('no bundled job');
    expect(() => loadBundledJobs([books, { source: 'jobs/copy.ts', job: books.job }])).toThrow(
      /jobs\/copy\.ts.*"books" is already the name of jobs\/books\.ts/,
    );
  });
});
