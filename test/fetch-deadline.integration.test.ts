import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFetcherHandler } from '../shared/handlers.js';
import { parseJob } from '../shared/job/load.js';
import type { LocalQueue } from '../shared/local/queue.js';
import { sqsRecord } from '../shared/local/runtime.js';
import type { PipelineContext } from '../shared/pipeline/context.js';
import { type ParseTask, parseTaskMessage } from '../shared/pipeline/messages.js';
import { lambdaContext } from './aws/lambda-driver.js';
import { closeServer, listenOnLoopback } from './fixtures/http-fixture.js';
import { type HandlerPipeline, handlerPipeline } from './support/handler-pipeline.js';

const PAGES = 30;
/** The invocation's timeout: with the job below, only the first ~0.9 s of it may start fetches. */
const TIMEOUT_MS = 1500;

describe('Function: createFetcherHandler (deadline guard)', () => {
  let dir: string;
  let server: Server;
  let origin: string;
  let context: PipelineContext;
  let fetchQueue: LocalQueue;
  let parseQueue: LocalQueue;
  let pipeline: HandlerPipeline;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'scrapeline-deadline-'));
    server = createServer((req, res) => {
      setTimeout(() => {
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
        res.end(`<!DOCTYPE html><title>${req.url}</title><h1>page ${req.url}</h1>`);
      }, 10);
    });
    origin = await listenOnLoopback(server);
    // One request at a time, 100 ms apart: 30 pages need 3 s, twice an invocation's timeout.
    const job = parseJob(
      {
        name: 'slow',
        start: { urls: [`${origin}/p/0`] },
        politeness: { perHostConcurrency: 1, minDelayMs: 100, robotsTxt: 'ignore' },
        fetch: { timeoutMs: 300, retries: 0 },
      },
      'slow.ts',
    );
    pipeline = handlerPipeline(job, dir, { settings: { inlineRetryMaxMs: 100 } });
    ({ context, fetchQueue, parseQueue } = pipeline);
  });

  afterEach(async () => {
    await pipeline.close();
    await closeServer(server);
    await rm(dir, { recursive: true, force: true });
  });

  it('stops starting fetches before the deadline, dispatches what it fetched and hands the rest back', async () => {
    // Prepare: a run of 30 start URLs on one polite host. Margin: 300 ms fetch timeout + 100 ms inline retry
    // wait + 200 ms dispatch reserve = 600 ms before the deadline.
    const handler = createFetcherHandler(context, { dispatchReserveMs: 200 });
    const startUrls = Array.from({ length: PAGES }, (_, index) => `${origin}/p/${index}`);
    await handler({
      Records: [
        sqsRecord('fetch', {
          messageId: 'start',
          receiptHandle: 'start',
          body: JSON.stringify({ type: 'start-run', job: 'slow', runId: '20261126T000000Z-abcdef', startUrls }),
          receiveCount: 1,
          sentAt: Date.now(),
        }),
      ],
    });

    // Act: invoke the fetcher like an event source mapping (batches of up to 100) until the fetch queue is empty.
    const invocations: { records: number; dispatched: number; remainingMs: number; failures: number }[] = [];
    const receiveCounts: number[] = [];
    for (let round = 0; round < 20; round++) {
      const messages = await fetchQueue.receive(100);
      if (messages.length === 0) break;
      receiveCounts.push(...messages.map((message) => message.receiveCount));
      const lambda = lambdaContext('fetcher', TIMEOUT_MS);
      const parseBefore = parseQueue.size;
      const response = await handler({ Records: messages.map((message) => sqsRecord('fetch', message)) }, lambda);
      invocations.push({
        records: messages.length,
        dispatched: parseQueue.size - parseBefore,
        remainingMs: lambda.getRemainingTimeInMillis(),
        failures: response.batchItemFailures.length,
      });
      const failed = new Set(response.batchItemFailures.map((failure) => failure.itemIdentifier));
      await fetchQueue.deleteBatch(messages.filter((m) => !failed.has(m.messageId)).map((m) => m.receiptHandle));
    }

    // Assess: the first invocation fetched part of the batch and handed the rest back, every invocation ended before
    // its deadline, no message failed (no receive count burned: every task was received once).
    expect(invocations.length).toBeGreaterThanOrEqual(3);
    const [first] = invocations;
    expect(first?.records).toBe(PAGES);
    expect(first?.dispatched).toBeGreaterThan(0);
    expect(first?.dispatched).toBeLessThan(PAGES);
    for (const invocation of invocations) {
      expect(invocation.remainingMs).toBeGreaterThan(0);
      expect(invocation.failures).toBe(0);
    }
    expect(receiveCounts.every((count) => count === 1)).toBe(true);
    expect(receiveCounts).toHaveLength(invocations.reduce((sum, invocation) => sum + invocation.records, 0));

    // Nothing lost, nothing twice: one parse task per URL, each pointing at its page in a WARC object.
    const tasks: ParseTask[] = (await parseQueue.receive(1000)).map((message) =>
      parseTaskMessage.parse(JSON.parse(message.body)),
    );
    expect(tasks.map((task) => task.url).sort()).toEqual([...startUrls].sort());
    for (const task of tasks) {
      const object = await context.store.get(task.raw.key);
      expect(object).toBeDefined();
      const member = gunzipSync(Buffer.from(object as Uint8Array).subarray(task.raw.offset, task.raw.offset + task.raw.length));
      expect(member.toString('utf8')).toContain(`<h1>page ${new URL(task.url).pathname}</h1>`);
    }
    expect(fetchQueue.size).toBe(0);
  });

  it('fetches the whole batch when there is time', async () => {
    // Prepare
    const handler = createFetcherHandler(context, { dispatchReserveMs: 200 });
    const urls = [`${origin}/a`, `${origin}/b`, `${origin}/c`];
    await handler({
      Records: [
        sqsRecord('fetch', {
          messageId: 'start',
          receiptHandle: 'start',
          body: JSON.stringify({ type: 'start-run', job: 'slow', runId: '20261126T000000Z-abcdef', startUrls: urls }),
          receiveCount: 1,
          sentAt: Date.now(),
        }),
      ],
    });
    const messages = await fetchQueue.receive(10);

    // Act
    const response = await handler(
      { Records: messages.map((message) => sqsRecord('fetch', message)) },
      lambdaContext('fetcher', 60_000),
    );

    // Assess: all three fetched and dispatched, none handed back.
    expect(response.batchItemFailures).toEqual([]);
    expect(parseQueue.size).toBe(3);
    await fetchQueue.deleteBatch(messages.map((message) => message.receiptHandle));
    expect(fetchQueue.size).toBe(0);
  });
});
