import type { MetricName } from './metrics.js';

/**
 * The ports the pipeline depends on. Cloud adapters (S3, SQS, DynamoDB) and local adapters (filesystem,
 * in-process queues, embedded state) implement them; pipeline code never imports an adapter.
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

/** Announces finished runs (an EventBridge event or SNS message in the cloud, nothing locally). */
export interface RunEvents {
  runFinished(manifest: import('./pipeline/finalize.js').RunManifest): Promise<void>;
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
