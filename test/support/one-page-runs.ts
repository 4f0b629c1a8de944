import { gzipSync } from 'node:zlib';
import type { Job } from '../../shared/job/schema.js';
import { layout } from '../../shared/layout.js';
import { LocalQueue } from '../../shared/local/queue.js';
import { createContext, jobRegistry, type PipelineContext } from '../../shared/pipeline/context.js';
import type { RunManifest } from '../../shared/pipeline/finalize.js';
import type { PageRecord } from '../../shared/pipeline/messages.js';
import { InProcessHostGate } from '../../shared/pipeline/politeness.js';
import { postProcessRecords } from '../../shared/pipeline/postprocess.js';
import { type ObjectStore, type StateStore, silentLog, systemClock } from '../../shared/ports.js';
import { readManifest } from '../../shared/query.js';

/** What {@link offlineContext} takes besides the jobs and stores: any part of the context to set otherwise. */
export type OfflineContextParts = Partial<Parameters<typeof createContext>[0]>;

/**
 * A pipeline context that never fetches, for tests of the stages around fetching (start, post-processing, the
 * watchdog): the given jobs and stores, local queues, an in-process host gate, the system clock and a silent log,
 * unless `parts` sets them.
 */
export function offlineContext(
  jobs: readonly Job[],
  store: ObjectStore,
  state: StateStore,
  parts: OfflineContextParts = {},
): PipelineContext {
  return createContext({
    jobs: jobRegistry(jobs),
    store,
    state,
    fetchQueue: new LocalQueue({ name: 'fetch' }),
    parseQueue: new LocalQueue({ name: 'parse' }),
    http: { fetchPage: () => Promise.reject(new Error('no fetching in this test')), close: async () => {} },
    hosts: new InProcessHostGate(),
    clock: systemClock,
    log: silentLog,
    ...parts,
  });
}

/**
 * One run of `job` whose only URL is `page.url` (a start URL of template `template`): started, the page's record
 * post-processed as records object `b1`, finished. Returns the run's manifest.
 */
export async function runOnePage(
  context: PipelineContext,
  job: string,
  runId: string,
  page: PageRecord,
  template = 'row',
): Promise<RunManifest> {
  const host = new URL(page.url).host;
  await context.ledger.createRun(job, runId, { hosts: [host], seeds: [page.url] }, Date.now());
  await context.ledger.acceptMany(job, runId, [{ url: page.url, depth: 0, template, parent: 'seed' }], {
    maxPages: 10,
    now: Date.now(),
  });
  const key = layout.records(job, runId, 'b1');
  await context.store.put(key, gzipSync(`${JSON.stringify(page)}\n`));
  await postProcessRecords(context, key);
  const manifest = await readManifest(context.store, job, runId);
  if (!manifest) throw new Error(`run ${runId} of ${job} did not finish`);
  return manifest;
}

/**
 * A parsed page record of template `row` holding one item `{ id: key }` per key, and `links` links;
 * `valid: false` gives each item a problem (quarantined, but still held by the page).
 */
export function parsedPageRecord(
  url: string,
  keys: readonly string[],
  options: { links?: number; valid?: boolean } = {},
): PageRecord {
  return {
    status: 'parsed',
    url,
    finalUrl: url,
    depth: 0,
    template: 'row',
    fetchedAt: '2026-12-01T00:00:00.000Z',
    items: keys.map((key) => ({
      key,
      data: { id: key },
      problems: options.valid === false ? [{ field: 'id', message: 'made invalid by the test' }] : [],
    })),
    links: Array.from({ length: options.links ?? 0 }, (_, index) => [`${new URL(url).origin}/p/${index}`, null]),
    etag: null,
    lastModified: null,
    hash: `sha256:${keys.length}`,
    wireBytes: 1,
    bodyBytes: 1,
    fetchMs: 1,
  };
}
