import { mapLimited } from '../collections.js';
import { InvalidInputError, ObjectNotFoundError } from '../errors.js';
import { layout, parseRecordsKey, partitionDate } from '../layout.js';
import { gunzipLines, gzipNdjson } from '../ndjson.js';
import { urlId } from '../url.js';
import type { ChangeRecord, Observation } from './changes.js';
import type { PipelineContext } from './context.js';
import { finalizeIfComplete } from './finalize.js';
import { type Move, type RunMeta, templateCounters } from './ledger.js';
import { type PageRecord, pageRecordSchema, parseJson } from './messages.js';
import { fitsInline, type PageLists, type PageMemory, writePageLists } from './pages.js';

/** Items of a records object observed at once (their memory reads and writes are independent). */
const ITEM_PARALLELISM = 16;

/** Page memories of a records object written at once (one state item each, independent). */
const PAGE_MEMORY_PARALLELISM = 16;

/** Options of {@link postProcessRecords}. */
export interface PostProcessOptions {
  /**
   * Called between steps (and between the requests of a step): throws to stop the object's work there, e.g. a
   * {@link DeadlineError} near the invocation's deadline. The work is idempotent, so the object can be post-processed
   * again from the start. @default never stops
   */
  readonly checkpoint?: () => void;
  /**
   * The checkpoint of finishing the run, asked for when the finishing begins (it reads every URL of the run and every
   * item of the job, so it may take long). @default `checkpoint`
   */
  readonly finishCheckpoint?: () => () => void;
}

/** Counts of what post-processing one records object did. */
export interface PostProcessResult {
  readonly pages: number;
  readonly skippedPages: number;
  readonly items: number;
  readonly invalid: number;
  readonly duplicates: number;
}

/** Metadata columns added to every dataset row; user fields cannot start with `_`. */
export interface RowMetadata {
  readonly _key: string;
  readonly _url: string;
  readonly _runId: string;
  readonly _fetchedAt: string;
}

/** Reads and validates the page records of a records object. */
export function decodePageRecords(key: string, body: Uint8Array): PageRecord[] {
  const records: PageRecord[] = [];
  for (const [index, line] of gunzipLines(key, body).entries()) {
    if (line.trim() === '') continue;
    records.push(parseJson(pageRecordSchema, line, `${key}: line ${index + 1}`));
  }
  return records;
}

/** The item key ids and links a page record holds (none for pages that end without items). */
function listsOf(page: PageRecord): PageLists | undefined {
  switch (page.status) {
    case 'parsed':
      return { keys: page.items.flatMap((item) => (item.key === null ? [] : [urlId(item.key)])), links: page.links };
    case 'unchanged':
      return page.keys ? { keys: page.keys, links: [] } : undefined;
    default:
      return undefined;
  }
}

/**
 * The terminal state a page record asks for, with the keys of its lists ({@link listsOf}), or `keysRef` where they
 * were written when too many for its entry.
 */
function moveOf(page: PageRecord, lists: PageLists | undefined, keysRef: string | undefined): Move {
  const keys = keysRef === undefined ? lists?.keys : undefined;
  switch (page.status) {
    case 'parsed':
      return { url: page.url, state: 'parsed', keys, keysRef };
    case 'unchanged':
      return { url: page.url, state: 'unchanged', reason: page.reason, keys, keysRef };
    case 'sitemap':
      return { url: page.url, state: 'parsed' };
    case 'failed':
    case 'skipped':
      return { url: page.url, state: page.status, reason: page.reason, message: page.message };
  }
}

/** A records object's pages, claimed: the pages it owns have moved to their terminal state. */
interface ClaimedBatch {
  readonly job: string;
  readonly runId: string;
  readonly batchId: string;
  readonly meta: RunMeta;
  /** The object's pages, the first record of each URL. */
  readonly pages: readonly PageRecord[];
  /** Each page's item key ids and links. */
  readonly listsByUrl: ReadonlyMap<string, PageLists | undefined>;
  /** Keys of the lists written to the object store, by page URL. */
  readonly spilled: ReadonlyMap<string, string>;
  readonly moves: ReadonlyMap<string, Move>;
  /** URLs whose move this object made (or made the first time it was delivered). */
  readonly owned: ReadonlySet<string>;
}

/** What one records object's parsed pages come to: dataset rows, quarantine, changes, page memory and counters. */
interface ClassifiedBatch {
  readonly rows: (Record<string, unknown> & RowMetadata)[];
  readonly quarantined: unknown[];
  readonly changes: ChangeRecord[];
  readonly remembered: PageMemory[];
  readonly add: Record<string, number>;
  readonly duplicates: number;
}

/**
 * Reads a records object and moves each of its pages to its terminal state, its lists too large for a state item
 * (a page of thousands of items or links) written to the object store first.
 */
async function claimPages(context: PipelineContext, key: string): Promise<ClaimedBatch> {
  const parts = parseRecordsKey(key);
  if (!parts) throw new InvalidInputError(`not a records key: "${key}"`);
  const { job, runId, batchId } = parts;
  const body = await context.store.get(key);
  if (!body) throw new ObjectNotFoundError(key);
  // A page fetched twice can appear twice in one batch: the first record of a URL speaks for it.
  const seen = new Set<string>();
  const pages = decodePageRecords(key, body).filter((page) => !seen.has(page.url) && seen.add(page.url) !== undefined);
  const meta = await context.ledger.getRun(job, runId);
  if (!meta) throw new InvalidInputError(`${key}: run ${runId} of job ${job} is not in the state store`);
  const listsByUrl = new Map(pages.map((page) => [page.url, listsOf(page)]));
  const spilled = new Map<string, string>();
  for (const [url, lists] of listsByUrl) {
    if (!lists || fitsInline(lists)) continue;
    const listsKey = layout.pageLists(job, runId, batchId, urlId(url));
    await writePageLists(context.store, listsKey, lists);
    spilled.set(url, listsKey);
  }
  const moves = new Map(pages.map((page) => [page.url, moveOf(page, listsByUrl.get(page.url), spilled.get(page.url))]));
  const { owned } = await context.ledger.transition(job, runId, batchId, [...moves.values()]);
  return { job, runId, batchId, meta, pages, listsByUrl, spilled, moves, owned };
}

/**
 * Observes the valid items of the owned parsed pages against the job's memory: each key once, the first time the
 * object holds it (twice on a page, or on two pages: the others are duplicates), concurrently (a page may hold
 * thousands of items), with the remembered versions read in batches.
 */
async function observeItems(
  context: PipelineContext,
  batch: ClaimedBatch,
  record: boolean,
  now: number,
  checkpoint: () => void,
): Promise<Map<string, Observation>> {
  const { job, runId, batchId, pages, owned } = batch;
  const known = await context.items.lookup(
    job,
    pages.flatMap((page) =>
      page.status === 'parsed' && owned.has(page.url)
        ? page.items.flatMap((item) => (item.key !== null && item.problems.length === 0 ? [item.key] : []))
        : [],
    ),
  );
  const firstSightings: { key: string; data: Record<string, unknown>; page: PageRecord & { status: 'parsed' } }[] = [];
  const keysHere = new Set<string>();
  for (const page of pages) {
    if (page.status !== 'parsed' || !owned.has(page.url)) continue;
    for (const item of page.items) {
      if (item.problems.length > 0 || item.key === null || keysHere.has(item.key)) continue;
      keysHere.add(item.key);
      firstSightings.push({ key: item.key, data: item.data, page });
    }
  }
  const observed = new Map<string, Observation>();
  await mapLimited(firstSightings, ITEM_PARALLELISM, async ({ key, data, page }) => {
    checkpoint();
    const observation = await context.items.observe(
      job,
      runId,
      batchId,
      { key, data, page: page.url, pageUrl: page.finalUrl },
      { record, known, claim: () => context.ledger.claimItem(job, runId, key, page.url, now) },
    );
    observed.set(key, observation);
  });
  return observed;
}

/**
 * Classifies the owned pages' items (no I/O): invalid ones to quarantine, duplicates counted, the rest dataset rows
 * with their changes; counts each page's terminal state, transfer and template counters, and builds the page
 * memory when the run stands as the job's latest (`record`).
 */
function classifyPages(batch: ClaimedBatch, observed: ReadonlyMap<string, Observation>, record: boolean): ClassifiedBatch {
  const { runId, meta, pages, listsByUrl, spilled, moves, owned } = batch;
  const rows: (Record<string, unknown> & RowMetadata)[] = [];
  const quarantined: unknown[] = [];
  const changes: ChangeRecord[] = [];
  const remembered: PageMemory[] = [];
  const add: Record<string, number> = {};
  const count = (name: string, value = 1) => {
    add[name] = (add[name] ?? 0) + value;
  };
  let duplicates = 0;
  const written = new Set<string>();
  for (const page of pages) {
    if (!owned.has(page.url)) continue;
    count((moves.get(page.url) as Move).state);
    // A reparse fetched nothing: its pages' transfer counters belong to the run that fetched them.
    if (!meta.reparse) {
      count('wireBytes', page.wireBytes);
      count('fetchMs', page.fetchMs);
    }
    count('bodyBytes', page.bodyBytes);
    if (page.status === 'unchanged') for (const [name, value] of Object.entries(page.add)) count(name, value);
    if (page.status !== 'parsed') continue;
    const fill: Record<string, number> = {};
    let pageItems = 0;
    for (const item of page.items) {
      // Fill rates count every extracted item, valid or not: a broken selector shows as the field emptying out.
      for (const [field, value] of Object.entries(item.data)) {
        if (!isEmptyValue(value)) fill[field] = (fill[field] ?? 0) + 1;
      }
      if (item.problems.length > 0 || item.key === null) {
        count('invalidItems');
        quarantined.push({ url: page.url, runId, key: item.key, problems: item.problems, data: item.data });
        continue;
      }
      const observation = observed.get(item.key);
      if (written.has(item.key) || observation === undefined || observation.duplicate) {
        count('duplicateItems');
        duplicates++;
        continue;
      }
      written.add(item.key);
      pageItems++;
      rows.push({ ...item.data, _key: item.key, _url: page.finalUrl, _runId: runId, _fetchedAt: page.fetchedAt });
      const change = observation.change;
      if (change) count(change.type === 'new' ? 'newItems' : 'changedItems');
      if (change) changes.push(change);
    }
    count('items', pageItems);
    const yielded = { extracted: page.items.length, items: pageItems, fill };
    if (page.template !== null)
      for (const [name, value] of Object.entries(templateCounters(page.template, yielded))) count(name, value);
    if (!record) continue;
    remembered.push({
      url: page.url,
      finalUrl: page.finalUrl,
      etag: page.etag ?? undefined,
      lastModified: page.lastModified ?? undefined,
      hash: page.hash,
      links: page.links.map(([url, template]) => ({ url, template: template ?? undefined })),
      template: page.template ?? undefined,
      ...yielded,
      // Every key of the page, quarantined items' too: an item seen on the page is not removed.
      keys: listsByUrl.get(page.url)?.keys ?? [],
      runId,
      listsRef: spilled.get(page.url),
    });
  }
  return { rows, quarantined, changes, remembered, add, duplicates };
}

/** Writes the dataset, quarantine and change objects of a records object (those with content) and its page memory. */
async function writeOutputs(
  context: PipelineContext,
  batch: ClaimedBatch,
  classified: ClassifiedBatch,
  checkpoint: () => void,
): Promise<void> {
  const { job, runId, batchId, meta } = batch;
  const { rows, quarantined, changes, remembered } = classified;
  const dt = partitionDate(meta.startedAt);
  if (rows.length > 0) {
    await context.store.put(layout.dataset(job, dt, runId, batchId), gzipNdjson(rows), { contentType: 'application/x-ndjson' });
  }
  if (quarantined.length > 0) {
    await context.store.put(layout.quarantine(job, runId, batchId), gzipNdjson(quarantined), {
      contentType: 'application/x-ndjson',
    });
  }
  if (changes.length > 0) {
    await context.store.put(layout.changes(job, dt, runId, batchId), gzipNdjson(changes), {
      contentType: 'application/x-ndjson',
    });
  }
  await mapLimited(remembered, PAGE_MEMORY_PARALLELISM, async (memory) => {
    checkpoint();
    await context.pages.put(job, memory);
  });
}

/**
 * Post-processes one records object: moves each page to its terminal state (the object owns the pages it moves),
 * validates the items of its parsed pages (invalid ones go to quarantine with their problems), dedups them by item
 * key within the run, writes the curated dataset and change objects and the page memory, adds the object's counters
 * to the run once, and finishes the run when it was the last work pending.
 *
 * Idempotent: a redelivered object owns the pages it moved the first time and does their work again (object keys
 * derive from the records object's, item changes are remembered per object), and its counters are added once. So
 * it may stop anywhere (`options.checkpoint`) and be done again.
 */
export async function postProcessRecords(
  context: PipelineContext,
  key: string,
  options: PostProcessOptions = {},
): Promise<PostProcessResult> {
  const checkpoint = options.checkpoint ?? (() => {});
  checkpoint();
  const batch = await claimPages(context, key);
  checkpoint();
  const { job, runId, batchId, meta, pages, owned } = batch;
  const now = context.clock.now();
  // A reparse moves the job's memory (items, pages) only when it was asked to stand as the latest run.
  const record = meta.reparse === undefined || meta.reparse.asLatest;
  const observed = await observeItems(context, batch, record, now, checkpoint);
  const classified = classifyPages(batch, observed, record);
  checkpoint();
  await writeOutputs(context, batch, classified, checkpoint);
  checkpoint();
  // Last: the run cannot look complete before this object's work is stored.
  await context.ledger.applyCounters(job, runId, batchId, classified.add, now);
  // Finishing the run may take long (it reads every URL of the run and the job's items): stopped here or within it,
  // the object is done again, its counters are not added twice, and it finishes the run then.
  checkpoint();
  await finalizeIfComplete(context, job, runId, { checkpoint: options.finishCheckpoint?.() ?? checkpoint });
  return {
    pages: pages.length,
    skippedPages: pages.length - owned.size,
    items: classified.rows.length,
    invalid: classified.quarantined.length,
    duplicates: classified.duplicates,
  };
}

/** Whether a field value counts as filled for fill rates. */
export function isEmptyValue(value: unknown): boolean {
  return value === undefined || value === null || value === '' || (Array.isArray(value) && value.length === 0);
}
