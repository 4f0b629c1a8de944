import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { inProcessExtractor } from '../shared/extract/pool.js';
import { createParserHandler } from '../shared/handlers.js';
import { parseJob } from '../shared/job/load.js';
import { layout } from '../shared/layout.js';
import type { LocalQueue } from '../shared/local/queue.js';
import { sqsRecord } from '../shared/local/runtime.js';
import { EmbeddedStateStore } from '../shared/local/state.js';
import { gunzipLines } from '../shared/ndjson.js';
import type { PipelineContext } from '../shared/pipeline/context.js';
import { pageRecordSchema, parseJson, parseTaskMessage } from '../shared/pipeline/messages.js';
import { lambdaContext } from './aws/lambda-driver.js';
import { closeServer, listenOnLoopback } from './fixtures/http-fixture.js';
import { type HandlerPipeline, handlerPipeline } from './support/handler-pipeline.js';
import { slowState } from './support/slow-state.js';

const PAGES = 30;
const RUN_ID = '20261202T000000Z-abcdef';
/** The parser invocation's timeout: with a 600 ms reserve, pages may start in its first 900 ms only. */
const TIMEOUT_MS = 1500;
/** Every state request answers this much later: a state table under load (the scale check's overloaded peer). */
const STATE_LATENCY_MS = 30;

describe('Function: createParserHandler (deadline guard)', () => {
  let dir: string;
  let server: Server;
  let origin: string;
  let context: PipelineContext;
  let parseQueue: LocalQueue;
  let pipeline: HandlerPipeline;
  let startUrls: string[];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'scrapeline-parse-deadline-'));
    server = createServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      // Links of its own on every page: each page's links are accepted with state requests of their own.
      const links = [1, 2, 3].map((n) => `<a href="/more${req.url}/${n}">more</a>`).join('');
      res.end(`<!DOCTYPE html><title>${req.url}</title><h1>page ${req.url}</h1>${links}`);
    });
    origin = await listenOnLoopback(server);
    startUrls = Array.from({ length: PAGES }, (_, index) => `${origin}/p/${index}`);
    const job = parseJob(
      {
        name: 'pages',
        start: { urls: startUrls, template: 'page' },
        follow: [{ selector: 'a', from: ['page'] }],
        politeness: { perHostConcurrency: 8, minDelayMs: 0, robotsTxt: 'ignore' },
        templates: { page: { key: 'url', fields: { title: 'h1', url: { from: 'url', type: 'url' } } } },
      },
      'pages.ts',
    );
    // As on Lambda, pages are extracted on the invocation's thread.
    pipeline = handlerPipeline(job, dir, {
      state: slowState(new EmbeddedStateStore(), STATE_LATENCY_MS),
      extractor: inProcessExtractor,
    });
    ({ context, parseQueue } = pipeline);
    // Every page fetched and archived (no deadline: a direct call), one parse task each in the parse queue.
    await pipeline.fetchAll(RUN_ID, startUrls);
  });

  afterEach(async () => {
    await pipeline.close();
    await closeServer(server);
    await rm(dir, { recursive: true, force: true });
  });

  /** The page records the parser wrote, from every records object of the run. */
  async function pageRecords() {
    const records = [];
    for await (const object of context.store.list(layout.recordsPrefix)) {
      const body = await context.store.get(object.key);
      for (const line of gunzipLines(object.key, body as Uint8Array)) {
        if (line !== '') records.push(parseJson(pageRecordSchema, line, object.key));
      }
    }
    return records;
  }

  it('stops starting pages before the deadline, writes what it parsed and hands the rest back', async () => {
    // Prepare: one page at a time, its links accepted with several state requests of 30 ms: 30 pages need about 3 s,
    // twice an invocation's timeout.
    expect(parseQueue.size).toBe(PAGES);
    const handler = createParserHandler(context, { finishReserveMs: 600, pageConcurrency: 1 });

    // Act: invoke the parser like an event source mapping (batches of up to 100) until the parse queue is empty.
    const invocations: { records: number; written: number; handedBack: number; remainingMs: number; failures: number }[] = [];
    const receiveCounts: number[] = [];
    for (let round = 0; round < 20; round++) {
      const messages = await parseQueue.receive(100);
      if (messages.length === 0) break;
      receiveCounts.push(...messages.map((message) => message.receiveCount));
      const lambda = lambdaContext('parser', TIMEOUT_MS);
      const writtenBefore = (await pageRecords()).length;
      const response = await handler({ Records: messages.map((message) => sqsRecord('parse', message)) }, lambda);
      const remainingMs = lambda.getRemainingTimeInMillis();
      const failed = new Set(response.batchItemFailures.map((failure) => failure.itemIdentifier));
      await parseQueue.deleteBatch(messages.filter((m) => !failed.has(m.messageId)).map((m) => m.receiptHandle));
      invocations.push({
        records: messages.length,
        written: (await pageRecords()).length - writtenBefore,
        handedBack: parseQueue.size,
        remainingMs,
        failures: failed.size,
      });
    }

    // Assess: the first invocation parsed part of the batch and handed the rest back; every invocation ended before
    // its deadline, none failed a message, and every task was received once (the hand-backs are new messages).
    expect(invocations.length).toBeGreaterThanOrEqual(2);
    const [first] = invocations;
    expect(first?.records).toBe(PAGES);
    expect(first?.written).toBeGreaterThan(0);
    expect(first?.written).toBeLessThan(PAGES);
    expect(first?.handedBack).toBe(PAGES - (first?.written ?? 0));
    for (const invocation of invocations) {
      expect(invocation.remainingMs).toBeGreaterThan(0);
      expect(invocation.failures).toBe(0);
    }
    expect(receiveCounts.every((count) => count === 1)).toBe(true);

    // Nothing lost, nothing twice: one parsed page record per URL, with its item.
    const records = await pageRecords();
    expect(records.map((record) => record.url).sort()).toEqual([...startUrls].sort());
    expect(records.every((record) => record.status === 'parsed')).toBe(true);
    expect(parseQueue.size).toBe(0);
  });

  it('hands a page in progress back before it accepts its links once the deadline is near', async () => {
    // Prepare: an invocation whose time runs out right after the first page was admitted (the handler reads the
    // remaining time once at its start, once to admit the page): the page is extracted, its links not yet accepted.
    const handler = createParserHandler(context, { finishReserveMs: 600, pageConcurrency: 1 });
    const messages = await parseQueue.receive(100);
    let reads = 0;
    const lambda = { ...lambdaContext('parser', 60_000), getRemainingTimeInMillis: () => (++reads <= 2 ? 60_000 : 100) };

    // Act
    const response = await handler({ Records: messages.map((message) => sqsRecord('parse', message)) }, lambda);
    await parseQueue.deleteBatch(messages.map((message) => message.receiptHandle));

    // Assess: every task handed back (the first one too, none failed), no page record written, and none of the
    // first page's links accepted: its work starts whole in the next invocation.
    expect(response.batchItemFailures).toEqual([]);
    expect(parseQueue.size).toBe(PAGES);
    const handedBack = await parseQueue.receive(100);
    expect(handedBack.map((message) => parseJson(parseTaskMessage, message.body, 'task').url).sort()).toEqual(
      [...startUrls].sort(),
    );
    expect(await pageRecords()).toEqual([]);
    const first = parseJson(parseTaskMessage, messages[0]?.body ?? '', 'task');
    const links = [1, 2, 3].map((n) => `${origin}/more${new URL(first.url).pathname}/${n}`);
    for (const link of links) expect(await context.ledger.getUrl('pages', RUN_ID, link)).toBeUndefined();
  });

  it('returns the tasks it could not hand back as failures, so none is lost', async () => {
    // Prepare: a parse queue that refuses new messages; a deadline that leaves time for a few pages only.
    const refusing = { send: () => Promise.reject(new Error('SQS unavailable')) };
    const handler = createParserHandler({ ...context, parseQueue: refusing }, { finishReserveMs: 600, pageConcurrency: 1 });
    const messages = await parseQueue.receive(100);

    // Act
    const response = await handler(
      { Records: messages.map((message) => sqsRecord('parse', message)) },
      lambdaContext('parser', TIMEOUT_MS),
    );

    // Assess: the pages parsed were written, every other message is a batch item failure (SQS delivers it again).
    const written = new Set((await pageRecords()).map((record) => record.url));
    const failed = new Set(response.batchItemFailures.map((failure) => failure.itemIdentifier));
    expect(written.size).toBeGreaterThan(0);
    expect(failed.size).toBeGreaterThan(0);
    for (const message of messages) {
      const url = parseTaskMessage.parse(JSON.parse(message.body)).url;
      expect(written.has(url) !== failed.has(message.messageId)).toBe(true);
    }
  });

  it('parses the whole batch when there is time', async () => {
    // Prepare
    const handler = createParserHandler(context, { finishReserveMs: 600, pageConcurrency: 4 });
    const messages = await parseQueue.receive(100);

    // Act
    const response = await handler(
      { Records: messages.map((message) => sqsRecord('parse', message)) },
      lambdaContext('parser', 60_000),
    );
    await parseQueue.deleteBatch(messages.map((message) => message.receiptHandle));

    // Assess: all parsed and written, none handed back.
    expect(response.batchItemFailures).toEqual([]);
    expect((await pageRecords()).map((record) => record.url).sort()).toEqual([...startUrls].sort());
    expect(parseQueue.size).toBe(0);
  });
});
