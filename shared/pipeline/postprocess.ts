import { gunzipSync, gzipSync } from 'node:zlib';
import { InvalidInputError, ObjectNotFoundError } from '../errors.js';
import { layout, parseRecordsKey, partitionDate } from '../layout.js';
import type { PipelineContext } from './context.js';
import { finalizeIfComplete } from './finalize.js';
import type { Completion } from './ledger.js';
import { type PageRecord, pageRecordSchema } from './messages.js';

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
  let text: string;
  try {
    text = gunzipSync(body).toString('utf8');
  } catch (error) {
    throw new InvalidInputError(`${key}: not gzip`, error);
  }
  const records: PageRecord[] = [];
  const lines = text.split('\n');
  for (const [index, line] of lines.entries()) {
    if (line.trim() === '') continue;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch (error) {
      throw new InvalidInputError(`${key}: line ${index + 1} is not JSON`, error);
    }
    const result = pageRecordSchema.safeParse(json);
    if (!result.success) {
      const detail = result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ');
      throw new InvalidInputError(`${key}: line ${index + 1}: ${detail}`);
    }
    records.push(result.data);
  }
  return records;
}

function ndjsonGzip(rows: readonly unknown[]): Buffer {
  return gzipSync(`${rows.map((row) => JSON.stringify(row)).join('\n')}\n`);
}

/**
 * Post-processes one records object: validates items (invalid ones go to quarantine with their problems),
 * dedups by item key within the run, writes the curated dataset object, moves each page to its terminal state
 * and finishes the run when it was the last work pending.
 *
 * Idempotent: the dataset object's key derives from the records object's, and a redelivery rewrites it from the
 * pages that are still pending or that this same object completed.
 */
export async function postProcessRecords(context: PipelineContext, key: string): Promise<PostProcessResult> {
  const parts = parseRecordsKey(key);
  if (!parts) throw new InvalidInputError(`not a records key: "${key}"`);
  const { job, runId, batchId } = parts;
  const body = await context.store.get(key);
  if (!body) throw new ObjectNotFoundError(key);
  const pages = decodePageRecords(key, body);
  const meta = await context.ledger.getRun(job, runId);
  if (!meta) throw new InvalidInputError(`${key}: run ${runId} of job ${job} is not in the state store`);

  const rows: (Record<string, unknown> & RowMetadata)[] = [];
  const quarantined: unknown[] = [];
  const completions: Completion[] = [];
  let skippedPages = 0;
  let duplicates = 0;
  const now = context.clock.now();
  for (const page of pages) {
    const entry = await context.ledger.getUrl(job, runId, page.url);
    const pending = entry?.status === 'accepted';
    if (!pending && entry?.batch !== batchId) {
      skippedPages++;
      continue;
    }
    const counters = { wireBytes: page.wireBytes, bodyBytes: page.bodyBytes, fetchMs: page.fetchMs };
    if (page.status === 'failed') {
      completions.push({
        url: page.url,
        state: 'failed',
        reason: page.reason,
        message: page.message,
        add: counters,
        batch: batchId,
      });
      continue;
    }
    let items = 0;
    let invalid = 0;
    let pageDuplicates = 0;
    for (const item of page.items) {
      if (item.problems.length > 0 || item.key === null) {
        invalid++;
        quarantined.push({ url: page.url, runId, key: item.key, problems: item.problems, data: item.data });
        continue;
      }
      if (!(await context.ledger.claimItem(job, runId, item.key, page.url, now))) {
        pageDuplicates++;
        continue;
      }
      items++;
      rows.push({ ...item.data, _key: item.key, _url: page.finalUrl, _runId: runId, _fetchedAt: page.fetchedAt });
    }
    duplicates += pageDuplicates;
    completions.push({
      url: page.url,
      state: 'parsed',
      add: { ...counters, items, invalidItems: invalid, duplicateItems: pageDuplicates },
      batch: batchId,
    });
  }

  if (rows.length > 0) {
    await context.store.put(layout.dataset(job, partitionDate(meta.startedAt), runId, batchId), ndjsonGzip(rows), {
      contentType: 'application/x-ndjson',
    });
  }
  if (quarantined.length > 0) {
    await context.store.put(layout.quarantine(job, runId, batchId), ndjsonGzip(quarantined), {
      contentType: 'application/x-ndjson',
    });
  }
  const pendingCompletions = completions.filter((completion) => completion.url !== undefined);
  await context.ledger.complete(job, runId, pendingCompletions);
  await finalizeIfComplete(context, job, runId);
  return { pages: pages.length, skippedPages, items: rows.length, invalid: quarantined.length, duplicates };
}
