import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { inProcessExtractor } from '../shared/extract/pool.js';
import { createParserHandler, createPostProcessorHandler } from '../shared/handlers.js';
import { parseJob } from '../shared/job/load.js';
import { layout } from '../shared/layout.js';
import { LocalQueue } from '../shared/local/queue.js';
import { objectCreatedNotification, sqsRecord } from '../shared/local/runtime.js';
import { EmbeddedStateStore } from '../shared/local/state.js';
import { gunzipLines } from '../shared/ndjson.js';
import type { PipelineContext } from '../shared/pipeline/context.js';
import { stateKeys } from '../shared/state-keys.js';
import { lambdaContext } from './aws/lambda-driver.js';
import { closeServer, listenOnLoopback } from './fixtures/http-fixture.js';
import { type HandlerPipeline, handlerPipeline } from './support/handler-pipeline.js';
import { slowState } from './support/slow-state.js';

const JOB = 'shelves';
const RUN_ID = '20261202T000000Z-postpr';
const PAGES = 24;
const ITEMS_PER_PAGE = 3;
/** Pages per parse invocation, so per records object: 6 objects of 4 pages. */
const PAGES_PER_OBJECT = 4;
/**
 * The post-processor invocation's timeout: with a 1,200 ms reserve, messages start in its first 1,200 ms only (a few
 * objects: each takes several rounds of 50 ms state requests; with 1,800 ms, all six could start and nothing was
 * handed back), and an object in progress stops with 300 ms left.
 */
const RESERVE_MS = 1200;
const TIMEOUT_MS = 2 * RESERVE_MS;
/** Every state request answers this much later: a state table under load (the scale check's overloaded peer). */
const STATE_LATENCY_MS = 50;

describe('Function: createPostProcessorHandler (deadline guard)', () => {
  let dir: string;
  let server: Server;
  let context: PipelineContext;
  let pipeline: HandlerPipeline;
  let postprocessQueue: LocalQueue;
  let startUrls: string[];
  let stateRequests = 0;
  /** Every state request made, in order: its method, and for a query its key prefix (the finishing's reads). */
  let requested: { method: string; prefix?: string }[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'scrapeline-postprocess-deadline-'));
    // Shelf pages of three books each (several items per page, each with a key of its own), no links.
    server = createServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      const books = Array.from({ length: ITEMS_PER_PAGE }, (_, n) => `<li><b>${req.url}/book-${n}</b></li>`).join('');
      res.end(`<!DOCTYPE html><title>${req.url}</title><ul>${books}</ul>`);
    });
    const origin = await listenOnLoopback(server);
    startUrls = Array.from({ length: PAGES }, (_, index) => `${origin}/shelf/${index}`);
    const job = parseJob(
      {
        name: JOB,
        start: { urls: startUrls, template: 'shelf' },
        politeness: { perHostConcurrency: 8, minDelayMs: 0, robotsTxt: 'ignore' },
        templates: { shelf: { items: 'li', key: 'title', fields: { title: 'b' } } },
      },
      'shelves.ts',
    );
    pipeline = handlerPipeline(job, dir, {
      state: slowState(new EmbeddedStateStore(), STATE_LATENCY_MS, (method, args) => {
        requested.push(method === 'query' ? { method, prefix: String(args[1]) } : { method });
        if (method !== 'query') stateRequests++;
      }),
      extractor: inProcessExtractor,
      // Few item keys in memory: the finalization keeps the others in scratch objects, which a stop must not leave.
      settings: { finalizeMemoryKeys: 8 },
    });
    ({ context } = pipeline);
    const { parseQueue } = pipeline;
    // Every page fetched and parsed with no deadline (direct calls), a records object per parse invocation.
    await pipeline.fetchAll(RUN_ID, startUrls);
    const parser = createParserHandler(context);
    for (
      let tasks = await parseQueue.receive(PAGES_PER_OBJECT);
      tasks.length > 0;
      tasks = await parseQueue.receive(PAGES_PER_OBJECT)
    ) {
      await parser({ Records: tasks.map((message) => sqsRecord('parse', message)) });
      await parseQueue.deleteBatch(tasks.map((message) => message.receiptHandle));
    }
    // One S3 notification per records object in the post-processing queue, as S3 sends them.
    postprocessQueue = new LocalQueue({ name: 'postprocess', visibilityTimeoutMs: 60_000 });
    const keys: string[] = [];
    for await (const object of context.store.list(layout.recordsPrefix)) keys.push(object.key);
    await postprocessQueue.send(keys.map((key) => ({ body: objectCreatedNotification('local', key, 1, Date.now()) })));
  });

  afterEach(async () => {
    requested = [];
    await pipeline.close();
    await closeServer(server);
    await rm(dir, { recursive: true, force: true });
  });

  /** Every dataset row of the job, by item key. */
  async function datasetKeys(): Promise<string[]> {
    const keys: string[] = [];
    for await (const object of context.store.list(layout.datasetPrefix(JOB))) {
      const body = (await context.store.get(object.key)) as Uint8Array;
      for (const line of gunzipLines(object.key, body)) if (line !== '') keys.push((JSON.parse(line) as { _key: string })._key);
    }
    return keys.sort();
  }

  it('stops before the deadline, hands unfinished records objects back, and the run completes with every item once', async () => {
    // Prepare: a state request takes 50 ms; an object's 4 pages and 12 items need more than ten rounds of them, one
    // object at a time: a batch of 6 objects takes longer than an invocation's timeout.
    expect(postprocessQueue.size).toBe(PAGES / PAGES_PER_OBJECT);
    const handler = createPostProcessorHandler(context, {
      handBackQueue: postprocessQueue,
      finishReserveMs: RESERVE_MS,
      messageConcurrency: 1,
    });

    // Act: invoke the post-processor like an event source mapping (batches of up to 10) until its queue is empty.
    const invocations: { records: number; handedBack: number; remainingMs: number; failures: number }[] = [];
    const receiveCounts: number[] = [];
    for (let round = 0; round < 30; round++) {
      const messages = await postprocessQueue.receive(10);
      if (messages.length === 0) break;
      receiveCounts.push(...messages.map((message) => message.receiveCount));
      const lambda = lambdaContext('postprocessor', TIMEOUT_MS);
      const response = await handler({ Records: messages.map((message) => sqsRecord('postprocess', message)) }, lambda);
      const remainingMs = lambda.getRemainingTimeInMillis();
      const failed = new Set(response.batchItemFailures.map((failure) => failure.itemIdentifier));
      await postprocessQueue.deleteBatch(messages.filter((m) => !failed.has(m.messageId)).map((m) => m.receiptHandle));
      invocations.push({ records: messages.length, handedBack: postprocessQueue.size, remainingMs, failures: failed.size });
    }

    // Assess: the first invocation handed work back; every invocation ended before its deadline with no failure, and
    // every message was received once (hand-backs are new messages).
    expect(invocations.length).toBeGreaterThanOrEqual(2);
    expect(invocations[0]?.records).toBe(PAGES / PAGES_PER_OBJECT);
    expect(invocations[0]?.handedBack).toBeGreaterThan(0);
    for (const invocation of invocations) {
      expect(invocation.remainingMs).toBeGreaterThan(0);
      expect(invocation.failures).toBe(0);
    }
    expect(receiveCounts.every((count) => count === 1)).toBe(true);
    expect(postprocessQueue.size).toBe(0);

    // The run completed, its counters once per page and item although objects were post-processed more than once.
    const run = await context.ledger.getRun(JOB, RUN_ID);
    expect(run?.state).toBe('succeeded');
    expect(run?.counters.parsed).toBe(PAGES);
    expect(run?.counters.items).toBe(PAGES * ITEMS_PER_PAGE);
    expect(run?.counters.newItems).toBe(PAGES * ITEMS_PER_PAGE);
    expect(await context.store.get(layout.manifest(JOB, RUN_ID))).toBeDefined();
    const expected = startUrls.flatMap((url) =>
      Array.from({ length: ITEMS_PER_PAGE }, (_, n) => `${new URL(url).pathname}/book-${n}`),
    );
    expect(await datasetKeys()).toEqual(expected.sort());
  });

  it('stops a records object in progress between two steps and does it again whole in the next invocation', async () => {
    // Prepare: an invocation whose time runs short once the object has made 3 state requests (it has claimed its
    // pages, not yet stored its items).
    const handler = createPostProcessorHandler(context, { handBackQueue: postprocessQueue, finishReserveMs: RESERVE_MS });
    const first = await postprocessQueue.receive(1);
    const requestsBefore = stateRequests;
    const shortening = {
      ...lambdaContext('postprocessor', 60_000),
      getRemainingTimeInMillis: () => (stateRequests - requestsBefore < 3 ? 60_000 : RESERVE_MS / 8),
    };

    // Act
    const response = await handler({ Records: first.map((message) => sqsRecord('postprocess', message)) }, shortening);
    await postprocessQueue.deleteBatch(first.map((message) => message.receiptHandle));
    const stopped = await context.ledger.getRun(JOB, RUN_ID);
    const again = await postprocessQueue.receive(10);
    const handedBack = again.filter((message) => message.body === first[0]?.body);
    await handler(
      { Records: handedBack.map((message) => sqsRecord('postprocess', message)) },
      lambdaContext('postprocessor', 60_000),
    );

    // Assess: handed back, not failed, before its dataset was written or its counters added; done whole (counted once)
    // the second time.
    expect(response.batchItemFailures).toEqual([]);
    expect(handedBack).toHaveLength(1);
    expect(stopped?.counters.items ?? 0).toBe(0);
    expect(stopped?.counters.parsed ?? 0).toBe(0);
    const done = await context.ledger.getRun(JOB, RUN_ID);
    expect(done?.counters.parsed).toBe(PAGES_PER_OBJECT);
    expect(done?.counters.items).toBe(PAGES_PER_OBJECT * ITEMS_PER_PAGE);
    expect((await datasetKeys()).length).toBe(PAGES_PER_OBJECT * ITEMS_PER_PAGE);
  });

  /**
   * Post-processes every records object but one with no deadline, and returns the last one's message, and a Lambda
   * context whose remaining time is `atStart` until the object's counters are added (a transaction), `whenFinishing`
   * from then on, and 150 ms (below the stop margin) once the finishing reads the state under `prefix`.
   */
  async function lastObject(prefix: string, remainingMs: { atStart: number; whenFinishing: number }) {
    const handler = createPostProcessorHandler(context, { handBackQueue: postprocessQueue, finishReserveMs: RESERVE_MS });
    const [last, ...others] = await postprocessQueue.receive(10);
    if (!last) throw new Error('no records object to post-process');
    await handler({ Records: others.map((message) => sqsRecord('postprocess', message)) });
    await postprocessQueue.deleteBatch([last, ...others].map((message) => message.receiptHandle));
    const before = requested.length;
    const since = () => requested.slice(before);
    const finishing = () => since().some((request) => request.method === 'transact');
    const reading = () => since().some((request) => request.prefix?.startsWith(prefix));
    const lambda = {
      ...lambdaContext('postprocessor', remainingMs.atStart),
      getRemainingTimeInMillis: () =>
        reading() ? RESERVE_MS / 8 : finishing() ? remainingMs.whenFinishing : remainingMs.atStart,
    };
    return { handler, last, lambda, reading };
  }

  it.each([
    ['its survey of every URL entry', stateKeys.urlPrefix],
    ["its settlement of the job's items", stateKeys.itemKeyPrefix],
  ])('stops finishing the run begun late in the invocation, within %s, and finishes it in the next one', async (_, prefix) => {
    // Prepare: the last object's invocation has less than half its time left when the finishing begins.
    const { handler, last, lambda, reading } = await lastObject(prefix, { atStart: 60_000, whenFinishing: 20_000 });

    // Act
    const response = await handler({ Records: [sqsRecord('postprocess', last)] }, lambda);
    const stopped = await context.ledger.getRun(JOB, RUN_ID);
    const scratch: string[] = [];
    for await (const object of context.store.list(layout.scratchPrefix)) scratch.push(object.key);
    const again = await postprocessQueue.receive(10);
    await handler({ Records: again.map((message) => sqsRecord('postprocess', message)) }, lambdaContext('postprocessor', 60_000));

    // Assess: the finishing had begun after the object's counters were added, and stopped there: handed back, not
    // failed, the run not finished and no scratch left; the next invocation finished it, every item once.
    expect(reading()).toBe(true);
    expect(response.batchItemFailures).toEqual([]);
    expect(stopped?.state).toBe('running');
    expect(stopped?.counters.parsed).toBe(PAGES);
    expect(scratch).toEqual([]);
    expect(again.map((message) => message.body)).toEqual([last.body]);
    const done = await context.ledger.getRun(JOB, RUN_ID);
    expect(done?.state).toBe('succeeded');
    expect(done?.counters.parsed).toBe(PAGES);
    expect(done?.counters.items).toBe(PAGES * ITEMS_PER_PAGE);
    expect((await datasetKeys()).length).toBe(PAGES * ITEMS_PER_PAGE);
    const current = JSON.parse(String(await context.store.get(layout.currentPointer(JOB)))) as { items: number };
    expect(current.items).toBe(PAGES * ITEMS_PER_PAGE);
  });

  it('does not stop finishing the run begun with half the invocation ahead: a next invocation would have no more time', async () => {
    // Prepare: the finishing begins with the invocation's whole time ahead, then runs into the stop margin.
    const { handler, last, lambda, reading } = await lastObject(stateKeys.urlPrefix, { atStart: 60_000, whenFinishing: 60_000 });

    // Act
    const response = await handler({ Records: [sqsRecord('postprocess', last)] }, lambda);

    // Assess: finished in this invocation, nothing handed back.
    expect(reading()).toBe(true);
    expect(response.batchItemFailures).toEqual([]);
    expect((await context.ledger.getRun(JOB, RUN_ID))?.state).toBe('succeeded');
    expect(postprocessQueue.size).toBe(0);
  });

  it('returns what it cannot hand back as batch item failures, so none is lost', async () => {
    // Prepare: no queue to hand back to (and, in the next invocation, one that refuses).
    const refusing = { send: () => Promise.reject(new Error('SQS unavailable')) };
    const messages = await postprocessQueue.receive(10);
    const records = { Records: messages.map((message) => sqsRecord('postprocess', message)) };

    // Act
    const withoutQueue = await createPostProcessorHandler(context, { finishReserveMs: RESERVE_MS, messageConcurrency: 1 })(
      records,
      lambdaContext('postprocessor', TIMEOUT_MS),
    );
    const refused = await createPostProcessorHandler(context, {
      handBackQueue: refusing,
      finishReserveMs: RESERVE_MS,
      messageConcurrency: 1,
    })(records, lambdaContext('postprocessor', TIMEOUT_MS));

    // Assess: some objects were done, the others are failures (SQS delivers them again).
    for (const response of [withoutQueue, refused]) {
      expect(response.batchItemFailures.length).toBeGreaterThan(0);
      expect(response.batchItemFailures.length).toBeLessThan(messages.length);
    }
  });
});
