import {
  type AttributeValue,
  BatchGetItemCommand,
  type CancellationReason,
  type DynamoDBClient,
  GetItemCommand,
  QueryCommand,
  TransactWriteItemsCommand,
  type Update,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import {
  type Clock,
  type ConsumedCapacity,
  MAX_GET_MANY,
  STATE_TABLE_ATTRIBUTES,
  type StateCondition,
  type StateItem,
  type StateKey,
  type StateStore,
  type StateValue,
  type StateWrite,
  systemClock,
  type TransactResult,
  type TryWriteResult,
} from '../ports.js';
import { StateWriteError, TransactionConflictError } from './errors.js';

const { partitionKey: PARTITION_KEY, sortKey: SORT_KEY, timeToLive: TTL_ATTRIBUTE } = STATE_TABLE_ATTRIBUTES;

/** Writes per transaction (the DynamoDB limit). */
export const MAX_TRANSACT_WRITES = 100;

/** Options of {@link DynamoStateStore}. */
export interface DynamoStateStoreOptions {
  readonly client: DynamoDBClient;
  /** Table with partition key `pk` (S), sort key `sk` (S) and TTL attribute `expiresAt`. */
  readonly tableName: string;
  /** Items per Query page. @default undefined (DynamoDB's 1 MB pages) */
  readonly queryPageSize?: number;
  /** Attempts of a transaction cancelled by conflicting transactions (a hot counter item). @default 8 */
  readonly maxTransactAttempts?: number;
  /** First delay before retrying a conflicting transaction; doubles per attempt, with full jitter. @default 25 */
  readonly conflictBaseMs?: number;
  readonly clock?: Clock;
  /** Random source for jitter. @default Math.random */
  readonly random?: () => number;
  /**
   * Told what each request consumed (requests then ask for `ReturnConsumedCapacity`). A failed condition or a
   * cancelled transaction reports no capacity: it is estimated from the item returned (at least one unit a write,
   * two in a transaction), as DynamoDB bills a failed conditional write by the item's size. @default undefined
   */
  readonly onConsumed?: (consumed: ConsumedCapacity) => void;
}

/** The parts of an update: the expression and its placeholders. */
export interface UpdateExpression {
  readonly Key: Record<string, AttributeValue>;
  readonly UpdateExpression: string | undefined;
  readonly ConditionExpression: string | undefined;
  readonly ExpressionAttributeNames: Record<string, string> | undefined;
  readonly ExpressionAttributeValues: Record<string, AttributeValue> | undefined;
}

/** A state value as a DynamoDB attribute value. */
export function toAttributeValue(value: StateValue, what: string): AttributeValue {
  if (value === null) return { NULL: true };
  switch (typeof value) {
    case 'string':
      return { S: value };
    case 'number':
      if (!Number.isFinite(value)) throw new StateWriteError(`${what} is ${value}: DynamoDB numbers must be finite`);
      return { N: String(value) };
    case 'boolean':
      return { BOOL: value };
    default:
      throw new StateWriteError(`${what} is a ${typeof value}: state values are strings, numbers, booleans or null`);
  }
}

/** A DynamoDB attribute value as a state value; other types (lists, maps, sets, binary) are refused. */
export function fromAttributeValue(value: AttributeValue, what: string): StateValue {
  if (value.S !== undefined) return value.S;
  if (value.N !== undefined) return Number(value.N);
  if (value.BOOL !== undefined) return value.BOOL;
  if (value.NULL !== undefined) return null;
  throw new StateWriteError(`${what} has the DynamoDB type ${Object.keys(value).join(',')}, which is not a state value`);
}

/** A DynamoDB item as a state item (its key attributes `pk` and `sk` included). */
export function fromItem(item: Record<string, AttributeValue>): StateItem {
  const out: Record<string, StateValue> = {};
  for (const [name, value] of Object.entries(item)) out[name] = fromAttributeValue(value, `attribute ${name}`);
  return out;
}

/**
 * Builds the UpdateItem parts of a write: `SET` for `set` and `expiresAt`, `ADD` for counters, the condition,
 * with every attribute name and value behind a placeholder (no user data is ever spliced into an expression).
 */
export function buildUpdate(write: StateWrite): UpdateExpression {
  const names: Record<string, string> = {};
  const values: Record<string, AttributeValue> = {};
  const name = (attribute: string) => {
    const existing = Object.entries(names).find(([, value]) => value === attribute)?.[0];
    if (existing) return existing;
    const placeholder = `#n${Object.keys(names).length}`;
    names[placeholder] = attribute;
    return placeholder;
  };
  const value = (attributeValue: AttributeValue) => {
    const placeholder = `:v${Object.keys(values).length}`;
    values[placeholder] = attributeValue;
    return placeholder;
  };
  const where = `write to ${write.pk} / ${write.sk}`;
  const touched = new Set<string>();
  const touch = (attribute: string) => {
    if (attribute === PARTITION_KEY || attribute === SORT_KEY) {
      throw new StateWriteError(`${where}: "${attribute}" is part of the key and cannot be written`);
    }
    if (touched.has(attribute)) throw new StateWriteError(`${where}: "${attribute}" is written twice`);
    touched.add(attribute);
  };

  const sets: string[] = [];
  for (const [attribute, attributeValue] of Object.entries(write.set ?? {})) {
    touch(attribute);
    sets.push(`${name(attribute)} = ${value(toAttributeValue(attributeValue, `${where}: ${attribute}`))}`);
  }
  if (write.expiresAt !== undefined) {
    touch(TTL_ATTRIBUTE);
    sets.push(`${name(TTL_ATTRIBUTE)} = ${value(toAttributeValue(write.expiresAt, `${where}: ${TTL_ATTRIBUTE}`))}`);
  }
  const adds: string[] = [];
  for (const [attribute, amount] of Object.entries(write.add ?? {})) {
    touch(attribute);
    if (typeof amount !== 'number') throw new StateWriteError(`${where}: counter ${attribute} must be added a number`);
    adds.push(`${name(attribute)} ${value(toAttributeValue(amount, `${where}: ${attribute}`))}`);
  }
  const clauses = [sets.length > 0 ? `SET ${sets.join(', ')}` : '', adds.length > 0 ? `ADD ${adds.join(', ')}` : ''];
  const updateExpression = clauses.filter((clause) => clause !== '').join(' ') || undefined;
  const conditionExpression = write.condition ? conditionOf(write.condition, name, value) : undefined;
  return {
    Key: { [PARTITION_KEY]: { S: write.pk }, [SORT_KEY]: { S: write.sk } },
    UpdateExpression: updateExpression,
    ConditionExpression: conditionExpression,
    ExpressionAttributeNames: Object.keys(names).length > 0 ? names : undefined,
    ExpressionAttributeValues: Object.keys(values).length > 0 ? values : undefined,
  };
}

function conditionOf(
  condition: StateCondition,
  name: (attribute: string) => string,
  value: (attributeValue: AttributeValue) => string,
): string {
  switch (condition.kind) {
    case 'absent':
      return `attribute_not_exists(${name(PARTITION_KEY)})`;
    case 'exists':
      return `attribute_exists(${name(PARTITION_KEY)})`;
    case 'equals':
      // `= NULL` is not a comparison DynamoDB makes: a null attribute is one of type NULL.
      if (condition.value === null) return `attribute_type(${name(condition.attribute)}, ${value({ S: 'NULL' })})`;
      return `${name(condition.attribute)} = ${value(toAttributeValue(condition.value, `condition on ${condition.attribute}`))}`;
    case 'lessThan':
      return `${name(condition.attribute)} < ${value(toAttributeValue(condition.value, `condition on ${condition.attribute}`))}`;
  }
}

/** Bytes of a DynamoDB attribute value by DynamoDB's sizing rules (numbers: about one byte per two digits). */
function attributeBytes(value: AttributeValue): number {
  if (value.S !== undefined) return Buffer.byteLength(value.S);
  if (value.N !== undefined) {
    const digits = value.N.replace(/^-/, '').replace('.', '').replace(/^0+/, '').replace(/e.*$/i, '').length;
    return digits === 0 ? 1 : 1 + Math.ceil(digits / 2) + (value.N.startsWith('-') ? 1 : 0);
  }
  return 1;
}

/** Write units of an item by its size (1 KB each, at least one): what a failed conditional write on it costs. */
export function itemWriteUnits(item: Record<string, AttributeValue> | undefined): number {
  if (!item) return 1;
  const bytes = Object.entries(item).reduce((sum, [name, value]) => sum + Buffer.byteLength(name) + attributeBytes(value), 0);
  return Math.max(1, Math.ceil(bytes / 1024));
}

/** The units of a `ConsumedCapacity` answer (one entry, or one per table). */
function unitsOf(
  consumed: { CapacityUnits?: number | undefined } | { CapacityUnits?: number | undefined }[] | undefined,
): number {
  return (Array.isArray(consumed) ? consumed : consumed ? [consumed] : []).reduce(
    (sum, entry) => sum + (entry.CapacityUnits ?? 0),
    0,
  );
}

function errorName(error: unknown): string | undefined {
  return (error as { name?: string } | undefined)?.name;
}

/**
 * The state store over one DynamoDB table. Reads are strongly consistent; writes are UpdateItem calls (upserts);
 * transactions are TransactWriteItems of updates, retried with jittered backoff when conflicting transactions
 * cancel them.
 */
export class DynamoStateStore implements StateStore {
  readonly #client: DynamoDBClient;
  readonly #tableName: string;
  readonly #queryPageSize: number | undefined;
  readonly #maxTransactAttempts: number;
  readonly #conflictBaseMs: number;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #options: DynamoStateStoreOptions;
  readonly #onConsumed: ((consumed: ConsumedCapacity) => void) | undefined;

  constructor(options: DynamoStateStoreOptions) {
    const problems: string[] = [];
    if (options.tableName === '') problems.push('tableName must not be empty');
    for (const key of ['queryPageSize', 'maxTransactAttempts'] as const) {
      const value = options[key];
      if (value !== undefined && (!Number.isInteger(value) || value < 1))
        problems.push(`${key} must be a positive integer, got ${value}`);
    }
    if (options.conflictBaseMs !== undefined && !(options.conflictBaseMs >= 0)) {
      problems.push(`conflictBaseMs must be >= 0, got ${options.conflictBaseMs}`);
    }
    if (problems.length > 0) throw new RangeError(`invalid DynamoStateStore options: ${problems.join('; ')}`);
    this.#client = options.client;
    this.#tableName = options.tableName;
    this.#queryPageSize = options.queryPageSize;
    this.#maxTransactAttempts = options.maxTransactAttempts ?? 8;
    this.#conflictBaseMs = options.conflictBaseMs ?? 25;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    this.#options = options;
    this.#onConsumed = options.onConsumed;
  }

  /** The same table through the same client, reporting the capacity each request consumed. */
  reportingCapacity(report: (consumed: ConsumedCapacity) => void): DynamoStateStore {
    return new DynamoStateStore({ ...this.#options, onConsumed: report });
  }

  /** Asks for the consumed capacity only when somebody listens: the answer is larger. */
  get #capacity(): { ReturnConsumedCapacity?: 'TOTAL' } {
    return this.#onConsumed ? { ReturnConsumedCapacity: 'TOTAL' } : {};
  }

  #read(consumed: Parameters<typeof unitsOf>[0]): void {
    this.#onConsumed?.({ readUnits: unitsOf(consumed), writeUnits: 0 });
  }

  #wrote(units: number): void {
    this.#onConsumed?.({ readUnits: 0, writeUnits: units });
  }

  get tableName(): string {
    return this.#tableName;
  }

  async get(pk: string, sk: string): Promise<StateItem | undefined> {
    const output = await this.#client.send(
      new GetItemCommand({
        TableName: this.#tableName,
        Key: { [PARTITION_KEY]: { S: pk }, [SORT_KEY]: { S: sk } },
        ConsistentRead: true,
        ...this.#capacity,
      }),
    );
    this.#read(output.ConsumedCapacity);
    return output.Item ? fromItem(output.Item) : undefined;
  }

  async *query(pk: string, skPrefix: string): AsyncIterable<StateItem & { readonly sk: string }> {
    // An empty string is not a valid key value: without a prefix, the whole partition.
    const keyCondition = skPrefix === '' ? '#pk = :pk' : '#pk = :pk AND begins_with(#sk, :prefix)';
    let startKey: Record<string, AttributeValue> | undefined;
    do {
      const output = await this.#client.send(
        new QueryCommand({
          TableName: this.#tableName,
          KeyConditionExpression: keyCondition,
          ExpressionAttributeNames: skPrefix === '' ? { '#pk': PARTITION_KEY } : { '#pk': PARTITION_KEY, '#sk': SORT_KEY },
          ExpressionAttributeValues: skPrefix === '' ? { ':pk': { S: pk } } : { ':pk': { S: pk }, ':prefix': { S: skPrefix } },
          ConsistentRead: true,
          ScanIndexForward: true,
          ...(this.#queryPageSize === undefined ? {} : { Limit: this.#queryPageSize }),
          ...(startKey === undefined ? {} : { ExclusiveStartKey: startKey }),
          ...this.#capacity,
        }),
      );
      this.#read(output.ConsumedCapacity);
      for (const item of output.Items ?? []) {
        const state = fromItem(item);
        yield { ...state, sk: String(state[SORT_KEY]) };
      }
      startKey = output.LastEvaluatedKey;
    } while (startKey !== undefined);
  }

  async write(write: StateWrite): Promise<StateItem | undefined> {
    const result = await this.#update(write, false);
    return result.ok ? result.item : undefined;
  }

  async tryWrite(write: StateWrite): Promise<TryWriteResult> {
    return this.#update(write, true);
  }

  /**
   * One UpdateItem. A transaction in flight on the same item makes it fail with `TransactionConflictException`:
   * retried with jittered backoff like a conflicting transaction.
   */
  async #update(write: StateWrite, returnCurrent: boolean): Promise<TryWriteResult> {
    const update = buildUpdate(write);
    for (let attempt = 1; ; attempt++) {
      try {
        const output = await this.#client.send(
          new UpdateItemCommand({
            TableName: this.#tableName,
            ...update,
            ReturnValues: 'ALL_NEW',
            // Metered, a failed condition is billed by the item it found: ask for it to know its size.
            ...((returnCurrent || this.#onConsumed) && write.condition ? { ReturnValuesOnConditionCheckFailure: 'ALL_OLD' } : {}),
            ...this.#capacity,
          }),
        );
        this.#wrote(unitsOf(output.ConsumedCapacity));
        return { ok: true, item: fromItem(output.Attributes ?? update.Key) };
      } catch (error) {
        if (errorName(error) === 'ConditionalCheckFailedException') {
          const failure = error as { Item?: Record<string, AttributeValue>; ConsumedCapacity?: { CapacityUnits?: number } };
          this.#wrote(failure.ConsumedCapacity ? unitsOf(failure.ConsumedCapacity) : itemWriteUnits(failure.Item));
          if (!returnCurrent) return { ok: false, current: undefined };
          const item = failure.Item;
          // Peers without ReturnValuesOnConditionCheckFailure (dynalite) return no item: look it up.
          return { ok: false, current: item ? fromItem(item) : await this.get(write.pk, write.sk) };
        }
        if (errorName(error) !== 'TransactionConflictException') throw error;
        if (attempt >= this.#maxTransactAttempts) throw new TransactionConflictError(attempt, error);
        await this.#clock.sleep(Math.round(this.#random() * this.#conflictBaseMs * 2 ** (attempt - 1)));
      }
    }
  }

  async getMany(keys: readonly StateKey[]): Promise<(StateItem | undefined)[]> {
    if (keys.length > MAX_GET_MANY) throw new StateWriteError(`getMany takes at most ${MAX_GET_MANY} keys, got ${keys.length}`);
    const found = new Map<string, StateItem>();
    const id = (pk: string, sk: string) => `${pk}\u0000${sk}`;
    const unique = [...new Map(keys.map((key) => [id(key.pk, key.sk), key])).values()];
    let pending: Record<string, AttributeValue>[] = unique.map((key) => ({
      [PARTITION_KEY]: { S: key.pk },
      [SORT_KEY]: { S: key.sk },
    }));
    for (let attempt = 1; pending.length > 0; attempt++) {
      const output = await this.#client.send(
        new BatchGetItemCommand({
          RequestItems: { [this.#tableName]: { Keys: pending, ConsistentRead: false } },
          ...this.#capacity,
        }),
      );
      this.#read(output.ConsumedCapacity);
      for (const item of output.Responses?.[this.#tableName] ?? []) {
        const state = fromItem(item);
        found.set(id(String(state[PARTITION_KEY]), String(state[SORT_KEY])), state);
      }
      pending = output.UnprocessedKeys?.[this.#tableName]?.Keys ?? [];
      if (pending.length > 0) {
        if (attempt >= this.#maxTransactAttempts) throw new TransactionConflictError(attempt, new Error('unprocessed keys'));
        await this.#clock.sleep(Math.round(this.#random() * this.#conflictBaseMs * 2 ** (attempt - 1)));
      }
    }
    return keys.map((key) => found.get(id(key.pk, key.sk)));
  }

  async transact(writes: readonly StateWrite[]): Promise<TransactResult> {
    if (writes.length === 0) return { ok: true };
    if (writes.length > MAX_TRANSACT_WRITES) {
      throw new StateWriteError(`a transaction holds at most ${MAX_TRANSACT_WRITES} writes, got ${writes.length}`);
    }
    const seen = new Map<string, number>();
    const items = writes.map((write, index): { Update: Update } => {
      const id = JSON.stringify([write.pk, write.sk]);
      const first = seen.get(id);
      if (first !== undefined) {
        throw new StateWriteError(`writes ${first} and ${index} of a transaction touch the same item ${write.pk} / ${write.sk}`);
      }
      seen.set(id, index);
      const update = buildUpdate(write);
      if (update.UpdateExpression === undefined) {
        throw new StateWriteError(`write ${index} of a transaction (${write.pk} / ${write.sk}) sets and adds nothing`);
      }
      return { Update: { TableName: this.#tableName, ...update, UpdateExpression: update.UpdateExpression } };
    });
    for (let attempt = 1; ; attempt++) {
      try {
        const output = await this.#client.send(new TransactWriteItemsCommand({ TransactItems: items, ...this.#capacity }));
        this.#wrote(unitsOf(output.ConsumedCapacity));
        return { ok: true };
      } catch (error) {
        if (errorName(error) !== 'TransactionCanceledException') throw error;
        // A cancelled transaction reports nothing: two units an item, the least it can have cost.
        this.#wrote(2 * items.length);
        const reasons: CancellationReason[] = (error as { CancellationReasons?: CancellationReason[] }).CancellationReasons ?? [];
        const failed = reasons.flatMap((reason, index) => (reason.Code === 'ConditionalCheckFailed' ? [index] : []));
        if (failed.length > 0) return { ok: false, failed };
        const conflicted = reasons.some((reason) => reason.Code === 'TransactionConflict');
        const other = reasons.some(
          (reason) => reason.Code !== undefined && !['None', 'TransactionConflict'].includes(reason.Code),
        );
        if (!conflicted || other) throw error;
        if (attempt >= this.#maxTransactAttempts) throw new TransactionConflictError(attempt, error);
        // Full jitter: conflicting writers spread out instead of colliding again in step.
        await this.#clock.sleep(Math.round(this.#random() * this.#conflictBaseMs * 2 ** (attempt - 1)));
      }
    }
  }
}
