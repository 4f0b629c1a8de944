import type { StateStore } from '../ports.js';
import { urlId } from '../url.js';

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
}

/**
 * Largest serialised link and key lists kept; a page with more is forgotten, so it is refetched and parsed every
 * run (DynamoDB items are ≤ 400 KB).
 */
const MAX_LISTS_BYTES = 300_000;

function pagesKey(job: string): string {
  return `pages#${job}`;
}

/** Reads and writes {@link PageMemory} in the state store. */
export class PageMemoryStore {
  readonly #state: StateStore;

  constructor(state: StateStore) {
    this.#state = state;
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
    const items = Number(item.items ?? 0);
    return {
      url: String(item.url),
      finalUrl: typeof item.finalUrl === 'string' ? item.finalUrl : String(item.url),
      etag: typeof item.etag === 'string' ? item.etag : undefined,
      lastModified: typeof item.lastModified === 'string' ? item.lastModified : undefined,
      hash: item.hash,
      links: (JSON.parse(String(item.links ?? '[]')) as [string, string | null][]).map(([link, template]) => ({
        url: link,
        template: template ?? undefined,
      })),
      template: yielded.template,
      items,
      extracted: yielded.extracted ?? 0,
      fill: yielded.fill ?? {},
      keys: yielded.keys,
      runId: String(item.runId ?? ''),
    };
  }

  /** Remembers a page; a page with too many links or keys to keep is forgotten instead (it will be parsed every run). */
  async put(job: string, page: PageMemory): Promise<void> {
    const links = JSON.stringify(page.links.map((link) => [link.url, link.template ?? null]));
    const yielded = JSON.stringify({ template: page.template, extracted: page.extracted, fill: page.fill, keys: page.keys });
    if (links.length + yielded.length > MAX_LISTS_BYTES) {
      await this.#state.write({ pk: pagesKey(job), sk: urlId(page.url), set: { url: page.url, hash: null } });
      return;
    }
    await this.#state.write({
      pk: pagesKey(job),
      sk: urlId(page.url),
      set: {
        url: page.url,
        finalUrl: page.finalUrl,
        etag: page.etag ?? null,
        lastModified: page.lastModified ?? null,
        hash: page.hash,
        links,
        items: page.items,
        yield: yielded,
        runId: page.runId,
      },
    });
  }
}
