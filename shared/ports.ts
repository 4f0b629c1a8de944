import type { PageExtraction, PageSource } from './extract/page.js';
import type { FetchedPage, RequestOptions } from './fetch/http.js';
import type { Job } from './job/schema.js';
import type { MetricName } from './metrics.js';

/**
 * The ports the pipeline depends on, all of them in this module. Cloud adapters (S3, SQS, DynamoDB, EventBridge)
 * and local adapters (filesystem, in-process queues, embedded state), the HTTP client, the extractors and the host
 * gates implement them; pipeline code never imports an adapter. This module imports nothing from the pipeline
 * (`shared/pipeline/`; test/unit/import-rule.test.ts): the data the ports carry is the job model's, the fetcher's
 * and the extractor's, or defined here.
 */

/** Metadata of a stored object, as listings return it. */
export interface ObjectInfo {
  readonly key: string;
  readonly size: number;
}

/** Options of {@link ObjectStore.put}. */
export interface PutOptions {
  /** MIME type stored with the object. @default 'application/octet-stream' */
  readonly contentType?: string;
}

/**
 * Object storage with S3 semantics: flat keys with `/` as a convention, whole-object writes, ranged reads,
 * listings in ascending key order. Writing a key under `records/` raises an object-created event.
 */
export interface ObjectStore {
  put(key: string, body: Uint8Array | string, options?: PutOptions): Promise<void>;
  /** The whole object, or `undefined` when there is no such key. */
  get(key: string): Promise<Uint8Array | undefined>;
  /** `length` bytes from `offset`; throws {@link ObjectNotFoundError} when there is no such key. */
  getRange(key: string, offset: number, length: number): Promise<Uint8Array>;
  /** The object as a stream, or `undefined` when there is no such key. */
  getStream(key: string): Promise<AsyncIterable<Uint8Array> | undefined>;
  /** Every object whose key starts with `prefix`, in ascending key order. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /**
   * Deletes every object under `folder` (a prefix ending in `/`): scratch that is no longer needed. Optional: a
   * store where scratch expires by itself (S3, with a lifecycle rule on `scratch/`) does not implement it, and
   * callers skip it there.
   */
  discard?(folder: string): Promise<void>;
}

/** One message to send. */
export interface OutgoingMessage {
  readonly body: string;
  /** Delay before the message becomes visible, 0–900 s (SQS limit). @default 0 */
  readonly delaySeconds?: number;
}

/** The producer side of a queue. Consumption is the runtime's business (event source mapping or local poller). */
export interface Queue {
  /** Sends every message; throws if any could not be sent (the caller's message is then retried whole). */
  send(messages: readonly OutgoingMessage[]): Promise<void>;
}

/**
 * The attributes of the state table that every store and the table itself agree on: the item key (`pk`, `sk`) and
 * the expiry (epoch seconds, DynamoDB TTL). {@link StateWrite} and {@link StateKey} use the same names.
 */
export const STATE_TABLE_ATTRIBUTES = {
  partitionKey: 'pk',
  sortKey: 'sk',
  timeToLive: 'expiresAt',
} as const satisfies Record<string, keyof StateWrite>;

/** A scalar stored in the state store. */
export type StateValue = string | number | boolean | null;
/** One state item: attributes by name. `pk` and `sk` are the item's key. */
export type StateItem = Readonly<Record<string, StateValue>>;

/** A condition on one item; the write (and the whole transaction) fails when it does not hold. */
export type StateCondition =
  | { readonly kind: 'absent' }
  | { readonly kind: 'exists' }
  | { readonly kind: 'equals'; readonly attribute: string; readonly value: StateValue }
  | { readonly kind: 'lessThan'; readonly attribute: string; readonly value: number };

/** An upsert of one item: `set` attributes, `add` to numeric counters (missing counters start at 0). */
export interface StateWrite {
  readonly pk: string;
  readonly sk: string;
  readonly set?: Readonly<Record<string, StateValue>>;
  readonly add?: Readonly<Record<string, number>>;
  readonly condition?: StateCondition;
  /** Epoch seconds after which the item may be deleted (DynamoDB TTL). */
  readonly expiresAt?: number;
}

/** Outcome of {@link StateStore.transact}: which writes' conditions failed, when any did (then nothing was written). */
export type TransactResult = { readonly ok: true } | { readonly ok: false; readonly failed: readonly number[] };

/** Outcome of {@link StateStore.tryWrite}: the item after the write, or the item as it is when the condition failed. */
export type TryWriteResult =
  | { readonly ok: true; readonly item: StateItem }
  | { readonly ok: false; readonly current: StateItem | undefined };

/** The key of one state item. */
export interface StateKey {
  readonly pk: string;
  readonly sk: string;
}

/** Keys per {@link StateStore.getMany} call (the DynamoDB BatchGetItem limit). */
export const MAX_GET_MANY = 100;

/** Capacity units one state request consumed, as the service bills them. */
export interface ConsumedCapacity {
  readonly readUnits: number;
  readonly writeUnits: number;
}

/**
 * Durable key-value state with conditional writes and atomic counters: DynamoDB in the cloud, an embedded
 * store locally. Reads are strongly consistent.
 */
export interface StateStore {
  /**
   * The same store, telling `report` what each request consumed as billed (DynamoDB's `ConsumedCapacity`), for
   * request metering. Absent where nothing is billed (the embedded store): the meter estimates from item sizes.
   */
  reportingCapacity?(report: (consumed: ConsumedCapacity) => void): StateStore;
  get(pk: string, sk: string): Promise<StateItem | undefined>;
  /** Items of one partition whose sort key starts with `skPrefix`, in ascending sort-key order. */
  query(pk: string, skPrefix: string): AsyncIterable<StateItem & { readonly sk: string }>;
  /** All writes or none (at most 100). */
  transact(writes: readonly StateWrite[]): Promise<TransactResult>;
  /** One write; returns the item after it, or `undefined` when the condition failed. */
  write(write: StateWrite): Promise<StateItem | undefined>;
  /**
   * One write that, when its condition fails, also returns the item as it is (DynamoDB's
   * `ReturnValuesOnConditionCheckFailure`), so a caller learns why without a second request.
   */
  tryWrite(write: StateWrite): Promise<TryWriteResult>;
  /**
   * Up to {@link MAX_GET_MANY} items by key, in the order of `keys` (`undefined` where there is none). Eventually
   * consistent, and so half the price of {@link StateStore.get}: for looks whose answer a conditional write confirms.
   */
  getMany(keys: readonly StateKey[]): Promise<(StateItem | undefined)[]>;
}

/** Time, injectable so tests and benchmarks control it. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  sleep(ms: number): Promise<void>;
}

/** Structured logging (Powertools Logger satisfies it). Extra attributes always include url and runId when known. */
export interface Log {
  debug(message: string, attributes?: Record<string, unknown>): void;
  info(message: string, attributes?: Record<string, unknown>): void;
  warn(message: string, attributes?: Record<string, unknown>): void;
  error(message: string, attributes?: Record<string, unknown>): void;
}

/** Operational metrics (Powertools Metrics in Lambda, nothing locally). Names are CloudWatch metric names. */
export interface Metrics {
  count(name: MetricName, value?: number): void;
}

/** Metrics that go nowhere. */
export const noMetrics: Metrics = { count() {} };

/**
 * What a finished run's announcement says: its outcome and change summary, small enough for any rule target (well
 * under 256 KB); the pipeline builds it from the run manifest (`runFinishedEvent` in shared/pipeline/finalize.ts).
 */
export interface RunFinishedEvent {
  readonly job: string;
  readonly runId: string;
  /** The run's final state (`succeeded`, `partial`, `degraded`, `failed`, `stalled`). */
  readonly state: string;
  /** ISO 8601. */
  readonly startedAt: string;
  /** ISO 8601. */
  readonly finishedAt: string | null;
  /** URLs accepted and how each ended, as in the manifest. */
  readonly urls: Readonly<Record<string, number>>;
  /** Items written, invalid, duplicates and on unchanged pages, as in the manifest. */
  readonly items: Readonly<Record<string, number>>;
  /** New, changed and removed items, as in the manifest. */
  readonly changes: Readonly<Record<string, number | boolean>>;
  /** The budget that stopped the run accepting URLs, if one did. */
  readonly budgetExhausted: string | null;
  /** Why the run is degraded; empty when it is not. */
  readonly qualityProblems: readonly string[];
  readonly estimatedCostUsd: number;
  /** Object key of the run manifest. */
  readonly manifestKey: string;
}

/** Announces finished runs (an EventBridge event in the cloud, nothing locally). */
export interface RunEvents {
  runFinished(event: RunFinishedEvent): Promise<void>;
}

/** Run events that go nowhere. */
export const noRunEvents: RunEvents = { runFinished: async () => {} };

/** The system clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** A logger that drops everything (tests, quiet CLI runs). */
export const silentLog: Log = { debug() {}, info() {}, warn() {}, error() {} };

/** The HTTP port: fetches one URL with the limits given (shared/fetch/http.ts over undici). */
export interface HttpClient {
  fetchPage(url: string, options: RequestOptions): Promise<FetchedPage>;
  close(): Promise<void>;
}

/** The extraction port: pages in, items and links out (on the calling thread or a worker pool, shared/extract/pool.ts). */
export interface PageExtractor {
  extract(html: string, job: Job, page: PageSource): Promise<PageExtraction>;
  close(): Promise<void>;
}

/** Per-host politeness limits, from the job. */
export interface HostLimits {
  readonly concurrency: number;
  readonly minDelayMs: number;
}

/** One call of a gate: where its state writes are made (and counted), and what waits behind it. */
export interface GateCall {
  readonly state: StateStore;
  /**
   * Requests of this process waiting behind this one for the same host (not yet at the gate): a gate that books
   * starts ahead may book for them in the same write. @default 0
   */
  readonly queued?: number;
  /**
   * A start the gate booked for this request earlier (epoch ms), which it carried through the queue
   * (`PolitenessDeferral.slotAt`): used without booking again if it has not passed. @default none
   */
  readonly slotAt?: number;
}

/**
 * Spaces and caps requests per host (shared/pipeline/politeness.ts: in-process, or booked in the state store for a
 * fleet). `acquire` resolves when a request may start and returns the function to call when it is done.
 */
export interface HostGate {
  /**
   * Waits for a slot; may throw a `PolitenessDeferral` (a retryable error) when the wait would be long.
   *
   * @param call.state a gate that keeps bookings in a state store makes them through this one (the run's
   *   metered store), so that the run is billed for its bookings; `undefined`: the gate's own store. Required, so
   *   that a wrapper cannot drop it unnoticed.
   */
  acquire(host: string, limits: HostLimits, call: GateCall | undefined): Promise<() => void>;
  /** No request to the host starts before `untilMs` (epoch ms): after a 429/503 with `Retry-After`. */
  slowDown(host: string, untilMs: number, call: GateCall | undefined): Promise<void>;
}
