import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UndiciHttpClient } from '../shared/fetch/http.js';
import { createFetcherHandler } from '../shared/handlers.js';
import { parseJob } from '../shared/job/load.js';
import { FileSystemObjectStore } from '../shared/local/object-store.js';
import { LocalQueue } from '../shared/local/queue.js';
import { sqsRecord } from '../shared/local/runtime.js';
import { EmbeddedStateStore } from '../shared/local/state.js';
import { createContext, jobRegistry } from '../shared/pipeline/context.js';
import { fetchTaskMessage, parseMessage } from '../shared/pipeline/messages.js';
import { StateHostGate } from '../shared/pipeline/politeness.js';
import { type StateWrite, silentLog, systemClock, type TryWriteResult } from '../shared/ports.js';
import { lambdaContext } from './aws/lambda-driver.js';
import { closeServer, listenOnLoopback } from './fixtures/http-fixture.js';
import { CountingStore } from './support/counting-store.js';

const DELAY_MS = 300;

/** Counts the writes to the politeness gate's items (`host#…`) among the pipeline's. */
class HostWriteCountingStore extends CountingStore {
  hostWrites = 0;

  override tryWrite(write: StateWrite): Promise<TryWriteResult> {
    if (write.pk.startsWith('host#')) this.hostWrites++;
    return super.tryWrite(write);
  }
}
const RUN_ID = '20261202T000000Z-slots0';

/**
 * Two fetcher instances (each with its own gate, as two Lambda containers) share the state table and the fetch queue.
 * A polite host's tasks form one line: the instance that books first fetches its batch, waiting in process; the
 * other books its batch after it and hands every task back carrying its start, and the tasks start at those starts
 * when they come back, without booking again.
 */
describe('Function: createFetcherHandler (booked starts carried through the queue)', () => {
  let dir: string;
  let server: Server;
  let origin: string;
  const arrivals: { path: string; at: number }[] = [];
  const clients: UndiciHttpClient[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'scrapeline-slots-'));
    arrivals.length = 0;
    server = createServer((req, res) => {
      arrivals.push({ path: req.url ?? '', at: Date.now() });
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(`<!DOCTYPE html><title>${req.url}</title><h1>page ${req.url}</h1>`);
    });
    origin = await listenOnLoopback(server);
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
    await closeServer(server);
    await rm(dir, { recursive: true, force: true });
  });

  it("books a second instance's tasks after the first's, hands them back with their starts, and starts them then without a booking", async () => {
    // Prepare
    const job = parseJob(
      {
        name: 'polite',
        start: { urls: [`${origin}/p/0`] },
        politeness: { perHostConcurrency: 1, minDelayMs: DELAY_MS, robotsTxt: 'ignore' },
        fetch: { timeoutMs: 2000, retries: 0 },
      },
      'polite.ts',
    );
    const state = new HostWriteCountingStore(new EmbeddedStateStore());
    const fetchQueue = new LocalQueue({ name: 'fetch', visibilityTimeoutMs: 60_000 });
    const parseQueue = new LocalQueue({ name: 'parse', visibilityTimeoutMs: 60_000 });
    const instance = () => {
      const http = new UndiciHttpClient({ ssrf: { allow: ['127.0.0.1'] } });
      clients.push(http);
      const context = createContext({
        jobs: jobRegistry([job]),
        store: new FileSystemObjectStore({ root: dir }),
        state,
        fetchQueue,
        parseQueue,
        http,
        hosts: new StateHostGate(state, { clock: systemClock, maxWaitMs: 500 }),
        clock: systemClock,
        log: silentLog,
      });
      return createFetcherHandler(context, { dispatchReserveMs: 200 });
    };
    const [first, second, third] = [instance(), instance(), instance()];
    const startUrls = Array.from({ length: 8 }, (_, index) => `${origin}/p/${index}`);
    const start = JSON.stringify({ type: 'start-run', job: 'polite', runId: RUN_ID, startUrls });
    await first({
      Records: [
        sqsRecord('fetch', { messageId: 'start', receiptHandle: 'start', body: start, receiveCount: 1, sentAt: Date.now() }),
      ],
    });
    const tasks = await fetchQueue.receive(100);
    expect(tasks).toHaveLength(8);
    const gateWrites = () => state.hostWrites;

    // Act: two batches of four at once on two instances.
    const writesBefore = gateWrites();
    const batches = [tasks.slice(0, 4), tasks.slice(4)];
    await Promise.all(
      [first, second].map((handler, index) =>
        handler(
          { Records: (batches[index] ?? []).map((message) => sqsRecord('fetch', message)) },
          lambdaContext('fetcher', 60_000),
        ),
      ),
    );
    await fetchQueue.deleteBatch(tasks.map((message) => message.receiptHandle));
    const bookingWrites = gateWrites() - writesBefore;
    const fetchedFirst = arrivals.length;
    const handedBack = await fetchQueue.receive(100);
    const carried = handedBack.map((message) => parseMessage(fetchTaskMessage, message.body, 'handed-back task'));
    const writesBeforeReturn = gateWrites();
    // In the reverse order of their starts: each waits for its own start, not for the records before it.
    const returning = [...handedBack].sort(
      (a, b) =>
        (parseMessage(fetchTaskMessage, b.body, 'b').slotAt ?? 0) - (parseMessage(fetchTaskMessage, a.body, 'a').slotAt ?? 0),
    );
    await third({ Records: returning.map((message) => sqsRecord('fetch', message)) }, lambdaContext('fetcher', 60_000));
    await fetchQueue.deleteBatch(handedBack.map((message) => message.receiptHandle));

    // Assess: one instance fetched its four, the other's four came back with four starts after them, 300 ms apart.
    expect(fetchedFirst).toBe(4);
    expect(bookingWrites).toBeLessThanOrEqual(5);
    expect(carried).toHaveLength(4);
    const slots = carried.map((task) => task.slotAt ?? 0).sort((a, b) => a - b);
    for (let index = 1; index < slots.length; index++) expect((slots[index] ?? 0) - (slots[index - 1] ?? 0)).toBe(DELAY_MS);
    // Returned, they started at their starts (never before), with no booking, and every page was fetched once.
    expect(gateWrites() - writesBeforeReturn).toBe(0);
    expect(arrivals).toHaveLength(8);
    expect(new Set(arrivals.map((arrival) => arrival.path)).size).toBe(8);
    const returned = arrivals
      .slice(4)
      .map((arrival) => arrival.at)
      .sort((a, b) => a - b);
    for (const [index, at] of returned.entries()) expect(at).toBeGreaterThanOrEqual((slots[index] ?? 0) - 1);
    const sorted = arrivals.map((arrival) => arrival.at).sort((a, b) => a - b);
    // Arrivals carry connection jitter of a few ms; the spacing holds between every two of them.
    for (let index = 1; index < sorted.length; index++)
      expect((sorted[index] ?? 0) - (sorted[index - 1] ?? 0)).toBeGreaterThanOrEqual(DELAY_MS - 30);
    expect(await fetchQueue.receive(100)).toHaveLength(0);
  });
});
