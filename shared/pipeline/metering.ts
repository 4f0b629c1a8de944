import type { Log, ObjectStore, OutgoingMessage, Queue, StateItem, StateStore, StateWrite } from '../ports.js';

/**
 * Counts the AWS requests (and DynamoDB capacity units) the pipeline's port calls stand for, so every run's
 * manifest can state its request counts per service and its estimated cost at list prices, locally as in the cloud.
 * Counter names are `<service>:<operation>` (e.g. `s3:PutObject`, `dynamodb:WriteUnits`).
 */
export type RequestCounts = Record<string, number>;

/** AWS list prices, us-east-1 (see docs/deploy.md#cost; check before quoting). */
export const PRICES_USD = {
  s3PutPer1000: 0.005,
  s3GetPer1000: 0.0004,
  sqsPerMillion: 0.4,
  lambdaPerMillion: 0.2,
  lambdaPerGbSecondArm: 0.0000133334,
  dynamoWritePerMillion: 0.625,
  dynamoReadPerMillion: 0.125,
  cloudWatchLogsPerGbIngested: 0.5,
} as const;

/** Bytes Lambda and Powertools add to each log line (timestamp, level, service, function, request id...). */
export const LOG_LINE_OVERHEAD_BYTES = 300;
/** Bytes of the platform's START, END and REPORT lines of one invocation. */
export const INVOCATION_LOG_BYTES = 400;

/** Estimated USD of a set of request counts, with the breakdown per service. */
export function estimateCost(counts: Readonly<RequestCounts>): { total: number; byService: Record<string, number> } {
  const n = (name: string) => counts[name] ?? 0;
  const byService = {
    s3:
      ((n('s3:PutObject') + n('s3:ListObjectsV2')) / 1000) * PRICES_USD.s3PutPer1000 +
      (n('s3:GetObject') / 1000) * PRICES_USD.s3GetPer1000,
    sqs:
      ((n('sqs:SendMessageBatch') + n('sqs:ReceiveMessage') + n('sqs:DeleteMessageBatch') + n('sqs:S3Notification')) / 1e6) *
      PRICES_USD.sqsPerMillion,
    lambda:
      (n('lambda:Invoke') / 1e6) * PRICES_USD.lambdaPerMillion +
      (n('lambda:MilliGbSeconds') / 1000) * PRICES_USD.lambdaPerGbSecondArm,
    dynamodb:
      (n('dynamodb:WriteUnits') / 1e6) * PRICES_USD.dynamoWritePerMillion +
      (n('dynamodb:ReadUnits') / 1e6) * PRICES_USD.dynamoReadPerMillion,
    logs: (n('logs:IngestedBytes') / 1024 ** 3) * PRICES_USD.cloudWatchLogsPerGbIngested,
  };
  const total = Object.values(byService).reduce((sum, value) => sum + value, 0);
  return { total, byService };
}

/** Accumulates counts. */
export class RequestMeter {
  readonly counts: RequestCounts = {};

  add(name: string, value = 1): void {
    this.counts[name] = (this.counts[name] ?? 0) + value;
  }

  /** Whether anything was counted. */
  get isEmpty(): boolean {
    return Object.keys(this.counts).length === 0;
  }
}

function itemBytes(item: StateItem | Readonly<Record<string, unknown>> | undefined): number {
  if (!item) return 0;
  let size = 0;
  for (const [name, value] of Object.entries(item))
    size += name.length + (typeof value === 'string' ? Buffer.byteLength(value) : 8);
  return size;
}

/**
 * Write units of an upsert as DynamoDB bills them: 1 per KB of the item, the larger of before and after. The item
 * after (or, for a failed condition, as it is) is known when the store returns it; the request's own size is the
 * floor otherwise. Key attributes and names count too (about 64 bytes).
 */
function writeUnits(write: StateWrite, item?: StateItem): number {
  return Math.max(1, Math.ceil((Math.max(itemBytes(write.set), itemBytes(item)) + 64) / 1024));
}

/** Counts S3 requests of an object store. */
export function meteredStore(store: ObjectStore, meter: RequestMeter): ObjectStore {
  return {
    put: (key, body, options) => {
      meter.add('s3:PutObject');
      if (key.startsWith('records/')) meter.add('sqs:S3Notification');
      return store.put(key, body, options);
    },
    get: (key) => {
      meter.add('s3:GetObject');
      return store.get(key);
    },
    getRange: (key, offset, length) => {
      meter.add('s3:GetObject');
      return store.getRange(key, offset, length);
    },
    getStream: (key) => {
      meter.add('s3:GetObject');
      return store.getStream(key);
    },
    // Deleting is free on S3 (and S3 expires scratch by lifecycle instead); forwarded where the store can.
    ...(store.discard ? { discard: (folder: string) => store.discard?.(folder) ?? Promise.resolve() } : {}),
    async *list(prefix) {
      let listed = 0;
      meter.add('s3:ListObjectsV2');
      for await (const object of store.list(prefix)) {
        if (++listed % 1000 === 0) meter.add('s3:ListObjectsV2');
        yield object;
      }
    },
  };
}

/** Counts SQS requests of a queue: one per batch of 10, and one per 64 KB of a batch's payload. */
export function meteredQueue(queue: Queue, meter: RequestMeter): Queue {
  return {
    send: (messages: readonly OutgoingMessage[]) => {
      for (let start = 0; start < messages.length; start += 10) {
        const bytes = messages.slice(start, start + 10).reduce((sum, message) => sum + Buffer.byteLength(message.body), 0);
        meter.add('sqs:SendMessageBatch', Math.max(1, Math.ceil(bytes / 65_536)));
      }
      return queue.send(messages);
    },
  };
}

/**
 * Counts DynamoDB requests and capacity units of a state store: the units the store reports as billed when it can
 * ({@link StateStore.reportingCapacity}: DynamoDB), else estimated from item sizes (the embedded store).
 */
export function meteredState(store: StateStore, meter: RequestMeter): StateStore {
  const reporting = store.reportingCapacity?.((consumed) => {
    if (consumed.readUnits > 0) meter.add('dynamodb:ReadUnits', consumed.readUnits);
    if (consumed.writeUnits > 0) meter.add('dynamodb:WriteUnits', consumed.writeUnits);
  });
  return reporting ? countedRequests(reporting, meter) : estimatedState(store, meter);
}

/** Counts the requests of a store that reports its capacity units itself. */
function countedRequests(state: StateStore, meter: RequestMeter): StateStore {
  return {
    get: (pk, sk) => {
      meter.add('dynamodb:GetItem');
      return state.get(pk, sk);
    },
    async *query(pk, prefix) {
      meter.add('dynamodb:Query');
      yield* state.query(pk, prefix);
    },
    transact: (writes) => {
      meter.add('dynamodb:TransactWriteItems');
      return state.transact(writes);
    },
    write: (write) => {
      meter.add('dynamodb:UpdateItem');
      return state.write(write);
    },
    tryWrite: (write) => {
      meter.add('dynamodb:UpdateItem');
      return state.tryWrite(write);
    },
    getMany: (keys) => {
      meter.add('dynamodb:BatchGetItem', Math.ceil(keys.length / 100));
      return state.getMany(keys);
    },
  };
}

/** Counts the requests of a store, with capacity units estimated from item sizes. */
function estimatedState(state: StateStore, meter: RequestMeter): StateStore {
  return {
    get: async (pk, sk) => {
      const item = await state.get(pk, sk);
      meter.add('dynamodb:GetItem');
      meter.add('dynamodb:ReadUnits', Math.max(1, Math.ceil(itemBytes(item) / 4096)));
      return item;
    },
    async *query(pk, prefix) {
      let bytes = 0;
      meter.add('dynamodb:Query');
      for await (const item of state.query(pk, prefix)) {
        bytes += itemBytes(item);
        yield item;
      }
      meter.add('dynamodb:ReadUnits', Math.max(1, Math.ceil(bytes / 4096)));
      meter.add('dynamodb:Query', Math.floor(bytes / 1_048_576));
    },
    transact: (writes) => {
      meter.add('dynamodb:TransactWriteItems');
      meter.add(
        'dynamodb:WriteUnits',
        writes.reduce((sum, write) => sum + 2 * writeUnits(write), 0),
      );
      return state.transact(writes);
    },
    write: async (write) => {
      const item = await state.write(write);
      meter.add('dynamodb:UpdateItem');
      meter.add('dynamodb:WriteUnits', writeUnits(write, item));
      return item;
    },
    tryWrite: async (write) => {
      const result = await state.tryWrite(write);
      meter.add('dynamodb:UpdateItem');
      meter.add('dynamodb:WriteUnits', writeUnits(write, result.ok ? result.item : result.current));
      return result;
    },
    getMany: async (keys) => {
      const items = await state.getMany(keys);
      meter.add('dynamodb:BatchGetItem', Math.ceil(keys.length / 100));
      // Eventually consistent: half a read unit per 4 KB of each item.
      meter.add(
        'dynamodb:ReadUnits',
        items.reduce((sum, item) => sum + Math.max(1, Math.ceil(itemBytes(item) / 4096)) / 2, 0),
      );
      return items;
    },
  };
}

/** Counts the bytes a log sends to CloudWatch Logs (the line as Powertools writes it, with its envelope). */
export function meteredLog(log: Log, meter: RequestMeter): Log {
  const counted =
    (write: (message: string, attributes?: Record<string, unknown>) => void) =>
    (message: string, attributes?: Record<string, unknown>) => {
      meter.add('logs:IngestedBytes', Buffer.byteLength(JSON.stringify({ message, ...attributes })) + LOG_LINE_OVERHEAD_BYTES);
      write(message, attributes);
    };
  return {
    // Debug lines are not sent at the default level: counting them would overstate the cost.
    debug: (message, attributes) => log.debug(message, attributes),
    info: counted((message, attributes) => log.info(message, attributes)),
    warn: counted((message, attributes) => log.warn(message, attributes)),
    error: counted((message, attributes) => log.error(message, attributes)),
  };
}
