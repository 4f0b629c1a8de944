import { ChangeMessageVisibilityCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redrive } from '../../cli/cloud.js';
import { DynamoStateStore } from '../../shared/aws/dynamo-state-store.js';
import { S3ObjectStore } from '../../shared/aws/s3-object-store.js';
import type { SqsHandler } from '../../shared/handlers.js';
import { DEAD_LETTERED } from '../../shared/pipeline/dead-letters.js';
import type { RunManifest } from '../../shared/pipeline/finalize.js';
import { RunLedger } from '../../shared/pipeline/ledger.js';
import { type AwsPeers, type PeerQueue, queueDepth, startAwsPeers } from '../support/aws-peers.js';
import { setEnvironment } from '../support/environment.js';
import { expectManifestInvariant, finishedManifest } from '../support/manifest.js';
import { stackWithOutputs } from '../support/stack.js';
import { startMapping } from './lambda-driver.js';

const JOB = 'books';

/**
 * The dead-letter stage on the cloud path: a parse queue whose redrive policy moves a message to the dead-letter
 * inbox after 2 receives (local-aws-sqs), the dead-letter function consuming the inbox and keeping what it settled in
 * the dead-letter queue, and `scrapeline redrive` reading that queue.
 */
describe('Dead-letter stage over SQS (local-aws-sqs, dynalite, s3rver)', () => {
  let peers: AwsPeers;
  let parse: PeerQueue;
  let kept: PeerQueue;
  let handlers: { parser: SqsHandler; deadLetters: SqsHandler };
  let restoreEnvironment: (() => void) | undefined;

  /** Messages in a queue, visible or in flight. */
  async function depth(url: string): Promise<number> {
    const { visible, inFlight } = await queueDepth(peers.clients.sqs, url);
    return visible + inFlight;
  }

  beforeAll(async () => {
    peers = await startAwsPeers({ queues: { parse: { visibilityTimeoutSeconds: 1, maxReceiveCount: 2 } } });
    parse = peers.queues.parse as PeerQueue;
    // parse-dlq is the inbox (the redrive target); this queue is the dead-letter queue that keeps settled messages.
    kept = await peers.createQueue('parse-dead-letters');
    restoreEnvironment = setEnvironment(
      peers.functionEnvironment({
        FETCH_QUEUE_URL: parse.url,
        PARSE_QUEUE_URL: parse.url,
        MAX_RECEIVE_COUNT: '2',
        DEAD_LETTER_ROUTES: JSON.stringify({ [parse.deadLetter.arn]: kept.url }),
        LOG_LEVEL: 'SILENT',
      }),
    );
    handlers = {
      parser: (await import('../../functions/parser.js')).handler,
      deadLetters: (await import('../../functions/dead-letters.js')).handler,
    };
  });

  afterAll(async () => {
    restoreEnvironment?.();
    await peers?.stop();
  });

  it('ends a dead-lettered parse task failed with its last error, completes the run partial and keeps the message for redrive', async () => {
    // Prepare: a run of two pages, one parsed, one whose archived page is missing (its parse task fails every time)
    const ledger = new RunLedger(new DynamoStateStore({ client: peers.clients.dynamodb, tableName: peers.tableName }));
    const store = new S3ObjectStore({ client: peers.clients.s3, bucket: peers.bucket });
    const runId = '20261126T080000Z-dlq001';
    const good = 'https://books.example/ok.html';
    const poison = 'https://books.example/poison.html';
    const now = Date.now();
    await ledger.createRun(JOB, runId, { hosts: ['books.example'], seeds: [good] }, now);
    await ledger.accept(JOB, runId, { url: good, depth: 0, template: undefined, parent: 'seed' }, 10, now);
    await ledger.accept(JOB, runId, { url: poison, depth: 1, template: 'book', parent: 'x' }, 10, now);
    await ledger.complete(JOB, runId, [{ url: good, state: 'parsed' }]);
    const rawKey = `raw/${JOB}/${runId}/missing.warc.gz`;
    const task = {
      type: 'parse',
      follow: false,
      job: JOB,
      runId,
      url: poison,
      depth: 1,
      template: 'book',
      hosts: ['books.example'],
      raw: { key: rawKey, offset: 0, length: 100 },
    };
    const parser = startMapping(peers.clients.sqs, parse, 'parser', handlers.parser);
    const deadLetters = startMapping(peers.clients.sqs, parse.deadLetter, 'dead-letters', handlers.deadLetters);

    // Act
    let manifest: RunManifest | undefined;
    try {
      await peers.clients.sqs.send(new SendMessageCommand({ QueueUrl: parse.url, MessageBody: JSON.stringify(task) }));
      manifest = await finishedManifest(store, JOB, { runId, timeoutMs: 30_000 });
    } finally {
      await Promise.all([parser.stop(), deadLetters.stop()]);
    }

    // Assess: the run completed partial, the URL failed with the parser's last error, the message kept
    expect(parser.stats.failures).toBe(2);
    expect(manifest).toMatchObject({
      state: 'partial',
      urls: { accepted: 2, parsed: 1, failed: 1 },
      reasons: { [DEAD_LETTERED]: 1 },
    });
    if (!manifest) throw new Error('no manifest');
    expectManifestInvariant(manifest);
    expect(await ledger.getUrl(JOB, runId, poison)).toMatchObject({
      status: 'failed',
      reason: DEAD_LETTERED,
      message: `dead-lettered after 2 receives by the parser; last error: no object at "${rawKey}"`,
    });
    expect(await depth(parse.deadLetter.url)).toBe(0);
    expect(deadLetters.stats).toMatchObject({ records: 1, failures: 0 });
    expect(await depth(kept.url)).toBe(1);
    const keptMessages = await peers.clients.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: kept.url, MaxNumberOfMessages: 1, VisibilityTimeout: 30 }),
    );
    const [keptMessage] = keptMessages.Messages ?? [];
    expect(JSON.parse(keptMessage?.Body ?? '{}')).toEqual(task);
    await peers.clients.sqs.send(
      new ChangeMessageVisibilityCommand({ QueueUrl: kept.url, ReceiptHandle: keptMessage?.ReceiptHandle, VisibilityTimeout: 0 }),
    );

    // Act: scrapeline redrive reads the dead-letter queue (the stack output) and puts the message back
    const cloudFormation = stackWithOutputs('Scrapeline', {
      bucket: peers.bucket,
      fetch: parse,
      // The stack's ParseDeadLetterQueueUrl is the queue that keeps settled dead letters, not the inbox.
      parse: { ...parse, deadLetter: { name: kept.name, url: kept.url, arn: kept.arn } },
      postprocess: parse,
    });
    const moved = await redrive({ aws: () => peers.clients, cloudFormation: () => cloudFormation }, 'Scrapeline', {
      job: JOB,
      stages: ['parse'],
    });

    // Assess: moved back; its URL stays failed in its finished run (the next run fetches it again)
    expect(moved).toEqual({ fetch: 0, parse: 1, postprocess: 0 });
    expect(await depth(kept.url)).toBe(0);
    expect(await depth(parse.url)).toBe(1);
    expect((await ledger.getRun(JOB, runId))?.state).toBe('partial');
  });
});
