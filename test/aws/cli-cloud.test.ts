import { gzipSync } from 'node:zlib';
import { ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CloudServices } from '../../cli/cloud.js';
import { EXIT } from '../../cli/common.js';
import { main } from '../../cli/main.js';
import { S3ObjectStore } from '../../shared/aws/s3-object-store.js';
import { layout } from '../../shared/layout.js';
import { type AwsPeers, startAwsPeers } from '../support/aws-peers.js';
import { capture } from '../support/cli-io.js';
import { stackWithOutputs } from '../support/stack.js';

describe('The CLI against a deployed stack (s3rver, local-aws-sqs; CloudFormation mocked)', () => {
  let peers: AwsPeers;
  let services: CloudServices;
  const runId = '20261126T060000Z-abcdef';

  beforeAll(async () => {
    peers = await startAwsPeers({ queues: { fetch: {}, parse: {}, postprocess: {} } });
    const { fetch, parse, postprocess } = peers.queues;
    if (!fetch || !parse || !postprocess) throw new Error('queues missing');
    const cloudFormation = stackWithOutputs('Scrapeline', { bucket: peers.bucket, fetch, parse, postprocess });
    services = { aws: () => peers.clients, cloudFormation: () => cloudFormation };
    // A finished run as the post-processor leaves it in the bucket.
    const store = new S3ObjectStore({ client: peers.clients.s3, bucket: peers.bucket });
    const rows = [
      {
        upc: 'a1',
        title: 'Atlas',
        price: 12.5,
        _key: 'a1',
        _url: 'https://shop.example/a1',
        _runId: runId,
        _fetchedAt: '2026-11-26T06:00:01Z',
      },
      {
        upc: 'b2',
        title: 'Bells',
        price: 30,
        _key: 'b2',
        _url: 'https://shop.example/b2',
        _runId: runId,
        _fetchedAt: '2026-11-26T06:00:02Z',
      },
    ];
    const manifest = {
      job: 'books',
      runId,
      state: 'succeeded',
      startedAt: '2026-11-26T06:00:00.000Z',
      finishedAt: '2026-11-26T06:01:00.000Z',
      durationMs: 60_000,
      urls: { accepted: 3, parsed: 3, unchanged: 0, skipped: 0, failed: 0 },
      items: { written: 2, invalid: 0, duplicates: 0, onUnchangedPages: 0 },
      changes: { new: 2, changed: 0, removed: 0, removalsInferred: true },
    };
    await store.put(layout.manifest('books', runId), JSON.stringify(manifest));
    await store.put(
      layout.dataset('books', '2026-11-26', runId, 'b1'),
      gzipSync(rows.map((row) => JSON.stringify(row)).join('\n')),
    );
  }, 60_000);

  afterAll(async () => {
    await peers?.stop();
  });

  it('lists runs and queries items from the stack bucket (outputs resolved through CloudFormation) or a named bucket', async () => {
    const runs = capture();
    expect(await main(['runs', 'books', '--stack', 'Scrapeline', '--format', 'json'], runs.io, services)).toBe(EXIT.ok);
    expect(JSON.parse(runs.stdout())).toMatchObject([{ runId, state: 'succeeded', items: 2 }]);
    const query = capture();
    const args = [
      'query',
      'books',
      '--bucket',
      peers.bucket,
      '--run',
      runId,
      '--where',
      'price>20',
      '--format',
      'ndjson',
      '--fields',
      'upc,price',
    ];
    expect(await main(args, query.io, services)).toBe(EXIT.ok);
    expect(query.stdout()).toBe('{"upc":"b2","price":30}\n');
  });

  it('starts a run by putting the start message on the stack fetch queue', async () => {
    const run = capture();
    expect(await main(['run', 'books', '--stack', 'Scrapeline'], run.io, services)).toBe(EXIT.ok);
    const started = /Started run (\S+) of books/.exec(run.stdout())?.[1];
    const received = await peers.clients.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: peers.queues.fetch?.url, MaxNumberOfMessages: 10 }),
    );
    const bodies = (received.Messages ?? []).map(
      (message) => JSON.parse(message.Body ?? '{}') as { type: string; job: string; runId: string },
    );
    expect(bodies).toContainEqual({ type: 'start-run', job: 'books', runId: started });
  });

  it('redrives one job’s dead letters back to their queue and leaves other jobs’ there', async () => {
    const deadLetters = peers.queues.parse?.deadLetter.url;
    const mine = JSON.stringify({ type: 'parse', job: 'books', runId, url: 'https://shop.example/a1' });
    const other = JSON.stringify({ type: 'parse', job: 'news', runId, url: 'https://news.example/1' });
    await peers.clients.sqs.send(new SendMessageCommand({ QueueUrl: deadLetters, MessageBody: mine }));
    await peers.clients.sqs.send(new SendMessageCommand({ QueueUrl: deadLetters, MessageBody: other }));
    const redrive = capture();
    expect(await main(['redrive', 'books', '--stack', 'Scrapeline', '--stage', 'parse'], redrive.io, services)).toBe(EXIT.ok);
    expect(redrive.stdout()).toContain('Moved 1 dead letter(s) back: fetch 0, parse 1, postprocess 0');
    const back = await peers.clients.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: peers.queues.parse?.url, MaxNumberOfMessages: 10 }),
    );
    expect((back.Messages ?? []).map((message) => message.Body)).toEqual([mine]);
  });

  it('names a stack it cannot find, with exit code 2', async () => {
    const missing = capture();
    expect(await main(['runs', 'books', '--stack', 'Nope'], missing.io, services)).toBe(EXIT.usage);
    expect(missing.stderr()).toBe(
      'stack "Nope" does not exist in us-east-1 (deploy it with npx cdk deploy, or pass --region or --stack)\n',
    );
  });
});
