import { createHash } from 'node:crypto';
import { mapLimited } from '../collections.js';
import type { FailureReason } from '../failure-reasons.js';
import { MAX_GET_MANY, type StateItem, type StateStore, type TryWriteResult } from '../ports.js';
import { COUNTER_SHARDS, stateKeys } from '../state-keys.js';
import { urlId } from '../url.js';

/**
 * The run ledger in the state store (key layout: `state-keys.ts`). One item per URL accepted into a run, written
 * once (a conditional put) and moved once from `accepted` to a terminal state (a conditional update that returns
 * the item as it is when it fails): no transactions and no reads on the way.
 *
 * Counters decide when a run is complete, and they are kept so that they can lag but never run ahead:
 * - URLs accepted are counted once per acceptance, after their entries are written: every entry carries the
 *   acceptance that wrote it (`source`, a hash of the offers and their parents), and the acceptance adds the entries
 *   it owns to a counter shard with a receipt in the same transaction, before their fetches are enqueued. A cut
 *   acceptance is done again by the redelivered message and counted once, so `accepted` is exact once every
 *   acceptance is done, with no compensating writes to lose.
 * - Terminal states are counted once per records object, with a receipt in the same transaction (spread over
 *   counter shards, so no item is hot): never above the URLs really terminal, exact once every object is done.
 * A URL's fetch is enqueued only after its acceptance was counted, so `terminal == accepted` is seen only when every
 * URL is terminal; finalization still verifies it on the entries. The page budget is a reservation on the run's
 * meta item before the writes (exact while nothing fails; an acceptance cut between reserving and writing leaves
 * the budget short by what it did not write, unless it could give that back). A page's links are accepted before
 * the page itself becomes terminal.
 */

export const TERMINAL_STATES = ['parsed', 'unchanged', 'skipped', 'failed'] as const;
export type TerminalState = (typeof TERMINAL_STATES)[number];
/** `stalled`: the run made no progress for the watchdog's limit; its pending URLs ended failed (`stalled`). */
export type RunState = 'running' | 'succeeded' | 'partial' | 'degraded' | 'failed' | 'stalled';

/** The run's counters (on its meta item and counter shards, summed). */
export const RUN_COUNTERS = [
  'accepted',
  'admitted',
  'parsed',
  'unchanged',
  'skipped',
  'failed',
  'items',
  'invalidItems',
  'duplicateItems',
  'unchangedItems',
  'newItems',
  'changedItems',
  'wireBytes',
  'bodyBytes',
  'fetchMs',
] as const;
export type RunCounter = (typeof RUN_COUNTERS)[number];

/** What a run was started with: kept apart from the meta item, which is written often and so must stay small. */
export interface RunStart {
  /** The hosts the run's links may lead to. */
  readonly hosts: readonly string[];
  /** The start URLs the run was started with. */
  readonly seeds: readonly string[];
}

/** The run's meta item, typed. */
export interface RunMeta {
  readonly job: string;
  readonly runId: string;
  readonly state: RunState;
  readonly startedAt: number;
  readonly finishedAt: number | undefined;
  readonly counters: Readonly<Record<RunCounter, number>>;
  /** What each template's pages yielded, parsed and unchanged pages alike (`t:<template>:…` counters). */
  readonly templates: Readonly<Record<string, TemplateCounts>>;
  /** Set for a run that re-extracts an earlier run's archive instead of fetching. */
  readonly reparse: ReparseOf | undefined;
  /** AWS requests and capacity units the run used (`req:<service>:<operation>` counters). */
  readonly requests: Readonly<Record<string, number>>;
  /** Links counted rather than recorded, per reason (`nf:<reason>` counters): see {@link RECORDED_SKIPS}. */
  readonly notFollowed: Readonly<Record<string, number>>;
}

/**
 * URLs past a budget recorded one by one as `skipped` (with the reason, listed in the run's failures) per run and
 * process; later ones are only counted (`notFollowed` in the manifest), so that links past the budget cannot grow
 * the state without bound.
 */
export const RECORDED_SKIPS = 1000;

/** The meta item's count of the skips reserved for recording (see {@link RECORDED_SKIPS}). */
const RECORDED_SKIPS_COUNTER = 'recordedSkips';

/**
 * The acceptance a set of offers makes: the same offers (a redelivered message) make the same one, so it is done
 * and counted once however often it is cut and done again.
 */
function acceptanceOf(offers: readonly Offer[]): string {
  const hash = createHash('sha256');
  for (const line of offers.map((offer) => `${offer.parent} ${urlId(offer.url)}`).sort()) hash.update(`${line}\n`);
  return hash.digest('base64url').slice(0, 22);
}

/**
 * What the pages of one template yielded in a run, for its quality report. An unchanged page counts with what it
 * yielded when it was last parsed, so a run that re-parses few pages is judged on the whole site.
 */
export interface TemplateCounts {
  /** Items extracted, valid or not (duplicates aside): the base of the fill rates. */
  readonly extracted: number;
  /** Valid items. */
  readonly items: number;
  /** Extracted items with a value, per field. */
  readonly fill: Readonly<Record<string, number>>;
}

/** The counter names of a template's {@link TemplateCounts}. */
export const templateCounter = {
  extracted: (template: string) => `t:${template}:extracted`,
  items: (template: string) => `t:${template}:items`,
  fill: (template: string, field: string) => `t:${template}:fill:${field}`,
} as const;

/** The counters that add a page's yield to its template's {@link TemplateCounts}. */
export function templateCounters(
  template: string,
  counts: { readonly extracted: number; readonly items: number; readonly fill: Readonly<Record<string, number>> },
): Record<string, number> {
  const add: Record<string, number> = {
    [templateCounter.extracted(template)]: counts.extracted,
    [templateCounter.items(template)]: counts.items,
  };
  for (const [field, count] of Object.entries(counts.fill)) add[templateCounter.fill(template, field)] = count;
  return add;
}

function templatesOf(item: StateItem): Record<string, TemplateCounts> {
  const templates: Record<string, { extracted: number; items: number; fill: Record<string, number> }> = {};
  for (const [name, value] of Object.entries(item)) {
    const match = /^t:([A-Za-z_][A-Za-z0-9_]*):(extracted|items|fill:([A-Za-z_][A-Za-z0-9_]*))$/.exec(name);
    if (!match?.[1] || !match[2]) continue;
    const counts = templates[match[1]] ?? { extracted: 0, items: 0, fill: {} };
    templates[match[1]] = counts;
    if (match[2] === 'extracted') counts.extracted = Number(value);
    else if (match[2] === 'items') counts.items = Number(value);
    else if (match[3]) counts.fill[match[3]] = Number(value);
  }
  return templates;
}

/** The archived run a reparse run extracts again, and whether it may move the job's current state. */
export interface ReparseOf {
  readonly sourceRunId: string;
  /** The reparse updates the job's item memory, current state and quality baseline like a crawl. @default false */
  readonly asLatest: boolean;
}

/** The record of one URL in a run. */
export interface UrlEntry {
  /** The URL's id in the run (`urlId`). */
  readonly id: string;
  readonly url: string;
  readonly status: 'accepted' | TerminalState;
  readonly depth: number;
  readonly template: string | undefined;
  /** Id of the page that discovered it, or `seed`. */
  readonly parent: string;
  readonly reason: string | undefined;
  readonly message: string | undefined;
  /** The records object whose post-processing made the URL terminal, when one did. */
  readonly batch: string | undefined;
  /**
   * Ids of the item keys the page holds: those a parsed page yielded, or for an unchanged page those it yielded when
   * last parsed. `undefined` when that is not known (the page memory predates it).
   */
  readonly keys: readonly string[] | undefined;
  /** Where the keys are kept when too many for the entry (`layout.pageLists`, read with `readPageLists`). */
  readonly keysRef: string | undefined;
  /** Whether the URL is a sitemap rather than a page. */
  readonly sitemap: boolean;
}

/** What became of a URL offered to the run. */
export type AcceptOutcome =
  /** New in this run: fetch it. */
  | 'accepted'
  /** Accepted before by the same parent and not finished: a redelivered parent re-enqueues it. */
  | 'pending'
  /** Already in the run. */
  | 'duplicate'
  /** Over the page budget: recorded as skipped. */
  | 'over-budget';

/** A URL's move to its terminal state. */
export interface Completion {
  readonly url: string;
  readonly state: TerminalState;
  readonly reason?: string;
  readonly message?: string;
  /** Run counters to add with this completion (items written, bytes, {@link templateCounters}...). */
  readonly add?: Partial<Record<RunCounter, number>> & Readonly<Record<string, number>>;
  /** Ids of the item keys the page holds (removal detection); see {@link UrlEntry.keys}. */
  readonly keys?: readonly string[];
}

/** A URL offered to a run. */
export interface Offer {
  readonly url: string;
  readonly depth: number;
  readonly template: string | undefined;
  /** Id of the page that found it, or `seed`. */
  readonly parent: string;
  readonly sitemap?: boolean;
}

/** A URL's move to its terminal state, without counters (those are applied per records object). */
export interface Move {
  readonly url: string;
  readonly state: TerminalState;
  readonly reason?: string | undefined;
  readonly message?: string | undefined;
  readonly keys?: readonly string[] | undefined;
  /** Where the keys were written instead, when too many for the entry (then `keys` is left out). */
  readonly keysRef?: string | undefined;
}

/** A run that has not finished, as {@link RunLedger.activeRuns} lists it. */
export interface ActiveRun {
  readonly job: string;
  readonly runId: string;
  readonly startedAt: number;
  /** The progress the watchdog last saw, and when (epoch ms); `undefined` before its first look. */
  readonly progress: number | undefined;
  readonly progressAt: number | undefined;
}

/** Partition key of a run's items. */
export function runKey(job: string, runId: string): string {
  return stateKeys.run(job, runId);
}

/**
 * Counters reserved on the meta item before URLs are written (the page budget, and the cap on skips recorded one by
 * one); every other counter lives on the shards.
 */
const META_COUNTERS = ['admitted', RECORDED_SKIPS_COUNTER] as const;

function toMeta(job: string, runId: string, meta: StateItem, shards: readonly StateItem[]): RunMeta {
  const sums: Record<string, number> = {};
  for (const item of [meta, ...shards]) {
    for (const [name, value] of Object.entries(item)) {
      if (typeof value !== 'number') continue;
      if (
        (RUN_COUNTERS as readonly string[]).includes(name) ||
        name.startsWith('t:') ||
        name.startsWith('req:') ||
        name.startsWith('nf:')
      ) {
        sums[name] = (sums[name] ?? 0) + value;
      }
    }
  }
  const counters = Object.fromEntries(RUN_COUNTERS.map((name) => [name, sums[name] ?? 0])) as Record<RunCounter, number>;
  return {
    job,
    runId,
    state: (meta.state as RunState | undefined) ?? 'running',
    startedAt: Number(meta.startedAt ?? 0),
    finishedAt: meta.finishedAt === undefined || meta.finishedAt === null ? undefined : Number(meta.finishedAt),
    counters,
    templates: templatesOf(sums),
    reparse:
      typeof meta.reparseOf === 'string' ? { sourceRunId: meta.reparseOf, asLatest: meta.reparseAsLatest === true } : undefined,
    requests: Object.fromEntries(
      Object.entries(sums)
        .filter(([name]) => name.startsWith('req:'))
        .map(([name, value]) => [name.slice('req:'.length), value]),
    ),
    notFollowed: Object.fromEntries(
      Object.entries(sums)
        .filter(([name]) => name.startsWith('nf:'))
        .map(([name, value]) => [name.slice('nf:'.length), value]),
    ),
  };
}

function toUrlEntry(item: StateItem): UrlEntry {
  return {
    id: urlId(String(item.url)),
    url: String(item.url),
    status: item.status as UrlEntry['status'],
    depth: Number(item.depth ?? 0),
    template: item.template === null || item.template === undefined ? undefined : String(item.template),
    parent: String(item.parent ?? 'seed'),
    reason: item.reason === null || item.reason === undefined ? undefined : String(item.reason),
    message: item.message === null || item.message === undefined ? undefined : String(item.message),
    batch: item.batch === null || item.batch === undefined ? undefined : String(item.batch),
    keys: typeof item.keys === 'string' ? (JSON.parse(item.keys) as string[]) : undefined,
    keysRef: typeof item.keysRef === 'string' ? item.keysRef : undefined,
    sitemap: item.sitemap === true,
  };
}

/** Terminal counters summed: when equal to `accepted`, the run is complete. */
export function terminalCount(meta: RunMeta): number {
  return TERMINAL_STATES.reduce((sum, state) => sum + meta.counters[state], 0);
}

/**
 * URL ids a process has seen in its runs, with the parent that offered them, so a link repeated on every page (a
 * menu, a pager) is looked up once per process rather than once per page. Bounded: the oldest run is forgotten
 * first, and a run past `maxPerRun` ids starts over.
 */
export class SeenUrls {
  readonly #runs = new Map<string, Map<string, string>>();
  readonly #maxRuns: number;
  readonly #maxPerRun: number;

  /**
   * @param options.maxRuns runs remembered @default 4
   * @param options.maxPerRun ids per run: enough for the links repeated on every page (menus, pagers), a few MB at
   *   most @default 20000
   */
  constructor(options: { maxRuns?: number; maxPerRun?: number } = {}) {
    this.#maxRuns = options.maxRuns ?? 4;
    this.#maxPerRun = options.maxPerRun ?? 20_000;
  }

  /** The parent a URL was offered by in the run, when this process saw it. */
  parentOf(run: string, id: string): string | undefined {
    return this.#runs.get(run)?.get(id);
  }

  add(run: string, id: string, parent: string): void {
    let ids = this.#runs.get(run);
    if (!ids) {
      if (this.#runs.size >= this.#maxRuns) this.#runs.delete(this.#runs.keys().next().value as string);
      ids = new Map();
      this.#runs.set(run, ids);
    }
    if (ids.size >= this.#maxPerRun) ids.clear();
    ids.set(id, parent);
  }
}

/** Options of {@link RunLedger}. */
export interface RunLedgerOptions {
  /** Seconds run items are kept after their run started. @default 30 days */
  readonly ttlSeconds?: number;
  /** URLs this process has seen (shared by every ledger of the process). @default none */
  readonly seen?: SeenUrls;
  /** Conditional writes in flight at once per call. @default 16 */
  readonly parallelism?: number;
  /** Picks a counter shard. @default Math.random */
  readonly random?: () => number;
}

/** Typed access to a run's state items. */
export class RunLedger {
  readonly #state: StateStore;
  readonly #ttlSeconds: number;
  readonly #seen: SeenUrls | undefined;
  readonly #parallelism: number;
  readonly #random: () => number;
  /** Skipped URLs recorded per run, as last seen on its meta item. */
  readonly #skipsRecorded = new Map<string, number>();

  constructor(state: StateStore, options: RunLedgerOptions = {}) {
    this.#state = state;
    this.#ttlSeconds = options.ttlSeconds ?? 30 * 24 * 3600;
    this.#seen = options.seen;
    this.#parallelism = options.parallelism ?? 16;
    this.#random = options.random ?? Math.random;
  }

  #expiry(now: number): number {
    return Math.floor(now / 1000) + this.#ttlSeconds;
  }

  /** A counter shard's number, picked at random so that concurrent writers spread over them. */
  #shardIndex(): number {
    return Math.floor(this.#random() * COUNTER_SHARDS) % COUNTER_SHARDS;
  }

  #shard(): string {
    return stateKeys.counterShard(this.#shardIndex());
  }

  /** A shard of the accepted counts: apart from the others, so that it stays one write unit however many there are. */
  #acceptShard(): string {
    return stateKeys.acceptShard(this.#shardIndex());
  }

  /** Creates the run's meta item; `false` when it exists already (a redelivered start). */
  async createRun(
    job: string,
    runId: string,
    start: { hosts: readonly string[]; seeds: readonly string[]; reparse?: ReparseOf },
    now: number,
  ): Promise<boolean> {
    // The start first, once: a run whose meta item exists always has it (a crash in between leaves no meta, and the
    // redelivered start writes the meta then), and two deliveries of a start that differ (a redeploy in between)
    // cannot leave the run with the loser's start: the first one written stands (read it with getStart).
    await this.#state.write({
      pk: runKey(job, runId),
      sk: stateKeys.start,
      set: { hosts: JSON.stringify(start.hosts), seeds: JSON.stringify(start.seeds) },
      condition: { kind: 'absent' },
      expiresAt: this.#expiry(now),
    });
    const set: Record<string, string | number | boolean> = {
      job,
      runId,
      state: 'running',
      startedAt: now,
      ...(start.reparse ? { reparseOf: start.reparse.sourceRunId, reparseAsLatest: start.reparse.asLatest } : {}),
    };
    const created = await this.#state.write({
      pk: runKey(job, runId),
      sk: stateKeys.meta,
      set,
      add: Object.fromEntries(META_COUNTERS.map((name) => [name, 0])),
      condition: { kind: 'absent' },
      expiresAt: this.#expiry(now),
    });
    if (created) {
      await this.#state.write({
        pk: stateKeys.activeRuns,
        sk: stateKeys.activeRun(job, runId),
        set: { job, runId, state: 'running', startedAt: now },
        expiresAt: this.#expiry(now),
      });
    }
    return created !== undefined;
  }

  /** What a run was started with (its hosts and start URLs); `undefined` for a run that does not exist. */
  async getStart(job: string, runId: string): Promise<RunStart | undefined> {
    const pk = runKey(job, runId);
    // Runs created before the start had an item of its own kept it on the meta item.
    const item = (await this.#state.get(pk, stateKeys.start)) ?? (await this.#state.get(pk, stateKeys.meta));
    if (!item) return undefined;
    return {
      hosts: JSON.parse(String(item.hosts ?? '[]')) as string[],
      seeds: JSON.parse(String(item.seeds ?? '[]')) as string[],
    };
  }

  /** The run with its counters summed over the meta item and the counter shards. */
  async getRun(job: string, runId: string): Promise<RunMeta | undefined> {
    const pk = runKey(job, runId);
    const meta = await this.#state.get(pk, stateKeys.meta);
    if (!meta) return undefined;
    const shards: StateItem[] = [];
    for await (const shard of this.#state.query(pk, stateKeys.counterShardPrefix)) shards.push(shard);
    return toMeta(job, runId, meta, shards);
  }

  async getUrl(job: string, runId: string, url: string): Promise<UrlEntry | undefined> {
    const item = await this.#state.get(runKey(job, runId), stateKeys.url(url));
    return item ? toUrlEntry(item) : undefined;
  }

  /**
   * A URL's entry read eventually consistently (half the price): for a look whose answer a conditional write
   * confirms later, such as the fetcher dropping a task whose URL is already terminal.
   */
  async peekUrl(job: string, runId: string, url: string): Promise<UrlEntry | undefined> {
    const [item] = await this.#state.getMany([{ pk: runKey(job, runId), sk: stateKeys.url(url) }]);
    return item ? toUrlEntry(item) : undefined;
  }

  /**
   * URL entries by id (`urlId`), read eventually consistently in batches of 100: entries of a finished run, which no
   * longer change. Ids with no entry are absent from the map.
   */
  async peekUrlIds(job: string, runId: string, ids: readonly string[]): Promise<Map<string, UrlEntry>> {
    const pk = runKey(job, runId);
    const entries = new Map<string, UrlEntry>();
    for (let start = 0; start < ids.length; start += MAX_GET_MANY) {
      const items = await this.#state.getMany(
        ids.slice(start, start + MAX_GET_MANY).map((id) => ({ pk, sk: `${stateKeys.urlPrefix}${id}` })),
      );
      for (const item of items) {
        if (!item) continue;
        const entry = toUrlEntry(item);
        entries.set(entry.id, entry);
      }
    }
    return entries;
  }

  /**
   * Offers URLs to the run. New ones within the page budget are accepted for fetching; past it (or, with `skip`,
   * all of them) they are recorded as skipped with the reason, so that they are still accounted for. Safe to call
   * again with the same offers after a failure part-way (a redelivered message): the entries written are counted
   * once, by whichever call gets to the end.
   *
   * Costs one eventually consistent batch look-up per 100 offers (URLs this process saw before cost nothing), and
   * when any offer is new: one update of the meta item (the page budget), one conditional put per new URL, and one
   * transaction of two small items counting them.
   */
  async acceptMany(
    job: string,
    runId: string,
    offers: readonly Offer[],
    options: { readonly maxPages: number; readonly now: number; readonly skip?: { reason: FailureReason; message: string } },
  ): Promise<AcceptOutcome[]> {
    const pk = runKey(job, runId);
    const run = `${job}/${runId}`;
    const source = acceptanceOf(offers);
    const outcomes: AcceptOutcome[] = offers.map(() => 'duplicate');
    // Entries this acceptance wrote, now or in an earlier call cut before counting them: whether each is skipped.
    const owned: boolean[] = [];
    const own = (item: StateItem | undefined) => {
      if (item?.source === source) owned.push(item.status === 'skipped');
    };
    const unique = new Set<string>();
    const unknown: number[] = [];
    for (const [index, offer] of offers.entries()) {
      const id = urlId(offer.url);
      if (unique.has(id)) continue;
      unique.add(id);
      const seenParent = this.#seen?.parentOf(run, id);
      // Seen here before, offered by another page: in the run already. Offered by this page: it may be pending.
      if (seenParent !== undefined && seenParent !== offer.parent) continue;
      unknown.push(index);
    }
    const fresh: number[] = [];
    for (let start = 0; start < unknown.length; start += MAX_GET_MANY) {
      const chunk = unknown.slice(start, start + MAX_GET_MANY);
      const items = await this.#state.getMany(chunk.map((index) => ({ pk, sk: stateKeys.url((offers[index] as Offer).url) })));
      for (const [position, item] of items.entries()) {
        const index = chunk[position] as number;
        const offer = offers[index] as Offer;
        if (!item) fresh.push(index);
        else {
          outcomes[index] = item.status === 'accepted' && item.parent === offer.parent ? 'pending' : 'duplicate';
          this.#seen?.add(run, urlId(offer.url), String(item.parent));
          own(item);
        }
      }
    }
    if (fresh.length > 0) await this.#write(pk, run, source, offers, fresh, outcomes, own, options);
    if (owned.length > 0) {
      const skipped = owned.filter(Boolean).length;
      // Counted before the caller enqueues their fetches, so none can be terminal before it is counted accepted.
      await this.#state.transact([
        {
          pk,
          sk: stateKeys.acceptance(source),
          set: { at: options.now },
          condition: { kind: 'absent' },
          expiresAt: this.#expiry(options.now),
        },
        { pk, sk: this.#acceptShard(), add: { accepted: owned.length, ...(skipped > 0 ? { skipped } : {}) } },
      ]);
    }
    return outcomes;
  }

  /** Reserves the page budget for offers not in the run and writes their entries, marked as `source`'s. */
  async #write(
    pk: string,
    run: string,
    source: string,
    offers: readonly Offer[],
    fresh: readonly number[],
    outcomes: AcceptOutcome[],
    own: (item: StateItem | undefined) => void,
    options: { readonly maxPages: number; readonly now: number; readonly skip?: { reason: FailureReason; message: string } },
  ): Promise<void> {
    const skip = options.skip ?? {
      reason: 'budget:maxPages',
      message: `over the budget of ${options.maxPages} pages`,
    };
    const recordable = Math.max(0, RECORDED_SKIPS - (this.#skipsRecorded.get(pk) ?? 0));
    const { admitted, recorded } = await this.#reserve(pk, fresh.length, options.skip ? 0 : options.maxPages, {
      recordable,
      reason: skip.reason,
    });
    const expiresAt = this.#expiry(options.now);
    // Past the budget, the first offers are recorded as skipped; the rest are counted by #reserve only.
    const slots = fresh.slice(0, admitted + recorded).map((index, position) => ({ index, within: position < admitted }));
    for (const index of fresh.slice(admitted + recorded)) outcomes[index] = 'over-budget';
    // Whether each slot's put stored its entry (false too when the put failed or never started).
    const written: boolean[] = slots.map(() => false);
    let failure: { error: unknown } | undefined;
    try {
      await mapLimited([...slots.entries()], this.#parallelism, async ([position, { index, within }]) => {
        const offer = offers[index] as Offer;
        const result = await this.#state.tryWrite({
          pk,
          sk: stateKeys.url(offer.url),
          set: {
            url: offer.url,
            depth: offer.depth,
            template: offer.template ?? null,
            parent: offer.parent,
            source,
            ...(offer.sitemap ? { sitemap: true } : {}),
            ...(within ? { status: 'accepted' } : { status: 'skipped', reason: skip.reason, message: skip.message }),
          },
          condition: { kind: 'absent' },
          expiresAt,
        });
        written[position] = result.ok;
        own(result.ok ? result.item : result.current);
        this.#seen?.add(run, urlId(offer.url), result.ok ? offer.parent : String(result.current?.parent ?? ''));
        if (result.ok) outcomes[index] = within ? 'accepted' : 'over-budget';
        else {
          outcomes[index] =
            result.current?.status === 'accepted' && result.current.parent === offer.parent ? 'pending' : 'duplicate';
        }
      });
    } catch (error) {
      failure = { error };
    }
    // The budget reserved for entries that existed after all (the look-up is eventually consistent), and, when a put
    // failed, for every URL not known to be written, is given back: the offers come again with the redelivered
    // message and reserve again. When the give-back is lost too, the budget ends short by that much; the run's
    // counts are not affected.
    const unwritten = slots.filter((_, position) => !written[position]);
    const lostAdmitted = unwritten.filter((slot) => slot.within).length;
    if (unwritten.length > 0) {
      await this.#giveBack(pk, { admitted: lostAdmitted, [RECORDED_SKIPS_COUNTER]: unwritten.length - lostAdmitted }, failure);
    }
    if (failure) throw failure.error;
  }

  /**
   * Reserves `count` URLs on the meta item, admitting as many as the page budget allows: returns how many were
   * admitted, and how many of the rest are to be recorded as skipped. One conditional update, repeated only when
   * writers raced.
   */
  async #reserve(
    pk: string,
    count: number,
    maxPages: number,
    past: { readonly recordable: number; readonly reason: FailureReason },
  ): Promise<{ admitted: number; recorded: number }> {
    let admit = maxPages > 0 ? count : 0;
    for (let attempt = 0; attempt < 20; attempt++) {
      const recorded = Math.min(count - admit, past.recordable);
      const counted = count - admit - recorded;
      const add: Record<string, number> = {
        admitted: admit,
        [RECORDED_SKIPS_COUNTER]: recorded,
        ...(counted > 0 ? { [`nf:${past.reason}`]: counted } : {}),
      };
      let result: TryWriteResult;
      try {
        result = await this.#state.tryWrite({
          pk,
          sk: stateKeys.meta,
          add,
          condition: admit > 0 ? { kind: 'lessThan', attribute: 'admitted', value: maxPages - admit + 1 } : { kind: 'exists' },
        });
      } catch (error) {
        // DynamoDB may have applied it: undone, as the redelivered offers reserve again.
        await this.#giveBack(pk, add, { error });
        throw error;
      }
      if (result.ok) {
        this.#skipsRecorded.set(pk, Number(result.item[RECORDED_SKIPS_COUNTER] ?? 0));
        return { admitted: admit, recorded };
      }
      if (!result.current) throw new Error(`run ${pk} has no meta item: URLs cannot be accepted into it`);
      admit = Math.max(0, Math.min(count, maxPages - Number(result.current.admitted ?? 0)));
    }
    throw new Error(`could not reserve URLs on ${pk}: too many concurrent writers`);
  }

  /**
   * Takes `counts` off the meta item: budget reserved for URLs that were not written, or a reservation whose request
   * failed without an answer (aborted, timed out: DynamoDB may have applied it). When such a request was not
   * applied, the give-back leaves the budget larger by it: the page budget may then admit that many more.
   * @param failure the error that called for it, reported with the give-back's own if that fails too
   */
  async #giveBack(pk: string, counts: Readonly<Record<string, number>>, failure: { error: unknown } | undefined): Promise<void> {
    try {
      await this.#state.write({
        pk,
        sk: stateKeys.meta,
        add: Object.fromEntries(Object.entries(counts).map(([name, value]) => [name, -value])),
      });
    } catch (error) {
      if (!failure) throw error;
      throw new AggregateError(
        [failure.error, error],
        `reserving the page budget on ${pk} failed, and so did giving back the reservation (the budget ends short by it)`,
      );
    }
  }

  /**
   * Offers a URL to the run. Within the page budget it is accepted for fetching; past it, it is recorded as
   * skipped (reason `budget:maxPages`) so that it is still accounted for.
   */
  async accept(job: string, runId: string, link: Offer, maxPages: number, now: number): Promise<AcceptOutcome> {
    const [outcome] = await this.acceptMany(job, runId, [link], { maxPages, now });
    return outcome ?? 'duplicate';
  }

  /** Records URLs as skipped without fetching them (a budget ran out), so they are still accounted for. */
  async skipMany(
    job: string,
    runId: string,
    offers: readonly Offer[],
    reason: FailureReason,
    message: string,
    now: number,
  ): Promise<void> {
    await this.acceptMany(job, runId, offers, { maxPages: 0, now, skip: { reason, message } });
  }

  /**
   * Moves URLs from `accepted` to their terminal state for the records object `batchId`, one conditional update
   * each. Returns the URLs this object owns (`owned`): those it moved now (`moved`), and those it moved in an
   * earlier delivery (a redelivered object does its work again, and counts it once through
   * {@link RunLedger.applyCounters}).
   */
  async transition(
    job: string,
    runId: string,
    batchId: string,
    moves: readonly Move[],
  ): Promise<{ owned: Set<string>; moved: Set<string> }> {
    const pk = runKey(job, runId);
    const owned = new Set<string>();
    const moved = new Set<string>();
    const unique = [...new Map(moves.map((move) => [move.url, move])).values()];
    await mapLimited(unique, this.#parallelism, async (move) => {
      const result = await this.#state.tryWrite({
        pk,
        sk: stateKeys.url(move.url),
        set: {
          status: move.state,
          reason: move.reason ?? null,
          message: move.message ?? null,
          batch: batchId,
          keys: move.keys ? JSON.stringify(move.keys) : null,
          keysRef: move.keysRef ?? null,
        },
        condition: { kind: 'equals', attribute: 'status', value: 'accepted' },
      });
      if (result.ok) moved.add(move.url);
      if (result.ok || (result.current?.batch === batchId && result.current.status !== 'accepted')) owned.add(move.url);
    });
    return { owned, moved };
  }

  /**
   * Adds the counters of a records object to the run, once: a receipt for `batchId` is written in the same
   * transaction, so a redelivered object adds nothing. Returns whether this call added them.
   */
  async applyCounters(
    job: string,
    runId: string,
    batchId: string,
    add: Readonly<Record<string, number>>,
    now: number,
  ): Promise<boolean> {
    const pk = runKey(job, runId);
    const counters = Object.fromEntries(Object.entries(add).filter(([, value]) => value !== 0));
    const result = await this.#state.transact([
      { pk, sk: stateKeys.receipt(batchId), set: { at: now }, condition: { kind: 'absent' }, expiresAt: this.#expiry(now) },
      ...(Object.keys(counters).length > 0 ? [{ pk, sk: this.#shard(), add: counters }] : []),
    ]);
    return result.ok;
  }

  /**
   * Ends `failed` the pages of a records object that could not be post-processed (it was dead-lettered): those still
   * `accepted`, and those the object had moved but not counted (its receipt is missing: its datasets may be missing
   * too). The failures are counted under the object's receipt, so a late delivery of the object adds nothing. An
   * object whose receipt exists did all its work: nothing changes. Returns the URLs ended.
   */
  async failBatch(
    job: string,
    runId: string,
    batchId: string,
    urls: readonly string[],
    failure: { readonly reason: FailureReason; readonly message: string },
    now: number,
  ): Promise<Set<string>> {
    const pk = runKey(job, runId);
    if (await this.#state.get(pk, stateKeys.receipt(batchId))) return new Set();
    const ended = new Set<string>();
    const set = { status: 'failed', reason: failure.reason, message: failure.message, batch: batchId, keys: null, keysRef: null };
    await mapLimited([...new Set(urls)], this.#parallelism, async (url) => {
      const sk = stateKeys.url(url);
      const pending = await this.#state.tryWrite({
        pk,
        sk,
        set,
        condition: { kind: 'equals', attribute: 'status', value: 'accepted' },
      });
      if (pending.ok || pending.current?.batch !== batchId) {
        if (pending.ok) ended.add(url);
        return;
      }
      // Moved by the object but not counted: a page it failed keeps its reason, any other is failed now.
      if (pending.current.status === 'failed') ended.add(url);
      else {
        const moved = await this.#state.tryWrite({
          pk,
          sk,
          set,
          condition: { kind: 'equals', attribute: 'batch', value: batchId },
        });
        if (moved.ok) ended.add(url);
      }
    });
    // The receipt is written even when nothing ended: the object's counters must not be added later.
    await this.applyCounters(job, runId, batchId, ended.size > 0 ? { failed: ended.size } : {}, now);
    return ended;
  }

  /**
   * Moves URLs to their terminal state and adds their counters, for callers outside a records object (the
   * watchdog, dead letters, tests). Counters are added for the URLs moved by this call only. Returns them.
   */
  async complete(job: string, runId: string, completions: readonly Completion[]): Promise<Set<string>> {
    const unique = [...new Map(completions.map((completion) => [completion.url, completion])).values()];
    const { moved } = await this.transition(job, runId, 'direct', unique);
    const add: Record<string, number> = {};
    // Only moves just made are counted: a retried call adds nothing twice.
    for (const completion of unique.filter((candidate) => moved.has(candidate.url))) {
      add[completion.state] = (add[completion.state] ?? 0) + 1;
      for (const [name, value] of Object.entries(completion.add ?? {})) add[name] = (add[name] ?? 0) + value;
    }
    await this.addCounters(job, runId, add);
    return moved;
  }

  /** Adds to the run's counters (one update of a counter shard); not idempotent: for request counts and the like. */
  async addCounters(job: string, runId: string, add: Readonly<Record<string, number>>): Promise<void> {
    if (Object.keys(add).length === 0) return;
    await this.#state.write({ pk: runKey(job, runId), sk: this.#shard(), add });
  }

  /**
   * Takes up to `count` of a per-run quota of `cap` (`q:<name>` on the meta item, one atomic update): returns how
   * many were granted. The counter counts every request, granted or not.
   */
  async takeQuota(job: string, runId: string, name: string, count: number, cap: number): Promise<number> {
    if (count <= 0) return 0;
    const after = await this.#state.write({ pk: runKey(job, runId), sk: stateKeys.meta, add: { [`q:${name}`]: count } });
    const before = Number(after?.[`q:${name}`] ?? count) - count;
    return Math.max(0, Math.min(count, cap - before));
  }

  /** Adds request counts to a run (after a handler invocation). */
  async addRequests(job: string, runId: string, counts: Readonly<Record<string, number>>): Promise<void> {
    const add = Object.fromEntries(Object.entries(counts).map(([name, value]) => [`req:${name}`, value]));
    if (Object.keys(add).length === 0) return;
    // Shards of their own: an item of a score of counters stays under 1 KB, so this write costs the one unit the
    // invocation meters count for it, whatever the run's other counters hold.
    await this.#state.write({ pk: runKey(job, runId), sk: stateKeys.requestShard(this.#shardIndex()), add });
  }

  /** Sets the final state of a run, once. Returns `false` when another finisher got there first. */
  async finish(job: string, runId: string, state: Exclude<RunState, 'running'>, now: number): Promise<boolean> {
    const result = await this.#state.write({
      pk: runKey(job, runId),
      sk: stateKeys.meta,
      set: { state, finishedAt: now },
      condition: { kind: 'equals', attribute: 'state', value: 'running' },
    });
    if (result !== undefined) {
      await this.#state.write({
        pk: stateKeys.activeRuns,
        sk: stateKeys.activeRun(job, runId),
        set: { state },
        condition: { kind: 'exists' },
      });
    }
    return result !== undefined;
  }

  /**
   * Runs started and not known to be finished, across jobs, oldest first, with the progress the watchdog last saw.
   * A run is listed until it finishes (or its state items expire).
   */
  async *activeRuns(): AsyncIterable<ActiveRun> {
    for await (const item of this.#state.query(stateKeys.activeRuns, '')) {
      if (item.state !== 'running') continue;
      yield {
        job: String(item.job),
        runId: String(item.runId),
        startedAt: Number(item.startedAt ?? 0),
        progress: item.progress === undefined || item.progress === null ? undefined : Number(item.progress),
        progressAt: item.progressAt === undefined || item.progressAt === null ? undefined : Number(item.progressAt),
      };
    }
  }

  /** Records the progress the watchdog saw for an active run (a number that grows while the run moves) and when. */
  async noteProgress(job: string, runId: string, progress: number, at: number): Promise<void> {
    await this.#state.write({
      pk: stateKeys.activeRuns,
      sk: stateKeys.activeRun(job, runId),
      set: { progress, progressAt: at },
      condition: { kind: 'exists' },
    });
  }

  /** Every URL of the run, in id order. */
  async *urls(job: string, runId: string): AsyncIterable<UrlEntry> {
    for await (const item of this.#state.query(runKey(job, runId), stateKeys.urlPrefix)) yield toUrlEntry(item);
  }

  /**
   * Claims an item key for a page (dedup by item key within the run: the first page to yield a key owns it; the
   * same page claiming again, a redelivery, still owns it). Returns whether `page` owns it.
   */
  async claimItem(job: string, runId: string, key: string, page: string, now: number): Promise<boolean> {
    const owner = urlId(page);
    const result = await this.#state.tryWrite({
      pk: runKey(job, runId),
      sk: stateKeys.item(key),
      set: { owner },
      condition: { kind: 'absent' },
      expiresAt: this.#expiry(now),
    });
    return result.ok || result.current?.owner === owner;
  }
}
