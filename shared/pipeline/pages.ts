import type { StateStore } from '../ports.js';
import { urlId } from '../url.js';

/**
 * What the pipeline remembers of a page between runs of a job: its HTTP validators and body hash (for conditional
 * GET and unchanged detection), the links it yielded (so an unchanged page still leads to its links without being
 * parsed), and how many items it held. Written only after the page's records were post-processed, so a page whose
 * parse failed is fetched and parsed again next time.
 */
export interface PageMemory {
  readonly url: string;
  readonly etag: string | undefined;
  readonly lastModified: string | undefined;
  /** `sha256:<hex>` of the body. */
  readonly hash: string;
  readonly links: readonly { readonly url: string; readonly template: string | undefined }[];
  readonly items: number;
  readonly runId: string;
}

/** Largest serialised link list kept; a page with more links is always refetched and parsed (DynamoDB items are ≤ 400 KB). */
const MAX_LINKS_BYTES = 300_000;

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
    const item = await this.#state.get(pagesKey(job), urlId(url));
    if (!item || typeof item.hash !== 'string') return undefined;
    return {
      url: String(item.url),
      etag: typeof item.etag === 'string' ? item.etag : undefined,
      lastModified: typeof item.lastModified === 'string' ? item.lastModified : undefined,
      hash: item.hash,
      links: (JSON.parse(String(item.links ?? '[]')) as [string, string | null][]).map(([link, template]) => ({
        url: link,
        template: template ?? undefined,
      })),
      items: Number(item.items ?? 0),
      runId: String(item.runId ?? ''),
    };
  }

  /** Remembers a page; a page with too many links to keep is forgotten instead (it will be parsed every run). */
  async put(job: string, page: PageMemory): Promise<void> {
    const links = JSON.stringify(page.links.map((link) => [link.url, link.template ?? null]));
    if (links.length > MAX_LINKS_BYTES) {
      await this.#state.write({ pk: pagesKey(job), sk: urlId(page.url), set: { url: page.url, hash: null } });
      return;
    }
    await this.#state.write({
      pk: pagesKey(job),
      sk: urlId(page.url),
      set: {
        url: page.url,
        etag: page.etag ?? null,
        lastModified: page.lastModified ?? null,
        hash: page.hash,
        links,
        items: page.items,
        runId: page.runId,
      },
    });
  }
}
