import type { StateItem, StateStore, StateWrite } from '../ports.js';
import { urlId } from '../url.js';

/**
 * The run ledger in the state store: one meta item per run with counters, and one item per URL accepted into
 * the run. Every URL is accepted exactly once (conditional write) and moves from `accepted` to exactly one
 * terminal state (conditional write), each together with its counter in one transaction, so the counters
 * stay exact under at-least-once delivery and crashes: the run is complete when the terminal counters add up
 * to `accepted`. A page's links are accepted before the page itself becomes terminal, so "complete" cannot be
 * seen while work is still in flight.
 */

export const TERMINAL_STATES = ['parsed', 'unchanged', 'skipped', 'failed'] as const;
export type TerminalState = (typeof TERMINAL_STATES)[number];
/** `stalled`: the run made no progress for the watchdog's limit; its pending URLs ended failed (`stalled`). */
export type RunState = 'running' | 'succeeded' | 'partial' | 'degraded' | 'failed' | 'stalled';

/** Counters kept on the run's meta item. */
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

/** The run's meta item, typed. */
export interface RunMeta {
  readonly job: string;
  readonly runId: string;
  readonly state: RunState;
  readonly startedAt: number;
  readonly finishedAt: number | undefined;
  readonly hosts: readonly string[];
  /** The start URLs the run was started with. */
  readonly seeds: readonly string[];
  readonly counters: Readonly<Record<RunCounter, number>>;
  /** What each template's pages yielded, parsed and unchanged pages alike (`t:<template>:…` counters). */
  readonly templates: Readonly<Record<string, TemplateCounts>>;
  /** Set for a run that re-extracts an earlier run's archive instead of fetching. */
  readonly reparse: ReparseOf | undefined;
  /** AWS requests and capacity units the run used (`req:<service>:<operation>` counters). */
  readonly requests: Readonly<Record<string, number>>;
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
  /** The records object this completion comes from (lets a redelivered object rewrite its dataset whole). */
  readonly batch?: string;
}

const META = 'meta';
/** The partition listing runs that have not finished, for the watchdog. */
const ACTIVE_RUNS = 'runs#active';

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
  return `run#${job}#${runId}`;
}

function urlKey(url: string): string {
  return `url#${urlId(url)}`;
}

function toMeta(job: string, runId: string, item: StateItem): RunMeta {
  const counters = Object.fromEntries(RUN_COUNTERS.map((name) => [name, Number(item[name] ?? 0)])) as Record<RunCounter, number>;
  return {
    job,
    runId,
    state: (item.state as RunState | undefined) ?? 'running',
    startedAt: Number(item.startedAt ?? 0),
    finishedAt: item.finishedAt === undefined || item.finishedAt === null ? undefined : Number(item.finishedAt),
    hosts: JSON.parse(String(item.hosts ?? '[]')) as string[],
    seeds: JSON.parse(String(item.seeds ?? '[]')) as string[],
    counters,
    templates: templatesOf(item),
    reparse:
      typeof item.reparseOf === 'string' ? { sourceRunId: item.reparseOf, asLatest: item.reparseAsLatest === true } : undefined,
    requests: Object.fromEntries(
      Object.entries(item)
        .filter(([name]) => name.startsWith('req:'))
        .map(([name, value]) => [name.slice('req:'.length), Number(value)]),
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
    sitemap: item.sitemap === true,
  };
}

/** Terminal counters summed: when equal to `accepted`, the run is complete. */
export function terminalCount(meta: RunMeta): number {
  return TERMINAL_STATES.reduce((sum, state) => sum + meta.counters[state], 0);
}

/** Typed access to a run's state items. */
export class RunLedger {
  readonly #state: StateStore;
  /** Seconds run items are kept after their run started. @default 30 days */
  readonly #ttlSeconds: number;

  constructor(state: StateStore, options: { ttlSeconds?: number } = {}) {
    this.#state = state;
    this.#ttlSeconds = options.ttlSeconds ?? 30 * 24 * 3600;
  }

  #expiry(now: number): number {
    return Math.floor(now / 1000) + this.#ttlSeconds;
  }

  /** Creates the run's meta item; `false` when it exists already (a redelivered start). */
  async createRun(
    job: string,
    runId: string,
    start: { hosts: readonly string[]; seeds: readonly string[]; reparse?: ReparseOf },
    now: number,
  ): Promise<boolean> {
    const set: Record<string, string | number | boolean> = {
      job,
      runId,
      state: 'running',
      startedAt: now,
      hosts: JSON.stringify(start.hosts),
      seeds: JSON.stringify(start.seeds),
      ...(start.reparse ? { reparseOf: start.reparse.sourceRunId, reparseAsLatest: start.reparse.asLatest } : {}),
    };
    const created = await this.#state.write({
      pk: runKey(job, runId),
      sk: META,
      set,
      add: Object.fromEntries(RUN_COUNTERS.map((name) => [name, 0])),
      condition: { kind: 'absent' },
      expiresAt: this.#expiry(now),
    });
    if (created) {
      await this.#state.write({
        pk: ACTIVE_RUNS,
        sk: `${job}#${runId}`,
        set: { job, runId, state: 'running', startedAt: now },
        expiresAt: this.#expiry(now),
      });
    }
    return created !== undefined;
  }

  /**
   * Runs started and not known to be finished, across jobs, oldest first, with the progress the watchdog last saw.
   * A run is listed until it finishes (or its state items expire).
   */
  async *activeRuns(): AsyncIterable<ActiveRun> {
    for await (const item of this.#state.query(ACTIVE_RUNS, '')) {
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
      pk: ACTIVE_RUNS,
      sk: `${job}#${runId}`,
      set: { progress, progressAt: at },
      condition: { kind: 'exists' },
    });
  }

  async getRun(job: string, runId: string): Promise<RunMeta | undefined> {
    const item = await this.#state.get(runKey(job, runId), META);
    return item ? toMeta(job, runId, item) : undefined;
  }

  async getUrl(job: string, runId: string, url: string): Promise<UrlEntry | undefined> {
    const item = await this.#state.get(runKey(job, runId), urlKey(url));
    return item ? toUrlEntry(item) : undefined;
  }

  /**
   * Offers a URL to the run. Within the page budget it is accepted for fetching; past it, it is recorded as
   * skipped (reason `budget:maxPages`) so that it is still accounted for.
   */
  async accept(
    job: string,
    runId: string,
    link: { url: string; depth: number; template: string | undefined; parent: string; sitemap?: boolean },
    maxPages: number,
    now: number,
  ): Promise<AcceptOutcome> {
    const pk = runKey(job, runId);
    const sk = urlKey(link.url);
    const entry = {
      url: link.url,
      depth: link.depth,
      template: link.template ?? null,
      parent: link.parent,
      ...(link.sitemap ? { sitemap: true } : {}),
    };
    const expiresAt = this.#expiry(now);
    const admitted = await this.#state.transact([
      { pk, sk, set: { ...entry, status: 'accepted' }, condition: { kind: 'absent' }, expiresAt },
      {
        pk,
        sk: META,
        add: { accepted: 1, admitted: 1 },
        condition: { kind: 'lessThan', attribute: 'admitted', value: maxPages },
      },
    ]);
    if (admitted.ok) return 'accepted';
    if (admitted.failed.includes(0)) {
      const existing = await this.getUrl(job, runId, link.url);
      return existing?.status === 'accepted' && existing.parent === link.parent ? 'pending' : 'duplicate';
    }
    const skipped = await this.#state.transact([
      {
        pk,
        sk,
        set: { ...entry, status: 'skipped', reason: 'budget:maxPages', message: `over the budget of ${maxPages} pages` },
        condition: { kind: 'absent' },
        expiresAt,
      },
      { pk, sk: META, add: { accepted: 1, skipped: 1 } },
    ]);
    return skipped.ok ? 'over-budget' : 'duplicate';
  }

  /**
   * Moves URLs from `accepted` to their terminal state, adding their counters. URLs already terminal
   * (a redelivered message) are left as they are. Returns the URLs this call moved.
   */
  async complete(job: string, runId: string, completions: readonly Completion[]): Promise<Set<string>> {
    const pk = runKey(job, runId);
    const writesFor = (completion: Completion): StateWrite[] => [
      {
        pk,
        sk: urlKey(completion.url),
        set: {
          status: completion.state,
          reason: completion.reason ?? null,
          message: completion.message ?? null,
          batch: completion.batch ?? null,
          keys: completion.keys ? JSON.stringify(completion.keys) : null,
        },
        condition: { kind: 'equals', attribute: 'status', value: 'accepted' },
      },
    ];
    const counterWrite = (batch: readonly Completion[]): StateWrite => {
      const add: Record<string, number> = {};
      for (const completion of batch) {
        add[completion.state] = (add[completion.state] ?? 0) + 1;
        for (const [name, value] of Object.entries(completion.add ?? {})) add[name] = (add[name] ?? 0) + value;
      }
      return { pk, sk: META, add };
    };
    const moved = new Set<string>();
    const seen = new Set<string>();
    // One write per URL: DynamoDB refuses a transaction writing one item twice.
    const unique = completions.filter((completion) => !seen.has(completion.url) && seen.add(completion.url) !== undefined);
    // One transaction per chunk in the common case; a chunk with a URL already terminal falls back to one by one.
    for (let start = 0; start < unique.length; start += 50) {
      const chunk = unique.slice(start, start + 50);
      const result = await this.#state.transact([...chunk.flatMap(writesFor), counterWrite(chunk)]);
      if (result.ok) {
        for (const completion of chunk) moved.add(completion.url);
        continue;
      }
      for (const completion of chunk) {
        const single = await this.#state.transact([...writesFor(completion), counterWrite([completion])]);
        if (single.ok) moved.add(completion.url);
      }
    }
    return moved;
  }

  /** Adds request counts to a run (after a handler invocation). */
  async addRequests(job: string, runId: string, counts: Readonly<Record<string, number>>): Promise<void> {
    const add = Object.fromEntries(Object.entries(counts).map(([name, value]) => [`req:${name}`, value]));
    await this.#state.write({ pk: runKey(job, runId), sk: META, add, condition: { kind: 'exists' } });
  }

  /** Records a URL as skipped without fetching it (a budget ran out), so it is still accounted for. */
  async skip(
    job: string,
    runId: string,
    link: { url: string; depth: number; template: string | undefined; parent: string },
    reason: string,
    message: string,
    now: number,
  ): Promise<boolean> {
    const pk = runKey(job, runId);
    const result = await this.#state.transact([
      {
        pk,
        sk: urlKey(link.url),
        set: {
          url: link.url,
          depth: link.depth,
          template: link.template ?? null,
          parent: link.parent,
          status: 'skipped',
          reason,
          message,
        },
        condition: { kind: 'absent' },
        expiresAt: this.#expiry(now),
      },
      { pk, sk: META, add: { accepted: 1, skipped: 1 } },
    ]);
    return result.ok;
  }

  /** Sets the final state of a run, once. Returns `false` when another finisher got there first. */
  async finish(job: string, runId: string, state: Exclude<RunState, 'running'>, now: number): Promise<boolean> {
    const result = await this.#state.write({
      pk: runKey(job, runId),
      sk: META,
      set: { state, finishedAt: now },
      condition: { kind: 'equals', attribute: 'state', value: 'running' },
    });
    if (result !== undefined) {
      await this.#state.write({ pk: ACTIVE_RUNS, sk: `${job}#${runId}`, set: { state }, condition: { kind: 'exists' } });
    }
    return result !== undefined;
  }

  /** Every URL of the run. */
  async *urls(job: string, runId: string): AsyncIterable<UrlEntry> {
    for await (const item of this.#state.query(runKey(job, runId), 'url#')) yield toUrlEntry(item);
  }

  /**
   * Claims something for an owner, once per run: the first claim wins, and the same owner claiming again (a
   * redelivery) still owns it. Returns whether `owner` owns it.
   */
  async #claim(job: string, runId: string, sk: string, owner: string, now: number): Promise<boolean> {
    const pk = runKey(job, runId);
    const created = await this.#state.write({
      pk,
      sk,
      set: { owner },
      condition: { kind: 'absent' },
      expiresAt: this.#expiry(now),
    });
    if (created) return true;
    const existing = await this.#state.get(pk, sk);
    return existing?.owner === owner;
  }

  /** Claims an item key for a page (dedup by item key within the run: the first page to yield a key owns it). */
  claimItem(job: string, runId: string, key: string, page: string, now: number): Promise<boolean> {
    return this.#claim(job, runId, `item#${urlId(key)}`, urlId(page), now);
  }

  /**
   * Claims a parsed page for the records object that will write its items. A page parsed twice (its fetch was
   * delivered twice) can sit in two records objects post-processed at once: only the claiming one writes it.
   */
  claimPage(job: string, runId: string, url: string, batchId: string, now: number): Promise<boolean> {
    return this.#claim(job, runId, `page#${urlId(url)}`, batchId, now);
  }
}
