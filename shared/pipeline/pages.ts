import { gunzipSync, gzipSync } from 'node:zlib';
import { InvalidInputError, ObjectNotFoundError } from '../errors.js';
import type { ObjectStore, StateStore } from '../ports.js';
import { urlId } from '../url.js';

/** A page's item key ids and links, kept in the object store when too large for its state items. */
export interface PageLists {
  readonly keys: readonly string[];
  readonly links: readonly (readonly [string, string | null])[];
}

/**
 * Largest item key and link lists (serialised) kept in a page's state items (its URL entry, its page memory); larger
 * ones are written to the object store once (`layout.pageLists`) and the items point there. Past about 8 KB an S3
 * PUT costs less than the write units the lists would add to each of the items' writes, and DynamoDB items stay far
 * below their 400 KB limit whatever a page holds.
 */
export const INLINE_LISTS_BYTES = 8 * 1024;

/** Whether lists this size stay inline. */
export function fitsInline(lists: PageLists): boolean {
  return JSON.stringify(lists.keys).length + JSON.stringify(lists.links).length <= INLINE_LISTS_BYTES;
}

export async function writePageLists(store: ObjectStore, key: string, lists: PageLists): Promise<void> {
  await store.put(key, gzipSync(JSON.stringify(lists)), { contentType: 'application/json' });
}

/** @throws {ObjectNotFoundError} when the object is gone; {@link InvalidInputError} when it is not page lists */
export async function readPageLists(store: ObjectStore, key: string): Promise<PageLists> {
  const body = await store.get(key);
  if (!body) throw new ObjectNotFoundError(key);
  try {
    const lists = JSON.parse(gunzipSync(body).toString('utf8')) as PageLists;
    if (!Array.isArray(lists.keys) || !Array.isArray(lists.links)) throw new Error('keys or links missing');
    return lists;
  } catch (error) {
    throw new InvalidInputError(`${key}: not page lists`, error);
  }
}

/**
 * What the pipeline remembers of a page between runs of a job: its HTTP validators and body hash (for conditional
 * GET and unchanged detection), the links it yielded (so an unchanged page still leads to its links without being
 * parsed), and what it yielded (so an unchanged page still counts for quality and still holds its items for removal
 * detection). Written only after the page's records were post-processed, so a page whose parse failed is fetched
 * and parsed again next time.
 *
 * A page is remembered under the URL the run requested, the URL its ledger entry and its items' page identity use;
 * `finalUrl` is where redirects led.
 */
export interface PageMemory {
  readonly url: string;
  readonly finalUrl: string;
  readonly etag: string | undefined;
  readonly lastModified: string | undefined;
  /** `sha256:<hex>` of the body. */
  readonly hash: string;
  readonly links: readonly { readonly url: string; readonly template: string | undefined }[];
  /** The template the page was parsed with; `undefined` for a page crawled only for links. */
  readonly template: string | undefined;
  /** Valid items written from the page. */
  readonly items: number;
  /** Items extracted from the page, valid or not. */
  readonly extracted: number;
  /** Extracted items with a value, per field. */
  readonly fill: Readonly<Record<string, number>>;
  /** Ids (`urlId`) of the item keys the page yielded, valid items or not. `undefined` in memories from before keys were kept. */
  readonly keys: readonly string[] | undefined;
  readonly runId: string;
  /** Where the links and keys are kept when too large for the state item ({@link INLINE_LISTS_BYTES}). */
  readonly listsRef?: string | undefined;
}

function pagesKey(job: string): string {
  return `pages#${job}`;
}

/**
 * Reads and writes {@link PageMemory} in the state store; the lists of a page too large to keep inline are read from
 * the object store where its post-processing wrote them ({@link PageMemory.listsRef}).
 */
export class PageMemoryStore {
  readonly #state: StateStore;
  readonly #store: ObjectStore;

  constructor(state: StateStore, store: ObjectStore) {
    this.#state = state;
    this.#store = store;
  }

  async get(job: string, url: string): Promise<PageMemory | undefined> {
    // Eventually consistent: a memory a moment too old only costs a fetch and a parse.
    const [item] = await this.#state.getMany([{ pk: pagesKey(job), sk: urlId(url) }]);
    if (!item || typeof item.hash !== 'string') return undefined;
    const yielded = JSON.parse(String(item.yield ?? '{}')) as {
      template?: string;
      extracted?: number;
      fill?: Record<string, number>;
      keys?: string[];
    };
    const listsRef = typeof item.listsRef === 'string' ? item.listsRef : undefined;
    let links = JSON.parse(String(item.links ?? '[]')) as PageLists['links'];
    let keys: readonly string[] | undefined = yielded.keys;
    if (listsRef !== undefined) {
      try {
        ({ links, keys } = await readPageLists(this.#store, listsRef));
      } catch (error) {
        // Lists gone (a deleted run): the page is fetched and parsed as if never seen.
        if (error instanceof ObjectNotFoundError) return undefined;
        throw error;
      }
    }
    return {
      url: String(item.url),
      finalUrl: typeof item.finalUrl === 'string' ? item.finalUrl : String(item.url),
      etag: typeof item.etag === 'string' ? item.etag : undefined,
      lastModified: typeof item.lastModified === 'string' ? item.lastModified : undefined,
      hash: item.hash,
      links: links.map(([link, template]) => ({ url: link, template: template ?? undefined })),
      template: yielded.template,
      items: Number(item.items ?? 0),
      extracted: yielded.extracted ?? 0,
      fill: yielded.fill ?? {},
      keys,
      runId: String(item.runId ?? ''),
      listsRef,
    };
  }

  /**
   * Remembers a page. Its links and keys are kept inline when small; otherwise they must have been written to the
   * object store already (`page.listsRef`), and the item points there.
   */
  async put(job: string, page: PageMemory): Promise<void> {
    const links = page.links.map((link): [string, string | null] => [link.url, link.template ?? null]);
    const inline = page.listsRef === undefined;
    if (inline && !fitsInline({ keys: page.keys ?? [], links })) {
      throw new InvalidInputError(`page memory of ${page.url}: lists over ${INLINE_LISTS_BYTES} bytes need a listsRef`);
    }
    const yielded = {
      template: page.template,
      extracted: page.extracted,
      fill: page.fill,
      ...(inline ? { keys: page.keys } : {}),
    };
    await this.#state.write({
      pk: pagesKey(job),
      sk: urlId(page.url),
      set: {
        url: page.url,
        finalUrl: page.finalUrl,
        etag: page.etag ?? null,
        lastModified: page.lastModified ?? null,
        hash: page.hash,
        links: inline ? JSON.stringify(links) : null,
        listsRef: page.listsRef ?? null,
        items: page.items,
        yield: JSON.stringify(yielded),
        runId: page.runId,
      },
    });
  }
}
