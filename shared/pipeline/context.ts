import { NonRetryableError } from '../errors.js';
import { UnknownJobError } from '../job/errors.js';
import type { Job } from '../job/schema.js';
import {
  type Clock,
  type HostGate,
  type HttpClient,
  type Log,
  type Metrics,
  noMetrics,
  noRunEvents,
  type ObjectStore,
  type PageExtractor,
  type Queue,
  type RunEvents,
  type StateStore,
} from '../ports.js';
import { ItemMemory } from './changes.js';
import { RunLedger, SeenUrls } from './ledger.js';
import { meteredLog, meteredQueue, meteredState, meteredStore, type RequestMeter } from './metering.js';
import { PageMemoryStore } from './pages.js';
import { noSecretReader, redactingHttp, redactingLog, type SecretReader } from './secrets.js';

/** The jobs a runtime knows, by name. */
export interface JobRegistry {
  get(name: string): Job;
  names(): string[];
}

/** A registry over a list of validated jobs. */
export function jobRegistry(jobs: readonly Job[]): JobRegistry {
  const byName = new Map(jobs.map((job) => [job.name, job]));
  return {
    get(name) {
      const job = byName.get(name);
      if (!job) throw new UnknownJobError(name, [...byName.keys()]);
      return job;
    },
    names: () => [...byName.keys()],
  };
}

/** Tunables of the pipeline that are the runtime's, not the job's. */
export interface PipelineSettings {
  /** Retries whose backoff is at most this long wait in process; longer ones go back to the queue with a delay. @default 2000 */
  readonly inlineRetryMaxMs: number;
  /** First retry delay; doubles per attempt, with jitter. @default 500 */
  readonly retryBaseMs: number;
  /** Longest delay honoured from `Retry-After` before the URL fails. @default 900000 (the SQS maximum delay) */
  readonly maxRetryAfterMs: number;
  /**
   * How long an unreachable robots.txt keeps its host disallowed before it is fetched again; a URL waiting for it is
   * retried after this, doubling per retry (2 + 4 + 8 s with the default 3 retries before its URLs fail). @default 2000
   */
  readonly robotsRetryMs: number;
  /** Memory of the function running a stage, for the GB-seconds of the cost estimate. @default 1024 */
  readonly memoryMb: number;
  /**
   * Item key ids a finalization holds in memory as the evidence of what the run saw; a run whose pages hold more
   * writes them to scratch objects and judges its items in 64 buckets, with bounded memory. @default 200000
   */
  readonly finalizeMemoryKeys: number;
  /**
   * Lines per object of a run's failures file: a finalization holds one part in memory, so a run with a million
   * failed URLs writes them in parts (`failures.ndjson`, `failures-1.ndjson`, …, all named by the manifest).
   * @default 50000
   */
  readonly failuresPartLines: number;
}

export const defaultSettings: PipelineSettings = {
  inlineRetryMaxMs: 2000,
  retryBaseMs: 500,
  maxRetryAfterMs: 900_000,
  memoryMb: 1024,
  robotsRetryMs: 2000,
  finalizeMemoryKeys: 200_000,
  failuresPartLines: 50_000,
};

/** Everything a pipeline stage needs: ports, the job registry and settings. */
export interface PipelineContext {
  readonly jobs: JobRegistry;
  readonly store: ObjectStore;
  readonly state: StateStore;
  readonly ledger: RunLedger;
  readonly pages: PageMemoryStore;
  readonly items: ItemMemory;
  readonly fetchQueue: Queue;
  readonly parseQueue: Queue;
  /** The HTTP client; errors pass through the secrets' redactor. */
  readonly http: HttpClient;
  /** The secrets jobs name (request headers and cookies, proxies, logins), read when needed and redacted everywhere. */
  readonly secrets: SecretReader;
  /**
   * Where pages are extracted. @default none: a context that parses is given one (`inProcessExtractor` of
   * shared/extract/pool.ts), so that what does not parse (a fetcher, a post-processor) bundles no HTML libraries
   */
  readonly extractor: PageExtractor;
  readonly hosts: HostGate;
  readonly clock: Clock;
  /** The log; messages and attributes pass through the secrets' redactor. */
  readonly log: Log;
  readonly metrics: Metrics;
  readonly events: RunEvents;
  readonly settings: PipelineSettings;
  /** In-process memo shared by every invocation of a process (e.g. robots.txt policies). */
  readonly memo: Map<string, unknown>;
  /** Random source for ids and jitter (injectable for determinism). @default Math.random */
  readonly random: () => number;
}

const SEEN_URLS = 'seen-urls';

/** The process's memo of URLs seen in its runs (see {@link SeenUrls}). */
function seenUrlsOf(context: PipelineContext): SeenUrls | undefined {
  const seen = context.memo.get(SEEN_URLS);
  return seen instanceof SeenUrls ? seen : undefined;
}

/** The extractor of a context that parses nothing: asked to extract, it says so. */
const noExtractor: PageExtractor = {
  extract: async () => {
    throw new NonRetryableError(
      'this pipeline context extracts no pages: it was created without an extractor',
      'unavailable-port',
    );
  },
  close: async () => {},
};

/** Builds a context, applying defaults. */
export function createContext(
  parts: Omit<
    PipelineContext,
    'ledger' | 'pages' | 'items' | 'settings' | 'random' | 'metrics' | 'events' | 'memo' | 'extractor' | 'secrets'
  > & {
    extractor?: PageExtractor;
    /**
     * How the secrets jobs name are read: a `SecretResolver` (secret-resolver.ts) where pages are fetched.
     * @default none: a job naming one fails its pages (`secret-not-found`)
     */
    secrets?: SecretReader;
    metrics?: Metrics;
    events?: RunEvents;
    settings?: Partial<PipelineSettings>;
    random?: () => number;
    ledger?: RunLedger;
  },
): PipelineContext {
  const memo = new Map<string, unknown>();
  const seen = new SeenUrls();
  memo.set(SEEN_URLS, seen);
  const secrets = parts.secrets ?? noSecretReader();
  return {
    ...parts,
    secrets,
    log: redactingLog(parts.log, secrets.redactor),
    http: redactingHttp(parts.http, secrets.redactor),
    ledger: parts.ledger ?? new RunLedger(parts.state, { seen }),
    pages: new PageMemoryStore(parts.state, parts.store),
    items: new ItemMemory(parts.state),
    settings: { ...defaultSettings, ...parts.settings },
    metrics: parts.metrics ?? noMetrics,
    memo,
    extractor: parts.extractor ?? noExtractor,
    events: parts.events ?? noRunEvents,
    random: parts.random ?? Math.random,
  };
}

/** The same context with every port call counted by `meter` (request counts and cost per run). */
export function withMeter(context: PipelineContext, meter: RequestMeter): PipelineContext {
  const state = meteredState(context.state, meter);
  const store = meteredStore(context.store, meter);
  return {
    ...context,
    log: meteredLog(context.log, meter),
    store,
    state,
    fetchQueue: meteredQueue(context.fetchQueue, meter),
    parseQueue: meteredQueue(context.parseQueue, meter),
    ledger: new RunLedger(state, { seen: seenUrlsOf(context) }),
    pages: new PageMemoryStore(state, store),
    items: new ItemMemory(state),
  };
}

/** A short, time-ordered id for batches and runs: `<time base36>-<random>`. */
export function newId(clock: Clock, random: () => number): string {
  const suffix = Math.floor(random() * 36 ** 6)
    .toString(36)
    .padStart(6, '0');
  return `${clock.now().toString(36)}-${suffix}`;
}
