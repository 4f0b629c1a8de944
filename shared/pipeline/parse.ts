import { readArchivedResponse } from '../archive/warc.js';
import { groupBy } from '../collections.js';
import {
  DeadlineError,
  describeError,
  InvalidInputError,
  NonRetryableError,
  ObjectNotFoundError,
  ScrapelineError,
} from '../errors.js';
import type { PageExtraction } from '../extract/page.js';
import { declaresUtf16, decodeDocument } from '../fetch/charset.js';
import { layout } from '../layout.js';
import { gzipNdjson } from '../ndjson.js';
import type { ObjectStore } from '../ports.js';
import { newId, type PipelineContext } from './context.js';
import { followLinks } from './links.js';
import { type PageRecord, type ParseTask, runOf } from './messages.js';

/**
 * Whether a body is binary rather than text, by the WHATWG MIME sniffing rule: a "binary data byte" (a control
 * character other than tab, newline, form feed, carriage return and escape) in the first 512 bytes. UTF-16 and
 * UTF-8 byte-order marks mark text.
 */
export function looksBinary(body: Uint8Array): boolean {
  if ((body[0] === 0xfe && body[1] === 0xff) || (body[0] === 0xff && body[1] === 0xfe)) return false;
  const end = Math.min(body.byteLength, 512);
  for (let index = 0; index < end; index++) {
    const byte = body[index] ?? 0;
    if (byte <= 0x08 || byte === 0x0b || (byte >= 0x0e && byte <= 0x1a) || (byte >= 0x1c && byte <= 0x1f)) return true;
  }
  return false;
}

/** A control character the MIME sniffing rule counts as binary data (as a character, for decoded text). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: these control characters are what it looks for
const BINARY_CHARACTER = /[\u0000-\u0008\u000b\u000e-\u001a\u001c-\u001f]/;

/** A page record plus what post-processing adds to the run's counters for it. */
export interface ParsedPage {
  readonly task: ParseTask;
  readonly record: PageRecord;
}

/**
 * Parses one archived page: reads its response record, decodes it, extracts items with the template, and
 * accepts the links the follow rules select (enqueueing their fetches) before the page's record is written,
 * so the run cannot look complete while those links are pending. An extraction failure becomes a `failed`
 * page record (non-retryable); storage and queue errors propagate so the message is retried.
 *
 * @param options.stopping asked before the links are accepted: `true` (an invocation near its deadline) throws a
 *   {@link DeadlineError} instead, and nothing of the page is written (its task can be handed back whole).
 *   @default never
 */
export async function parseTask(
  context: PipelineContext,
  task: ParseTask,
  archive: ArchiveReader = new ArchiveReader([]),
  options: { readonly stopping?: () => boolean } = {},
): Promise<ParsedPage> {
  const job = context.jobs.get(task.job);
  const member = await archive.read(context.store, task.raw);
  const response = readArchivedResponse(member);
  const finalUrl = response.targetUri || task.url;
  const fetchedAt = response.date;
  const counters = {
    wireBytes: Number(response.extensions['Wire-Bytes'] ?? response.body.byteLength),
    bodyBytes: response.body.byteLength,
    fetchMs: Number(response.extensions['Fetch-Ms'] ?? 0),
  };
  let extraction: PageExtraction;
  try {
    // A body declared UTF-16 is mostly zero bytes to the byte sniffer: its text is sniffed once decoded.
    const contentType = response.headers['content-type'];
    const utf16 = declaresUtf16(contentType);
    if (!utf16 && looksBinary(response.body)) {
      throw new NonRetryableError(`${task.url} is binary data, not a document`, 'unparseable');
    }
    const { text } = decodeDocument(response.body, contentType);
    if (utf16 && BINARY_CHARACTER.test(text.slice(0, 512))) {
      throw new NonRetryableError(`${task.url} is binary data, not a document`, 'unparseable');
    }
    extraction = await context.extractor.extract(text, job, {
      url: task.url,
      finalUrl,
      template: task.template,
      hosts: task.hosts,
      contentType,
    });
  } catch (error) {
    if (!(error instanceof ScrapelineError) || error.retryable) throw error;
    context.log.warn('extraction failed', { url: task.url, runId: task.runId, job: task.job, error: describeError(error) });
    return {
      task,
      record: { status: 'failed', url: task.url, depth: task.depth, reason: error.reason, message: error.message, ...counters },
    };
  }
  if (task.follow) {
    // Accepting links is the page's state requests; begun too near the deadline they would be cut mid-way.
    if (options.stopping?.())
      throw new DeadlineError(`${task.url}: the invocation is near its deadline, its links are not accepted`);
    await followLinks(context, task, extraction.links, { 'cap:maxLinksPerPage': extraction.linksDropped ?? 0 });
  }
  return {
    task,
    record: {
      status: 'parsed',
      url: task.url,
      finalUrl,
      depth: task.depth,
      template: task.template ?? null,
      fetchedAt,
      items: extraction.items.map((item) => ({ key: item.key ?? null, data: item.data, problems: [...item.problems] })),
      links: extraction.links.map((link) => [link.url, link.template ?? null]),
      etag: response.headers.etag ?? null,
      lastModified: response.headers['last-modified'] ?? null,
      hash: response.payloadDigest,
      ...counters,
    },
  };
}

/**
 * Reads the archived responses of a batch of parse tasks. A fetch batch archives its pages in one object, so a parse
 * batch usually holds many pages of few objects: an object that holds several of the batch's pages is read once,
 * whole (one GET instead of one ranged GET per page), and kept for the batch.
 */
export class ArchiveReader {
  readonly #pagesPerObject = new Map<string, number>();
  readonly #objects = new Map<string, Promise<Uint8Array>>();

  /** @param raws where the batch's pages are archived */
  constructor(raws: readonly ParseTask['raw'][]) {
    for (const raw of raws) this.#pagesPerObject.set(raw.key, (this.#pagesPerObject.get(raw.key) ?? 0) + 1);
  }

  async read(store: ObjectStore, raw: ParseTask['raw']): Promise<Uint8Array> {
    if ((this.#pagesPerObject.get(raw.key) ?? 0) < 2) return store.getRange(raw.key, raw.offset, raw.length);
    let object = this.#objects.get(raw.key);
    if (!object) {
      object = store.get(raw.key).then((body) => {
        if (!body) throw new ObjectNotFoundError(raw.key);
        return body;
      });
      // A failed read is not kept: the next page of the object tries again.
      object.catch(() => this.#objects.delete(raw.key));
      this.#objects.set(raw.key, object);
    }
    const body = await object;
    if (raw.offset + raw.length > body.byteLength) {
      throw new InvalidInputError(`${raw.key} holds ${body.byteLength} bytes, not ${raw.offset + raw.length}`);
    }
    return body.subarray(raw.offset, raw.offset + raw.length);
  }
}

/** A page record and the run it belongs to. */
export interface RunPageRecord {
  readonly task: { readonly job: string; readonly runId: string };
  readonly record: PageRecord;
}

/**
 * Writes page records (a parse batch's, or the fetcher's pages that ended without a parse), one NDJSON.gz object
 * per run; each object triggers post-processing, which moves its pages to their terminal state.
 */
export async function writePageRecords(context: PipelineContext, pages: readonly RunPageRecord[]): Promise<void> {
  for (const list of groupBy(pages, (page) => runOf(page.task)).values()) {
    const first = list[0];
    if (!first) continue;
    const body = gzipNdjson(list.map((page) => page.record));
    await context.store.put(layout.records(first.task.job, first.task.runId, newId(context.clock, context.random)), body, {
      contentType: 'application/x-ndjson',
    });
  }
}
