import { ReceiveMessageCommand, SendMessageCommand, SetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redrive } from '../../cli/cloud.js';
import { type DemoServer, startDemoServer } from '../../demo/server.js';
import { generateSite, type Site } from '../../demo/site.js';
import { bundledJobs } from '../../functions/commons/jobs.generated.js';
import { encodeExchange } from '../../shared/archive/warc.js';
import { DynamoStateStore } from '../../shared/aws/dynamo-state-store.js';
import { S3ObjectStore } from '../../shared/aws/s3-object-store.js';
import type { SqsHandler } from '../../shared/handlers.js';
import { parseJob } from '../../shared/job/load.js';
import type { RunManifest } from '../../shared/pipeline/finalize.js';
import { RunLedger } from '../../shared/pipeline/ledger.js';
import { readNdjsonGzip } from '../../shared/query.js';
import { type AwsPeers, type PeerQueue, queueDepth, startAwsPeers } from '../support/aws-peers.js';
import { setEnvironment } from '../support/environment.js';
import { tempRuntime } from '../support/local-run.js';
import { finishedManifest, runFailures } from '../support/manifest.js';
import { stackWithOutputs } from '../support/stack.js';
import { lambdaContext, relayObjectCreated, sqsRecord, startMapping } from './lambda-driver.js';

type Row = Record<string, unknown> & { _key: string };

const JOB = 'books';
/** Longest the cloud run may take before the test gives up and reports the queues (about 20 s on an idle machine). */
const RUN_DEADLINE_MS = 100_000;

/** Rows by item key, without the columns that differ between two runs. */
function comparable(rows: readonly Row[]): Map<string, Record<string, unknown>> {
  return new Map(
    rows.map((row) => {
      const { _runId, _fetchedAt, ...rest } = row;
      return [row._key, rest];
    }),
  );
}

/** The same job, run by the local runtime (file store, in-process queues, embedded state). */
async function runLocally(startUrls: string[]): Promise<{ manifest: RunManifest; rows: Row[] }> {
  const books = bundledJobs.find((entry) => entry.source === 'jobs/books.ts');
  if (!books) throw new Error('jobs/books.ts is not bundled');
  const local = await tempRuntime([parseJob(books.input, books.source)], {}, { retryBaseMs: 50 });
  try {
    const manifest = await local.run(JOB, startUrls);
    return { manifest, rows: (await local.rows(manifest)) as Row[] };
  } finally {
    await local.dispose();
  }
}

describe('Cloud pipeline end to end (s3rver, local-aws-sqs, dynalite)', () => {
  let peers: AwsPeers;
  let site: Site;
  let server: DemoServer;
  let store: S3ObjectStore;
  let queues: { fetch: PeerQueue; parse: PeerQueue; postprocess: PeerQueue };
  let handlers: { fetcher: SqsHandler; parser: SqsHandler; postprocessor: SqsHandler };
  let manifest: RunManifest;
  let restoreEnvironment: (() => void) | undefined;

  /** A queue's messages as `visible/in flight/delayed`. */
  async function approximateDepth(queue: { url: string }): Promise<string> {
    const { visible, inFlight, delayed } = await queueDepth(peers.clients.sqs, queue.url);
    return `${visible}/${inFlight}/${delayed}`;
  }

  async function findManifest(deadline: number, describeState: () => Promise<string>): Promise<RunManifest> {
    const finished = await finishedManifest(store, JOB, { timeoutMs: deadline - Date.now(), intervalMs: 250 });
    if (!finished) throw new Error(`the cloud run did not finish in time: ${await describeState()}`);
    return finished;
  }

  beforeAll(async () => {
    const queueOptions = { visibilityTimeoutSeconds: 60, maxReceiveCount: 3 };
    peers = await startAwsPeers({ queues: { fetch: queueOptions, parse: queueOptions, postprocess: queueOptions } });
    const { fetch, parse, postprocess } = peers.queues;
    if (!fetch || !parse || !postprocess) throw new Error('queues missing');
    queues = { fetch, parse, postprocess };
    store = new S3ObjectStore({ client: peers.clients.s3, bucket: peers.bucket });
    // The demo site at 400 books (20 listing pages, the 7 broken links, 20 authors behind redirects and their quote
    // pages): the whole cloud path in well under a minute.
    site = generateSite({ books: 400 });
    server = await startDemoServer({ site });
    // The functions read their configuration at cold start, and the SDK its endpoints: set both before importing.
    restoreEnvironment = setEnvironment(
      peers.functionEnvironment({
        FETCH_QUEUE_URL: fetch.url,
        PARSE_QUEUE_URL: parse.url,
        POSTPROCESS_QUEUE_URL: postprocess.url,
        // The demo site listens on loopback, which the fetcher's SSRF guard refuses unless allowed.
        FETCH_ALLOW_ADDRESSES: '127.0.0.1',
        // Shorter backoffs for the demo's two always-500 pages, as the local run gets (the behaviour is the same).
        RETRY_BASE_MS: '50',
      }),
    );
    handlers = {
      fetcher: (await import('../../functions/fetcher.js')).handler,
      parser: (await import('../../functions/parser.js')).handler,
      postprocessor: (await import('../../functions/postprocessor.js')).handler,
    };
  });

  afterAll(async () => {
    restoreEnvironment?.();
    await server?.close();
    await peers?.stop();
  });

  it('crawls the demo bookstore to the dataset the local runtime makes, item for item', async () => {
    // Prepare
    const startUrls = [`${server.url}/catalogue/page-1.html`];
    const local = runLocally(startUrls);
    const relay = relayObjectCreated(peers.s3Events, peers.clients.sqs, queues.postprocess.url, 'records/');
    const sqs = peers.clients.sqs;
    const mappings = {
      fetch: startMapping(sqs, queues.fetch, 'fetcher', handlers.fetcher, { concurrency: 4 }),
      parse: startMapping(sqs, queues.parse, 'parser', handlers.parser, { concurrency: 2 }),
      postprocess: startMapping(sqs, queues.postprocess, 'postprocessor', handlers.postprocessor, { concurrency: 2 }),
    };

    // Act
    const started = Date.now();
    try {
      await peers.clients.sqs.send(
        new SendMessageCommand({
          QueueUrl: queues.fetch.url,
          MessageBody: JSON.stringify({ type: 'start-run', job: JOB, startUrls }),
        }),
      );
      manifest = await findManifest(started + RUN_DEADLINE_MS, async () => {
        const depths = await Promise.all(
          Object.values(queues).flatMap((queue) => [approximateDepth(queue), approximateDepth(queue.deadLetter)]),
        );
        return `queues (visible/in flight/delayed; main, dlq): ${depths.join(' ')}; mappings ${JSON.stringify(Object.values(mappings).map((m) => m.stats))}`;
      });
    } finally {
      await Promise.all(Object.values(mappings).map((m) => m.stop()));
      await relay.stop();
    }
    const cloudMs = Date.now() - started;
    const { manifest: localManifest, rows: localRows } = await local;

    // Assess: the manifest
    const items = site.books.length + site.authors.length + site.quotes.length;
    expect(manifest).toMatchObject({
      job: JOB,
      state: 'partial',
      items: { written: items, invalid: 0, duplicates: 0 },
    });
    expect(manifest.urls.failed).toBe(7);
    expect(manifest.reasons).toEqual({ 'http-404': 5, 'http-500': 2 });
    const { accepted, parsed, unchanged, skipped, failed } = manifest.urls;
    expect(accepted).toBe(parsed + unchanged + skipped + failed);
    expect(accepted).toBe(
      site.listingPaths.length + site.books.length + site.authors.length + site.quotePaths.length + site.broken.length,
    );
    expect(manifest.urls).toEqual(localManifest.urls);
    expect(manifest.items).toEqual(localManifest.items);

    // Assess: the failures file lists the broken links
    const failures = await runFailures(store, manifest);
    expect(failures.map((failure) => new URL(failure.url).pathname).sort()).toEqual(
      site.broken.map((broken) => broken.path).sort(),
    );

    // Assess: the dataset equals the local runtime's, row for row
    const cloudRows: Row[] = [];
    for await (const object of store.list(`datasets/${JOB}/`))
      for await (const row of readNdjsonGzip(store, object.key)) cloudRows.push(row as Row);
    expect(cloudRows).toHaveLength(items);
    expect(new Set(cloudRows.map((row) => row._key)).size).toBe(items);
    expect(cloudRows.every((row) => row._runId === manifest.runId)).toBe(true);
    const cloud = comparable(cloudRows);
    const expected = comparable(localRows);
    expect([...cloud.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [key, row] of expected) expect(cloud.get(key), key).toEqual(row);

    // Assess: nothing was lost on the way
    expect(relay.errors).toEqual([]);
    for (const queue of Object.values(queues)) {
      const dead = await peers.clients.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: queue.deadLetter.url, MaxNumberOfMessages: 10 }),
      );
      expect(dead.Messages ?? [], `${queue.name} DLQ`).toEqual([]);
    }
    expect(
      mappings.fetch.stats.handlerErrors + mappings.parse.stats.handlerErrors + mappings.postprocess.stats.handlerErrors,
    ).toBe(0);
    // Metering: the DynamoDB writes the run counted are the ones the peer received (the only other request to it
    // so far is the harness's CreateTable; reads are not compared: the harness reads too).
    const ledger = new RunLedger(new DynamoStateStore({ client: peers.clients.dynamodb, tableName: peers.tableName }));
    const counted = (await ledger.getRun(JOB, manifest.runId))?.requests ?? {};
    // Write units too: the peer bills each write by the larger of the item before and after (transactions twice).
    expect({
      UpdateItem: counted['dynamodb:UpdateItem'],
      TransactWriteItems: counted['dynamodb:TransactWriteItems'],
      WriteUnits: counted['dynamodb:WriteUnits'],
    }).toEqual({
      UpdateItem: peers.dynamo.operations.get('UpdateItem'),
      TransactWriteItems: peers.dynamo.operations.get('TransactWriteItems'),
      WriteUnits: peers.dynamo.capacity.writeUnits,
    });
    console.info(
      `cloud run: ${cloudMs} ms, ${mappings.fetch.stats.invocations}/${mappings.parse.stats.invocations}/${mappings.postprocess.stats.invocations} invocations (fetch/parse/post-process), ${relay.relayed} notifications relayed, DynamoDB requests ${JSON.stringify(Object.fromEntries(peers.dynamo.operations))}`,
    );
  }, 120_000);

  it('reports only the malformed record of a batch as failed', async () => {
    // Prepare: valid messages whose work is already done (URLs of the finished run), plus one that is not JSON
    const record = (id: string, body: string) =>
      sqsRecord({ MessageId: id, ReceiptHandle: `receipt-${id}`, Body: body }, queues.fetch.arn, peers.region);
    const task = (url: string) =>
      JSON.stringify({
        type: 'fetch',
        job: JOB,
        runId: manifest.runId,
        url,
        depth: 0,
        attempt: 0,
        hosts: [new URL(server.url).host],
      });
    const fetchEvent: SQSEvent = {
      Records: [
        record('valid-1', task(`${server.url}/catalogue/page-1.html`)),
        record('malformed', '{"type":"fetch",'),
        record('valid-2', task(`${server.url}/catalogue/page-2.html`)),
      ],
    };
    const notificationEvent: SQSEvent = {
      Records: [
        record('test-event-1', JSON.stringify({ Event: 's3:TestEvent' })),
        record('not-a-notification', JSON.stringify({ Records: [{ eventName: 'ObjectCreated:Put' }] })),
        record('test-event-2', JSON.stringify({ Event: 's3:TestEvent' })),
      ],
    };

    // Act
    const fetched = await handlers.fetcher(fetchEvent, lambdaContext('fetcher'));
    const postProcessed = await handlers.postprocessor(notificationEvent, lambdaContext('postprocessor'));

    // Assess
    expect(fetched).toEqual({ batchItemFailures: [{ itemIdentifier: 'malformed' }] });
    expect(postProcessed).toEqual({ batchItemFailures: [{ itemIdentifier: 'not-a-notification' }] });
  });

  it('moves a poison message to the fetch DLQ after maxReceiveCount receives', async () => {
    // Prepare: the fetch queue (maxReceiveCount 3) with a short visibility timeout, so that redeliveries come fast
    await peers.clients.sqs.send(
      new SetQueueAttributesCommand({ QueueUrl: queues.fetch.url, Attributes: { VisibilityTimeout: '1' } }),
    );
    const mapping = startMapping(peers.clients.sqs, queues.fetch, 'fetcher', handlers.fetcher);

    // Act
    await peers.clients.sqs.send(new SendMessageCommand({ QueueUrl: queues.fetch.url, MessageBody: 'this is not a message' }));
    const deadline = Date.now() + 15_000;
    let dead: { Body?: string }[] = [];
    try {
      while (dead.length === 0 && Date.now() < deadline) {
        const output = await peers.clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: queues.fetch.deadLetter.url }));
        dead = output.Messages ?? [];
      }
    } finally {
      await mapping.stop();
    }

    // Assess: received and failed three times (one message id), then moved
    expect(dead.map((message) => message.Body)).toEqual(['this is not a message']);
    expect(mapping.stats.records).toBe(3);
    expect(mapping.stats.failures).toBe(3);
    expect(new Set(mapping.stats.failedIds).size).toBe(1);
  });

  it('completes a dead-lettered parse task once the cause is fixed and scrapeline redrive puts it back', async () => {
    // Prepare: a run with one accepted URL whose archived page is missing, so its parse task fails until it is there.
    const runId = '20261126T070000Z-redriv';
    const ledger = new RunLedger(new DynamoStateStore({ client: peers.clients.dynamodb, tableName: peers.tableName }));
    const book = site.books[0];
    if (!book) throw new Error('no book');
    const url = `${server.url}${book.url}`;
    await ledger.createRun(JOB, runId, { hosts: [new URL(url).host], seeds: [url] }, Date.now());
    await ledger.accept(JOB, runId, { url, depth: 1, template: 'book', parent: 'seed' }, 10, Date.now());
    const { members, responseIndex } = encodeExchange({
      targetUri: url,
      date: new Date(),
      status: 200,
      responseHeaders: { 'content-type': 'text/html; charset=utf-8' },
      body: Buffer.from(site.page(book.url).body),
      requestHeaders: {},
      extensions: { 'Requested-URI': url, Depth: '1', Template: 'book' },
    });
    const rawKey = `raw/${JOB}/${runId}/fixed.warc.gz`;
    const response = members[responseIndex] as Buffer;
    const task = {
      type: 'parse',
      // The book page links its author: not followed, so the run stays at its one URL (no fetcher runs here).
      follow: false,
      job: JOB,
      runId,
      url,
      depth: 1,
      template: 'book',
      hosts: [new URL(url).host],
      raw: { key: rawKey, offset: 0, length: response.byteLength },
    };
    await peers.clients.sqs.send(
      new SetQueueAttributesCommand({ QueueUrl: queues.parse.url, Attributes: { VisibilityTimeout: '1' } }),
    );
    const failing = startMapping(peers.clients.sqs, queues.parse, 'parser', handlers.parser);
    await peers.clients.sqs.send(new SendMessageCommand({ QueueUrl: queues.parse.url, MessageBody: JSON.stringify(task) }));
    const deadline = Date.now() + 20_000;
    try {
      for (;;) {
        const depth = await approximateDepth(queues.parse.deadLetter);
        if (depth !== '0/0/0' || Date.now() > deadline) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    } finally {
      await failing.stop();
    }
    expect(failing.stats.failures).toBe(3);

    // Act: fix the cause (the archive arrives), redrive with the CLI's redrive, let the pipeline run
    await store.put(rawKey, response);
    const cloudFormation = stackWithOutputs('Scrapeline', { bucket: peers.bucket, ...queues });
    const moved = await redrive({ aws: () => peers.clients, cloudFormation: () => cloudFormation }, 'Scrapeline', { job: JOB });
    const relay = relayObjectCreated(peers.s3Events, peers.clients.sqs, queues.postprocess.url, 'records/');
    const parse = startMapping(peers.clients.sqs, queues.parse, 'parser', handlers.parser);
    const post = startMapping(peers.clients.sqs, queues.postprocess, 'postprocessor', handlers.postprocessor);
    let finished: RunManifest | undefined;
    try {
      finished = await finishedManifest(store, JOB, { runId, timeoutMs: 30_000, intervalMs: 200 });
    } finally {
      await Promise.all([parse.stop(), post.stop(), relay.stop()]);
      await peers.clients.sqs.send(
        new SetQueueAttributesCommand({ QueueUrl: queues.parse.url, Attributes: { VisibilityTimeout: '60' } }),
      );
    }

    // Assess
    expect(moved).toEqual({ fetch: 0, parse: 1, postprocess: 0 });
    expect(finished).toMatchObject({ urls: { accepted: 1, parsed: 1, failed: 0 }, items: { written: 1 } });
    // After the 400-item crawl of this suite, a one-item run is rightly degraded (its item count fell); alone, succeeded.
    expect(['succeeded', 'degraded']).toContain(finished?.state);
  });
});
