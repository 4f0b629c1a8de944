import { createHash } from 'node:crypto';
import { mapLimited } from '../collections.js';
import { MAX_GET_MANY, type StateItem, type StateStore } from '../ports.js';
import { urlId } from '../url.js';

/** A change of one item between runs, as written under `changes/`. */
export interface ChangeRecord {
  readonly type: 'new' | 'changed' | 'removed';
  readonly key: string;
  readonly runId: string;
  /** Page the item was seen on (for `removed`: where it was last seen). */
  readonly url: string;
  /** The item now (`new`, `changed`) or as last seen (`removed`). */
  readonly data: Record<string, unknown>;
  /** Field-level diff of a `changed` item: `{ field: { before, after } }` (a field absent on one side is `null`). */
  readonly diff?: Readonly<Record<string, { readonly before: unknown; readonly after: unknown }>>;
}

/** What a sighting of an item was: a duplicate of another page's, or the change it makes (none: unchanged). */
export type Observation = { readonly duplicate: true } | { readonly duplicate: false; readonly change: ChangeRecord | undefined };

const DUPLICATE: Observation = { duplicate: true };

/**
 * Whether this run created the item's memory from another page: the key is that page's. The creation's claim is
 * kept in attributes of its own (`claimRun`, `claimPage`) that later writes never touch, so an overlapping run that
 * rewrites the memory cannot erase it.
 */
function claimedElsewhere(existing: StateItem | undefined, runId: string, page: string): boolean {
  return existing !== undefined && existing.claimRun === runId && existing.claimPage !== page;
}

/** An item as remembered between runs of a job. */
export interface ItemState {
  readonly key: string;
  readonly keyId: string;
  readonly hash: string;
  readonly data: Record<string, unknown>;
  /** `urlId` of the URL the run requested for the page it was last seen on (its ledger entry's id). */
  readonly page: string;
  /** Where that page's redirects led: the item's `_url`. */
  readonly pageUrl: string;
  /** The run in which the item last changed (or appeared). */
  readonly changedIn: string;
}

function stable(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stable);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value as Record<string, unknown>)
        .sort()
        .map((key) => [key, stable((value as Record<string, unknown>)[key])]),
    );
  }
  return value;
}

/** Hash of an item's fields, independent of key order. */
export function itemHash(data: Record<string, unknown>): string {
  return createHash('sha256')
    .update(JSON.stringify(stable(data)))
    .digest('base64url')
    .slice(0, 22);
}

/** Fields whose values differ, each with its value before and after. */
export function fieldDiff(
  before: Record<string, unknown>,
  after: Record<string, unknown>,
): Record<string, { before: unknown; after: unknown }> {
  const diff: Record<string, { before: unknown; after: unknown }> = {};
  for (const field of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const a = before[field] ?? null;
    const b = after[field] ?? null;
    if (JSON.stringify(stable(a)) !== JSON.stringify(stable(b))) diff[field] = { before: a, after: b };
  }
  return diff;
}

function itemsKey(job: string): string {
  return `items#${job}`;
}

function toItemState(item: StateItem & { readonly sk: string }): ItemState | undefined {
  if (typeof item.hash !== 'string') return undefined;
  return {
    key: String(item.key),
    keyId: item.sk,
    hash: item.hash,
    data: JSON.parse(String(item.data ?? '{}')) as Record<string, unknown>,
    page: String(item.page ?? ''),
    pageUrl: String(item.pageUrl ?? ''),
    changedIn: String(item.changeRun ?? ''),
  };
}

/**
 * Remembers the latest version of every item of a job (hash and fields) and turns each sighting into a change.
 * A sighting is recorded with the records batch it came from, so a redelivered batch reports the same changes.
 */
export class ItemMemory {
  readonly #state: StateStore;

  constructor(state: StateStore) {
    this.#state = state;
  }

  /**
   * Records that an item was seen on a page in a run: returns the change it represents, if any, or that the item is
   * a duplicate (another page of the run holds its key: the first page to claim it keeps it). An item seen before
   * with the same hash is no change (its page is updated if it moved).
   *
   * The key is claimed for the page once per run. A key new to the job is claimed by creating its memory (a
   * conditional put that only one page can win); any other key by `options.claim` (the run's claim item), since
   * writing its larger memory item just to claim it would cost more.
   *
   * @param item.page the URL the run requested for the page (the page's identity in the ledger and page memory)
   * @param item.pageUrl where the page's redirects led
   * @param options.record `false` compares with the memory without changing it (a reparse that must not move the
   *   job's current state). @default true
   * @param options.known the item's memory as read in a batch ({@link ItemMemory.lookup}); read here otherwise
   * @param options.claim claims the key for the page in the run; `false` when another page holds it
   */
  async observe(
    job: string,
    runId: string,
    batchId: string,
    item: { key: string; data: Record<string, unknown>; page: string; pageUrl: string },
    options: {
      record?: boolean;
      known?: ReadonlyMap<string, StateItem | undefined>;
      claim: () => Promise<boolean>;
    },
  ): Promise<Observation> {
    const pk = itemsKey(job);
    const sk = `k#${urlId(item.key)}`;
    const hash = itemHash(item.data);
    const page = urlId(item.page);
    const record = options.record ?? true;
    let existing = options.known?.has(item.key) ? options.known.get(item.key) : await this.#state.get(pk, sk);
    const fresh = (type: 'new' | 'changed', diff?: ChangeRecord['diff']): ChangeRecord => ({
      type,
      key: item.key,
      runId,
      url: item.pageUrl,
      data: item.data,
      ...(diff ? { diff } : {}),
    });
    const remembered = (change: 'new' | 'changed', diff: ChangeRecord['diff'] | undefined) => ({
      key: item.key,
      hash,
      data: JSON.stringify(item.data),
      page,
      pageUrl: item.pageUrl,
      change,
      changeRun: runId,
      changeBatch: batchId,
      diff: diff ? JSON.stringify(diff) : null,
      removedRun: null,
      // Seen again: a removed item's expiry is lifted.
      expiresAt: null,
    });
    if (claimedElsewhere(existing, runId, page)) return DUPLICATE;
    if (record && existing === undefined) {
      const created = await this.#state.tryWrite({
        pk,
        sk,
        set: { ...remembered('new', undefined), claimRun: runId, claimPage: page },
        condition: { kind: 'absent' },
      });
      if (created.ok) return { duplicate: false, change: fresh('new') };
      // Written meanwhile (the batch read is eventually consistent): by another page of this run, or another run.
      existing = created.current;
      if (claimedElsewhere(existing, runId, page)) return DUPLICATE;
    }
    if (!(await options.claim())) return DUPLICATE;
    const known = existing && typeof existing.hash === 'string' ? existing : undefined;
    if (known && known.changeRun === runId && known.changeBatch === batchId) {
      // A redelivered batch: report what this batch reported the first time.
      const diff = known.diff ? (JSON.parse(String(known.diff)) as ChangeRecord['diff']) : undefined;
      return { duplicate: false, change: fresh(known.change as 'new' | 'changed', diff) };
    }
    if (known && known.hash === hash) {
      if (record && (known.page !== page || known.pageUrl !== item.pageUrl)) {
        await this.#state.write({ pk, sk, set: { page, pageUrl: item.pageUrl } });
      }
      return { duplicate: false, change: undefined };
    }
    const diff = known ? fieldDiff(JSON.parse(String(known.data ?? '{}')) as Record<string, unknown>, item.data) : undefined;
    const change = known ? 'changed' : 'new';
    if (record) await this.#state.write({ pk, sk, set: remembered(change, diff) });
    return { duplicate: false, change: fresh(change, diff) };
  }

  /**
   * The remembered state of several item keys at once (eventually consistent batch reads of 100), for
   * {@link ItemMemory.observe}'s `known`: one request per 100 items instead of one per item.
   */
  async lookup(job: string, keys: readonly string[]): Promise<Map<string, StateItem | undefined>> {
    const unique = [...new Set(keys)];
    const known = new Map<string, StateItem | undefined>();
    const chunks: string[][] = [];
    for (let start = 0; start < unique.length; start += MAX_GET_MANY) chunks.push(unique.slice(start, start + MAX_GET_MANY));
    // A few batches at once: a page of thousands of items is read in seconds, not minutes.
    await mapLimited(chunks, 4, async (chunk) => {
      const items = await this.#state.getMany(chunk.map((key) => ({ pk: itemsKey(job), sk: `k#${urlId(key)}` })));
      for (const [index, key] of chunk.entries()) known.set(key, items[index]);
    });
    return known;
  }

  /**
   * Every item currently remembered (not removed), in key id order.
   * @param keyIdPrefix only the items whose `keyId` starts so (a bucket of them). @default every item (`k#`)
   */
  async *all(job: string, keyIdPrefix = 'k#'): AsyncIterable<ItemState> {
    for await (const item of this.#state.query(itemsKey(job), keyIdPrefix)) {
      const state = toItemState(item);
      if (state) yield state;
    }
  }

  /** Marks an item removed; it comes back as `new` if seen again. Removed items expire after `ttlSeconds`. */
  async remove(job: string, item: ItemState, runId: string, now: number, ttlSeconds = 30 * 24 * 3600): Promise<void> {
    await this.#state.write({
      pk: itemsKey(job),
      sk: item.keyId,
      set: { hash: null, removedRun: runId },
      expiresAt: Math.floor(now / 1000) + ttlSeconds,
    });
  }
}
