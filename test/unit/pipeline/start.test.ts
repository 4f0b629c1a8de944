import type { SQSRecord } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import { createFetcherHandler } from '../../../shared/handlers.js';
import { parseJob } from '../../../shared/job/load.js';
import { FileSystemObjectStore } from '../../../shared/local/object-store.js';
import { LocalQueue } from '../../../shared/local/queue.js';
import { EmbeddedStateStore } from '../../../shared/local/state.js';
import { RunLedger } from '../../../shared/pipeline/ledger.js';
import { sqsRecord } from '../../aws/lambda-driver.js';
import { makeTempDir, type TempDir } from '../../fixtures/temp-dir.js';
import { offlineContext } from '../../support/one-page-runs.js';

function record(messageId: string, body: unknown): SQSRecord {
  const message = { MessageId: messageId, ReceiptHandle: messageId, Body: JSON.stringify(body) };
  return sqsRecord(message, 'arn:aws:sqs:local:000000000000:fetch', 'local');
}

describe('Function: createFetcherHandler (start-run messages)', () => {
  let dir: TempDir | undefined;

  afterEach(async () => {
    await dir?.remove();
  });

  it('starts one run per schedule firing, however often the firing is delivered', async () => {
    // Prepare
    dir = await makeTempDir('start');
    const fetchQueue = new LocalQueue({ name: 'fetch' });
    const job = parseJob(
      { name: 'shop', start: { urls: ['https://shop.example/'] }, politeness: { robotsTxt: 'ignore' } },
      'shop.ts',
    );
    const state = new EmbeddedStateStore();
    const context = offlineContext([job], new FileSystemObjectStore({ root: dir.path }), state, { fetchQueue });
    const handler = createFetcherHandler(context);
    const firing = { type: 'start-run', job: 'shop', scheduledAt: '2026-11-26T06:00:00Z' };

    // Act: the scheduler delivers the same firing twice (two messages, two message ids), then the next firing.
    await handler({ Records: [record('m-1', firing)] });
    await handler({ Records: [record('m-2', firing)] });
    await handler({ Records: [record('m-3', { ...firing, scheduledAt: '2026-11-27T06:00:00Z' })] });

    // Assess
    const runs: string[] = [];
    for await (const object of context.store.list('runs/shop/')) runs.push(object.key);
    expect(runs).toHaveLength(2);
    expect(runs[0]).toMatch(/^runs\/shop\/20261126T060000Z-[0-9a-f]{6}\/manifest\.json$/);
    // A redelivered start enqueues its pending seed again (it cannot know whether the first delivery got that far).
    const tasks = (await fetchQueue.receive(10)).map((message) => JSON.parse(message.body) as { url: string; runId: string });
    expect(new Set(tasks.map((task) => task.runId)).size).toBe(2);
    expect(new Set(tasks.map((task) => task.url))).toEqual(new Set(['https://shop.example/']));
    const meta = await new RunLedger(state).getRun('shop', runs[0]?.split('/')[2] ?? '');
    expect(meta?.counters.accepted).toBe(1);
  });
});
