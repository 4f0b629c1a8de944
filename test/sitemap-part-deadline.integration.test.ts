import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFetcherHandler } from '../shared/handlers.js';
import { parseJob } from '../shared/job/load.js';
import { sqsRecord } from '../shared/local/runtime.js';
import { EmbeddedStateStore } from '../shared/local/state.js';
import type { FetchTask } from '../shared/pipeline/messages.js';
import type { ObjectStore } from '../shared/ports.js';
import { lambdaContext } from './aws/lambda-driver.js';
import { closeServer, listenOnLoopback } from './fixtures/http-fixture.js';
import { collect } from './fixtures/iterables.js';
import { type HandlerPipeline, handlerPipeline } from './support/handler-pipeline.js';
import { slowState } from './support/slow-state.js';

/** Three parts: 1,000, 1,000 and 345 entries. */
const ENTRIES = 2_345;
const RUN = '20261202T000000Z-abcdef';
/** The invocation's timeout: with the job below, parts start only in its first 900 ms (a 600 ms margin). */
const TIMEOUT_MS = 1500;

describe('Function: createFetcherHandler (sitemap parts near the deadline)', () => {
  let dir: string;
  let server: Server;
  let origin: string;
  let pipeline: HandlerPipeline;
  let state: EmbeddedStateStore;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'scrapeline-parts-'));
    server = createServer((request, response) => {
      if (request.url === '/sitemap.xml') {
        const urls = Array.from({ length: ENTRIES }, (_, index) => `<url><loc>${origin}/p/${index}</loc></url>`).join('');
        response.writeHead(200, { 'content-type': 'application/xml' });
        return response.end(`<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">${urls}</urlset>`);
      }
      response.writeHead(200, { 'content-type': 'text/html' });
      response.end('<html><body><h1>Shop</h1></body></html>');
    });
    origin = await listenOnLoopback(server);
    const job = parseJob(
      {
        name: 'parts',
        start: { urls: [`${origin}/`], sitemaps: [`${origin}/sitemap.xml`] },
        follow: [],
        politeness: { perHostConcurrency: 16, robotsTxt: 'ignore' },
        fetch: { timeoutMs: 300, retries: 0 },
      },
      'parts.ts',
    );
    state = new EmbeddedStateStore();
    // A state table answering 20 ms late: a part of 1,000 URLs then takes over a second.
    pipeline = handlerPipeline(job, dir, { state: slowState(state, 20), settings: { inlineRetryMaxMs: 100 } });
  });

  afterEach(async () => {
    await pipeline.close();
    await closeServer(server);
    await rm(dir, { recursive: true, force: true });
  });

  /** Starts the run and reads its sitemap (no deadline): the fetch queue then holds the three part tasks. */
  async function partTasks() {
    await pipeline.fetchAll(RUN, [`${pipeline.context.jobs.get('parts').start.urls[0]}`]);
    const parts = await receiveParts();
    expect(parts).toHaveLength(3);
    return parts;
  }

  /** Every part task in the fetch queue; the page fetches the parts enqueued are not this test's: dropped. */
  async function receiveParts() {
    const parts = [];
    for (;;) {
      const messages = await pipeline.fetchQueue.receive(10);
      if (messages.length === 0) return parts;
      for (const message of messages) {
        if ((JSON.parse(message.body) as FetchTask).sitemapPart) parts.push(message);
        else await pipeline.fetchQueue.delete(message.receiptHandle);
      }
    }
  }

  async function pageEntries(): Promise<number> {
    const entries = await collect(state.query(`run#parts#${RUN}`, 'url#'));
    return entries.filter((entry) => String(entry.url).includes('/p/')).length;
  }

  it('stops offering parts near the deadline and hands back the entries not offered, without failing a message', async () => {
    // Prepare
    let messages = await partTasks();
    const handler = createFetcherHandler(pipeline.context, { dispatchReserveMs: 200 });

    // Act: invocations of 1.5 s each, as an event source mapping would make them, until no part is left.
    const invocations: { tookMs: number; failures: number; handedBack: number }[] = [];
    while (messages.length > 0 && invocations.length < 20) {
      const started = Date.now();
      const response = await handler(
        { Records: messages.map((message) => sqsRecord('fetch', message)) },
        lambdaContext('fetcher', TIMEOUT_MS),
      );
      const tookMs = Date.now() - started;
      await pipeline.fetchQueue.deleteBatch(messages.map((message) => message.receiptHandle));
      messages = await receiveParts();
      invocations.push({ tookMs, failures: response.batchItemFailures.length, handedBack: messages.length });
    }

    // Assess: the first invocation could not offer everything and handed the rest back as new messages (received
    // once); every invocation ended before its deadline, none failed a message; each entry offered and counted once.
    expect(invocations.length).toBeGreaterThan(1);
    expect(invocations[0]?.handedBack).toBeGreaterThan(0);
    for (const invocation of invocations) {
      expect(invocation.failures).toBe(0);
      expect(invocation.tookMs).toBeLessThan(TIMEOUT_MS);
    }
    expect(await pageEntries()).toBe(ENTRIES);
    const run = await pipeline.context.ledger.getRun('parts', RUN);
    // The entries, the three parts, the sitemap and the start URL.
    expect(run?.counters.accepted).toBe(ENTRIES + 3 + 2);
  });

  it('fails a part whose record could not be written, so that it comes back', async () => {
    // Prepare: the object store refuses the records objects (where a part's `sitemap` record goes).
    const parts = await partTasks();
    const store = pipeline.context.store;
    const refusing: ObjectStore = new Proxy(store, {
      get(target, property) {
        if (property === 'put') {
          return async (key: string, ...rest: unknown[]) => {
            if (key.startsWith('records/')) throw new Error('S3 is down');
            return (target.put as (key: string, ...args: unknown[]) => Promise<void>)(key, ...rest);
          };
        }
        return Reflect.get(target, property, target);
      },
    });
    const handler = createFetcherHandler({ ...pipeline.context, store: refusing });

    // Act
    const response = await handler({ Records: parts.slice(0, 1).map((message) => sqsRecord('fetch', message)) });

    // Assess
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: parts[0]?.messageId }]);
  });
});
