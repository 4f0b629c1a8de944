import { UndiciHttpClient } from '../../shared/fetch/http.js';
import { createFetcherHandler } from '../../shared/handlers.js';
import type { Job } from '../../shared/job/schema.js';
import { FileSystemObjectStore } from '../../shared/local/object-store.js';
import { LocalQueue } from '../../shared/local/queue.js';
import { sqsRecord } from '../../shared/local/runtime.js';
import { EmbeddedStateStore } from '../../shared/local/state.js';
import { createContext, jobRegistry, type PipelineContext, type PipelineSettings } from '../../shared/pipeline/context.js';
import { InProcessHostGate } from '../../shared/pipeline/politeness.js';
import { type PageExtractor, type StateStore, silentLog, systemClock } from '../../shared/ports.js';

/** A pipeline to drive the stage handlers by hand: local queues and state, objects under `dir`, loopback HTTP. */
export interface HandlerPipeline {
  readonly context: PipelineContext;
  readonly fetchQueue: LocalQueue;
  readonly parseQueue: LocalQueue;
  /**
   * Starts run `runId` of the job with `startUrls` and fetches every page through the fetcher handler with no
   * deadline (direct calls): the pages are archived and their parse tasks wait in the parse queue.
   */
  fetchAll(runId: string, startUrls: readonly string[]): Promise<void>;
  /** Closes the HTTP client. */
  close(): Promise<void>;
}

/** Builds a {@link HandlerPipeline} for `job`; `state` defaults to an in-memory embedded store. */
export function handlerPipeline(
  job: Job,
  dir: string,
  options: {
    readonly state?: StateStore;
    readonly extractor?: PageExtractor;
    readonly settings?: Partial<PipelineSettings>;
  } = {},
): HandlerPipeline {
  const fetchQueue = new LocalQueue({ name: 'fetch', visibilityTimeoutMs: 60_000 });
  const parseQueue = new LocalQueue({ name: 'parse', visibilityTimeoutMs: 60_000 });
  const http = new UndiciHttpClient({ ssrf: { allow: ['127.0.0.1'] } });
  const context = createContext({
    jobs: jobRegistry([job]),
    store: new FileSystemObjectStore({ root: dir }),
    state: options.state ?? new EmbeddedStateStore(),
    fetchQueue,
    parseQueue,
    http,
    ...(options.extractor ? { extractor: options.extractor } : {}),
    hosts: new InProcessHostGate(),
    clock: systemClock,
    log: silentLog,
    ...(options.settings ? { settings: options.settings } : {}),
  });
  const fetchAll = async (runId: string, startUrls: readonly string[]) => {
    const fetcher = createFetcherHandler(context);
    const start = { type: 'start-run', job: job.name, runId, startUrls };
    const body = JSON.stringify(start);
    await fetcher({
      Records: [sqsRecord('fetch', { messageId: 'start', receiptHandle: 'start', body, receiveCount: 1, sentAt: Date.now() })],
    });
    const tasks = await fetchQueue.receive(100);
    await fetcher({ Records: tasks.map((message) => sqsRecord('fetch', message)) });
    await fetchQueue.deleteBatch(tasks.map((message) => message.receiptHandle));
  };
  return { context, fetchQueue, parseQueue, fetchAll, close: () => http.close() };
}
