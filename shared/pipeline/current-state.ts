import { gzipSync } from 'node:zlib';
import { Batches, mapLimited } from '../collections.js';
import { httpReason } from '../failure-reasons.js';
import { layout } from '../layout.js';
import { GzipNdjsonParts, gunzipLines, gzipNdjson } from '../ndjson.js';
import { MAX_GET_MANY, type ObjectStore } from '../ports.js';
import { stateKeys } from '../state-keys.js';
import type { ChangeRecord, ItemState } from './changes.js';
import type { PipelineContext } from './context.js';
import type { UrlEntry } from './ledger.js';

/** Reasons that say a page is gone: its items are removed, unless another page of the run holds them. */
export const GONE_REASONS: ReadonlySet<string> = new Set([httpReason(404), httpReason(410)]);

/** Item key ids (`urlId`, base64url) fall into one bucket per first character. */
const KEY_ID_ALPHABET = '-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz';
/** Keys per scratch object written for a bucket once the evidence is spilled. */
const SPILL_OBJECT_KEYS = 8_192;

/**
 * The item key ids a run's parsed and unchanged pages hold: the evidence that an item is still there. Kept in memory
 * up to `memoryKeys`; past that, written to scratch objects in 64 buckets by the key id's first character, so that
 * a run of any size is judged one bucket at a time (a bucket's keys in memory with the bucket's items, streamed).
 */
export class PresentKeys {
  readonly #store: ObjectStore;
  readonly #scratch: (bucket: number, sequence: number) => string;
  readonly #memoryKeys: number;
  #inMemory: Set<string> | undefined = new Set();
  readonly #buffers: string[][] = KEY_ID_ALPHABET.split('').map(() => []);
  readonly #written: number[] = KEY_ID_ALPHABET.split('').map(() => 0);
  /** Whether the keys went to scratch objects (read back a bucket at a time by {@link PresentKeys.bucket}). */
  spilled = false;

  /**
   * @param scratch the object key of a bucket's `sequence`-th scratch object
   * @param memoryKeys keys held in memory before the evidence is spilled
   */
  constructor(store: ObjectStore, scratch: (bucket: number, sequence: number) => string, memoryKeys: number) {
    this.#store = store;
    this.#scratch = scratch;
    this.#memoryKeys = memoryKeys;
  }

  async add(keyIds: Iterable<string>): Promise<void> {
    for (const keyId of keyIds) {
      if (this.#inMemory) {
        this.#inMemory.add(keyId);
        if (this.#inMemory.size > this.#memoryKeys) await this.#spill();
        continue;
      }
      const bucket = bucketOf(keyId);
      const buffer = this.#buffers[bucket] as string[];
      buffer.push(keyId);
      if (buffer.length >= SPILL_OBJECT_KEYS) await this.#flush(bucket);
    }
  }

  /** Writes what is left in memory; call once every key was added. */
  async close(): Promise<void> {
    if (!this.spilled) return;
    for (const bucket of this.#buffers.keys()) await this.#flush(bucket);
  }

  /** The buckets to judge items by: one holding every key (all in memory), or the 64 buckets read back in turn. */
  buckets(): readonly { readonly itemPrefix: string; readonly keys: () => Promise<ReadonlySet<string>> }[] {
    const everything = this.#inMemory;
    if (everything) return [{ itemPrefix: stateKeys.itemKeyPrefix, keys: async () => everything }];
    return KEY_ID_ALPHABET.split('').map((character, bucket) => ({
      itemPrefix: `${stateKeys.itemKeyPrefix}${character}`,
      keys: () => this.#read(bucket),
    }));
  }

  async #spill(): Promise<void> {
    const keys = this.#inMemory ?? new Set<string>();
    this.#inMemory = undefined;
    this.spilled = true;
    await this.add(keys);
  }

  async #flush(bucket: number): Promise<void> {
    const buffer = this.#buffers[bucket] as string[];
    if (buffer.length === 0) return;
    const sequence = this.#written[bucket] as number;
    this.#written[bucket] = sequence + 1;
    await this.#store.put(this.#scratch(bucket, sequence), gzipSync(buffer.join('\n')), { contentType: 'text/plain' });
    buffer.length = 0;
  }

  async #read(bucket: number): Promise<ReadonlySet<string>> {
    const keys = new Set<string>();
    for (let sequence = 0; sequence < (this.#written[bucket] as number); sequence++) {
      const key = this.#scratch(bucket, sequence);
      const body = await this.#store.get(key);
      if (!body) throw new Error(`finalization scratch object ${key} is missing`);
      for (const keyId of gunzipLines(key, body)) keys.add(keyId);
    }
    return keys;
  }
}

function bucketOf(keyId: string): number {
  const bucket = KEY_ID_ALPHABET.indexOf(keyId.charAt(0));
  if (bucket < 0) throw new Error(`not an item key id: "${keyId}"`);
  return bucket;
}

/** Whether a page's entry exposes its remembered items to removal, when none of the run's pages holds their key. */
function exposes(entry: UrlEntry | undefined, transientFailures: boolean): boolean {
  // Not reached by the run: its items go, unless something failed that might have led to it.
  if (entry === undefined) return !transientFailures;
  if (entry.status === 'parsed' || entry.status === 'unchanged') return entry.keys !== undefined || entry.keysRef !== undefined;
  return entry.status === 'failed' && GONE_REASONS.has(entry.reason ?? '');
}

/** Rows per current-state part object (compressed as they come: a part's gzip bytes are held until it is written). */
const SNAPSHOT_PART_ITEMS = 10_000;
/** Removed items per change object. */
const REMOVED_PART_ITEMS = 10_000;
/** Items judged with one batch read of their pages' entries. */
const CANDIDATES_PER_LOOKUP = MAX_GET_MANY;

/**
 * Writes removed items as `removed` change records, one part before its items are marked removed: a finalization
 * that stops half-way leaves no removal unrecorded, and one that starts again no longer sees the items it removed.
 * A part is named after its first key id, so concurrent finishers, which see the same items in the same order,
 * write the same parts.
 */
async function removeItems(
  context: PipelineContext,
  run: { readonly job: string; readonly runId: string; readonly dt: string },
  items: readonly ItemState[],
): Promise<void> {
  const [first] = items;
  if (!first) return;
  const { job, runId, dt } = run;
  const rows = items.map((item): ChangeRecord => ({ type: 'removed', key: item.key, runId, url: item.pageUrl, data: item.data }));
  const part = `removed-k${first.keyId.slice(stateKeys.itemKeyPrefix.length)}`;
  await context.store.put(layout.changes(job, dt, runId, part), gzipNdjson(rows), { contentType: 'application/x-ndjson' });
  const now = context.clock.now();
  await mapLimited(items, 8, (item) => context.items.remove(job, item, runId, now));
}

/** The pointer to a job's newest current-state snapshot. */
export interface CurrentSnapshot {
  readonly job: string;
  readonly runId: string;
  readonly items: number;
  readonly parts: readonly string[];
  readonly writtenAt: string;
}

/**
 * Settles a finished run's items in one pass over the job's item memory, a bucket of key ids at a time: infers the
 * removed ones (when `removals` is given) and writes the current state of the rest (latest value per key) as gzip
 * NDJSON parts, then points `current/<job>/latest.json` at them.
 *
 * An item is removed only on evidence: no page of the run holds its key, and the page it was last seen on was
 * parsed (or unchanged since parsed) with known keys, answered 404/410, or was not reached although nothing failed
 * transiently. A page that failed transiently or was skipped keeps its items, and so does a page whose memory
 * predates keys. The pages of items no page holds are read in batches of 100 (usually few: the removed ones).
 *
 * `checkpoint` is called before each item: a throw stops the settlement there, and a later one starts again from the
 * first bucket (the removals recorded are not seen again; the parts and the pointer are written whole again).
 *
 * Memory is bounded by one bucket of key ids (all of them while they fit `PresentKeys`' limit) and a part's
 * compressed bytes: rows are not gathered, so none lives long enough to be promoted to the old generation and wait
 * there for a full collection.
 */
export async function settleItems(
  context: PipelineContext,
  run: { readonly job: string; readonly runId: string; readonly dt: string },
  removals: { readonly present: PresentKeys; readonly transientFailures: boolean } | undefined,
  checkpoint: () => void = () => {},
): Promise<{ readonly removed: number; readonly snapshot: CurrentSnapshot }> {
  const { job, runId } = run;
  const snapshotParts: string[] = [];
  const snapshot = new GzipNdjsonParts(SNAPSHOT_PART_ITEMS, async (body, part) => {
    const key = layout.currentPart(job, runId, part);
    await context.store.put(key, body, { contentType: 'application/x-ndjson' });
    snapshotParts.push(key);
  });
  const removed = new Batches<ItemState>(REMOVED_PART_ITEMS, (items) => removeItems(context, run, items));
  // The row is the item's own data (parsed for this pass) with its columns set on it. Not a copy spread with more
  // properties (`{ ...data, _key }`): V8 (Node 20) promotes nearly every object built so, to wait for a full collection.
  const keep = (item: ItemState) =>
    snapshot.push(Object.assign(item.data, { _key: item.key, _url: item.pageUrl, _changedIn: item.changedIn }));
  const judge = async (candidates: ItemState[]) => {
    if (!removals || candidates.length === 0) return;
    const entries = await context.ledger.peekUrlIds(job, runId, [...new Set(candidates.map((item) => item.page))]);
    for (const item of candidates) {
      if (exposes(entries.get(item.page), removals.transientFailures)) await removed.push(item);
      else await keep(item);
    }
  };
  const buckets = removals?.present.buckets() ?? [{ itemPrefix: stateKeys.itemKeyPrefix, keys: async () => new Set<string>() }];
  for (const bucket of buckets) {
    const present = await bucket.keys();
    let candidates: ItemState[] = [];
    for await (const item of context.items.all(job, bucket.itemPrefix)) {
      checkpoint();
      if (!removals || present.has(item.keyId.slice(stateKeys.itemKeyPrefix.length))) await keep(item);
      else {
        candidates.push(item);
        if (candidates.length >= CANDIDATES_PER_LOOKUP) {
          await judge(candidates);
          candidates = [];
        }
      }
    }
    await judge(candidates);
  }
  await removed.flush();
  await snapshot.flush();
  const pointer: CurrentSnapshot = {
    job,
    runId,
    items: snapshot.count,
    parts: snapshotParts,
    writtenAt: new Date(context.clock.now()).toISOString(),
  };
  await context.store.put(layout.currentPointer(job), JSON.stringify(pointer, null, 2), { contentType: 'application/json' });
  return { removed: removed.count, snapshot: pointer };
}
