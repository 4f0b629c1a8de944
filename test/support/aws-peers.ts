/**
 * Local stand-ins for S3, SQS and DynamoDB, started by a test on 127.0.0.1 and random ports:
 *
 * - S3: s3rver 3.7.1, in a child process. Its ListObjectsV2 continuation tokens are DES-encrypted, and DES lives
 *   in OpenSSL 3's legacy provider, which Node loads only when started with `--openssl-legacy-provider` (a flag
 *   that cannot be turned on in a running process, and that a vitest worker is not started with). The child is
 *   started with the flag; its S3 event notifications come back over the IPC channel.
 * - SQS: local-aws-sqs (JSON protocol), in process.
 * - DynamoDB: dynalite (in-memory LevelDB), in process, behind a front server that adds TransactWriteItems, which
 *   dynalite does not implement (see {@link startDynamoPeer}).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { CreateTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { CreateQueueCommand, GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { createSqsServer } from 'local-aws-sqs';
import { type AwsClients, createAwsClients } from '../../shared/aws/clients.js';
import { closeServer, listenOnLoopback } from '../fixtures/http-fixture.js';

const require = createRequire(import.meta.url);

/** Region the peers and their clients use. */
export const PEER_REGION = 'us-east-1';
/** s3rver knows one account; the other peers accept any key. */
export const PEER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

/** An S3 event notification as s3rver emits it (the shape S3 sends, keys not URL-encoded). */
export interface S3EventNotification {
  readonly Records: readonly {
    readonly eventName: string;
    readonly eventTime: string;
    readonly s3: {
      readonly bucket: { readonly name: string };
      readonly object: { readonly key: string; readonly size?: number; readonly eTag?: string };
    };
    readonly [field: string]: unknown;
  }[];
}

// ---------------------------------------------------------------------------------------------------------------
// S3

/** A running s3rver. */
export interface S3Peer {
  readonly endpoint: string;
  /** Emits `event` with each {@link S3EventNotification}. */
  readonly events: EventEmitter;
  stop(): Promise<void>;
}

/** The child: runs s3rver and reports its port and events over IPC. Plain CommonJS, run with `node -e`. */
const S3_CHILD = `
const S3rver = require(process.env.S3RVER_MODULE);
const server = new S3rver({
  address: '127.0.0.1', port: 0, silent: true, resetOnClose: true,
  directory: process.env.S3RVER_DIRECTORY,
});
server.on('event', (event) => process.send({ type: 'event', event }));
process.on('message', (message) => {
  if (message && message.type === 'stop') {
    server.httpServer.closeAllConnections();
    server.close().finally(() => process.exit(0));
  }
});
process.on('disconnect', () => process.exit(0));
server.run().then(
  (address) => process.send({ type: 'ready', port: address.port }),
  (error) => { process.send({ type: 'error', message: String(error && error.stack || error) }); process.exit(1); },
);
`;

/** Starts s3rver in a child process (see the module comment for why), storing objects in a temporary folder. */
export async function startS3Peer(): Promise<S3Peer> {
  const directory = await mkdtemp(join(tmpdir(), 's3rver-'));
  const child: ChildProcess = spawn(process.execPath, ['--openssl-legacy-provider', '-e', S3_CHILD], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, S3RVER_MODULE: require.resolve('s3rver'), S3RVER_DIRECTORY: directory },
  });
  const events = new EventEmitter();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('s3rver did not start within 15 s')), 15_000);
    child.on('message', (message: { type: string; port?: number; message?: string; event?: S3EventNotification }) => {
      if (message.type === 'ready' && message.port !== undefined) {
        clearTimeout(timer);
        resolve(message.port);
      } else if (message.type === 'error') {
        clearTimeout(timer);
        reject(new Error(`s3rver failed to start: ${message.message}`));
      } else if (message.type === 'event') {
        events.emit('event', message.event);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`s3rver exited with code ${code} before it was ready`));
    });
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    events,
    async stop() {
      if (child.exitCode === null && child.connected) {
        child.send({ type: 'stop' });
        const timer = setTimeout(() => child.kill(), 5_000);
        await exited;
        clearTimeout(timer);
      }
      events.removeAllListeners();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// SQS

/** A running local-aws-sqs. */
export interface SqsPeer {
  readonly endpoint: string;
  stop(): Promise<void>;
}

export async function startSqsPeer(): Promise<SqsPeer> {
  const server = await createSqsServer({ port: 0, hostname: '127.0.0.1', region: PEER_REGION });
  const port = (server.address() as AddressInfo).port;
  return { endpoint: `http://127.0.0.1:${port}`, stop: () => closeServer(server) };
}

/** A queue and its dead-letter queue. */
export interface PeerQueue {
  readonly name: string;
  readonly url: string;
  readonly arn: string;
  readonly deadLetter: { readonly name: string; readonly url: string; readonly arn: string };
}

/** Options of {@link createQueueWithDlq}. */
export interface PeerQueueOptions {
  /** @default 30 */
  readonly visibilityTimeoutSeconds?: number;
  /** Receives before a message moves to the dead-letter queue. @default 3 */
  readonly maxReceiveCount?: number;
}

/** Creates `<name>-dlq` and `<name>` with a RedrivePolicy to it. */
export async function createQueueWithDlq(client: SQSClient, name: string, options: PeerQueueOptions = {}): Promise<PeerQueue> {
  const arnOf = async (url: string) => {
    const output = await client.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }));
    const arn = output.Attributes?.QueueArn;
    if (!arn) throw new Error(`queue ${url} has no QueueArn`);
    return arn;
  };
  const dlqName = `${name}-dlq`;
  const dlqUrl = (await client.send(new CreateQueueCommand({ QueueName: dlqName }))).QueueUrl;
  if (!dlqUrl) throw new Error(`CreateQueue ${dlqName} returned no QueueUrl`);
  const dlqArn = await arnOf(dlqUrl);
  const url = (
    await client.send(
      new CreateQueueCommand({
        QueueName: name,
        Attributes: {
          VisibilityTimeout: String(options.visibilityTimeoutSeconds ?? 30),
          RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: options.maxReceiveCount ?? 3 }),
        },
      }),
    )
  ).QueueUrl;
  if (!url) throw new Error(`CreateQueue ${name} returned no QueueUrl`);
  return { name, url, arn: await arnOf(url), deadLetter: { name: dlqName, url: dlqUrl, arn: dlqArn } };
}

/** The approximate message counts of a queue, as SQS reports them. */
export interface QueueDepth {
  readonly visible: number;
  readonly inFlight: number;
  readonly delayed: number;
}

/** How many messages a queue holds: visible, in flight (received, not deleted) and delayed. */
export async function queueDepth(client: SQSClient, url: string): Promise<QueueDepth> {
  const output = await client.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: [
        'ApproximateNumberOfMessages',
        'ApproximateNumberOfMessagesNotVisible',
        'ApproximateNumberOfMessagesDelayed',
      ],
    }),
  );
  const attributes = output.Attributes ?? {};
  return {
    visible: Number(attributes.ApproximateNumberOfMessages ?? 0),
    inFlight: Number(attributes.ApproximateNumberOfMessagesNotVisible ?? 0),
    delayed: Number(attributes.ApproximateNumberOfMessagesDelayed ?? 0),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// DynamoDB

/** A running dynalite with TransactWriteItems. */
export interface DynamoPeer {
  readonly endpoint: string;
  /** Makes the next `count` TransactWriteItems calls fail with a `TransactionConflict` cancellation. */
  injectTransactionConflicts(count: number): void;
  /** Makes the next `count` UpdateItem calls fail with `TransactionConflictException` (a transaction holds the item). */
  injectUpdateConflicts(count: number): void;
  /** TransactWriteItems calls received, conflicts injected included. */
  readonly transactions: number;
  /** Requests received, by operation. */
  readonly operations: ReadonlyMap<string, number>;
  /**
   * Capacity units the requests consumed, as DynamoDB bills them (dynalite's item-size rules; see
   * {@link startDynamoPeer}): what a run would cost on a real table.
   */
  readonly capacity: { readonly readUnits: number; readonly writeUnits: number };
  stop(): Promise<void>;
}

type Json = Record<string, unknown>;
type AttributeMap = Record<string, Record<string, unknown>>;
type DynaliteFactory = (options: { createTableMs?: number; deleteTableMs?: number; updateTableMs?: number }) => Server;

/** Operations on one item, whose key is in `Key` (or, for PutItem, in `Item`). */
const ITEM_READS = new Set(['GetItem']);
const ITEM_WRITES = new Set(['PutItem', 'UpdateItem', 'DeleteItem']);
/** Operations that report the capacity they consumed when asked (`ReturnConsumedCapacity`). */
const CAPACITY_READS = new Set(['GetItem', 'BatchGetItem', 'Query', 'Scan']);
const CAPACITY_WRITES = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem']);

/** dynalite's capacity rule: units of an item, for a write (1 KB) or a read (4 KB, half when eventually consistent). */
type CapacityUnits = (item: AttributeMap | undefined, isRead: boolean, isConsistent?: boolean) => number;

/** The capacity units of an answer's `ConsumedCapacity` (one entry, or one per table). */
function consumedUnits(body: Json): number {
  const consumed = body.ConsumedCapacity as { CapacityUnits?: number } | { CapacityUnits?: number }[] | undefined;
  return (Array.isArray(consumed) ? consumed : consumed ? [consumed] : []).reduce(
    (sum, entry) => sum + (entry.CapacityUnits ?? 0),
    0,
  );
}

/** A readers-writer lock served in arrival order. */
class ReadWriteLock {
  #readers = 0;
  #writing = false;
  readonly #queue: { write: boolean; resolve: () => void }[] = [];

  /** True when nobody holds or waits for the lock. */
  get idle(): boolean {
    return this.#readers === 0 && !this.#writing && this.#queue.length === 0;
  }

  async acquire(write: boolean): Promise<() => void> {
    if (this.#queue.length === 0 && (write ? !this.#writing && this.#readers === 0 : !this.#writing)) {
      this.#take(write);
    } else {
      await new Promise<void>((resolve) => this.#queue.push({ write, resolve }));
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (write) this.#writing = false;
      else this.#readers--;
      this.#drain();
    };
  }

  #take(write: boolean): void {
    if (write) this.#writing = true;
    else this.#readers++;
  }

  #drain(): void {
    for (;;) {
      const next = this.#queue[0];
      if (!next || this.#writing || (next.write && this.#readers > 0)) return;
      this.#queue.shift();
      this.#take(next.write);
      next.resolve();
      if (next.write) return;
    }
  }
}

/** One readers-writer lock per item; a request locks its items in key order, so that no two requests deadlock. */
class ItemLocks {
  readonly #locks = new Map<string, ReadWriteLock>();

  async acquire(ids: readonly string[], write: boolean): Promise<() => void> {
    const releases: (() => void)[] = [];
    for (const id of [...new Set(ids)].sort()) {
      let lock = this.#locks.get(id);
      if (!lock) {
        lock = new ReadWriteLock();
        this.#locks.set(id, lock);
      }
      releases.push(await lock.acquire(write));
    }
    return () => {
      for (const release of releases.reverse()) release();
      for (const id of ids) if (this.#locks.get(id)?.idle) this.#locks.delete(id);
    };
  }
}

/** What dynalite answered. */
interface DynaliteAnswer {
  readonly status: number;
  readonly body: Json;
}

/**
 * Starts dynalite (in memory) behind a front server that adds TransactWriteItems, which dynalite does not
 * implement, and gives single-item operations DynamoDB's isolation from transactions.
 *
 * Every request goes through the front server, which locks the items it touches (GetItem shared; PutItem,
 * UpdateItem, DeleteItem and transactions exclusive) and hands it to dynalite's request handler in process. A transaction applies its
 * items one by one with their conditions, keeping each item's previous version (`ReturnValues: ALL_OLD`); if a
 * condition fails, the items written are put back as they were and the call is answered with DynamoDB's
 * TransactionCanceledException, one cancellation reason per item. GetItem never sees a half-applied transaction;
 * Query and Scan may, as in DynamoDB (read-committed). Put, Update and Delete items are supported;
 * ConditionCheck is not.
 */
export async function startDynamoPeer(): Promise<DynamoPeer> {
  const dynalite = require('dynalite') as DynaliteFactory;
  const capacityUnits = (require('dynalite/db/index.js') as { capacityUnits: CapacityUnits }).capacityUnits;
  const capacity = { readUnits: 0, writeUnits: 0 };
  const backend = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await listenOnLoopback(backend);
  const backendHandler = backend.listeners('request')[0] as (req: Readable, res: object) => void;
  const locks = new ItemLocks();
  const keySchemas = new Map<string, string[]>();
  const operations = new Map<string, number>();
  let conflictsToInject = 0;
  let updateConflictsToInject = 0;
  let transactions = 0;

  /**
   * Hands a request to dynalite's request handler in process (no second HTTP hop), with the headers the SDK would
   * send: dynalite checks that a signature is there, not what it is.
   */
  const callRaw = (operation: string, payload: string): Promise<{ status: number; text: string }> =>
    new Promise((resolve, reject) => {
      const date = new Date()
        .toISOString()
        .replace(/[-:]/g, '')
        .replace(/\.\d{3}/, '');
      const req = Object.assign(Readable.from([Buffer.from(payload, 'utf8')]), {
        method: 'POST',
        url: '/',
        headers: {
          'content-type': 'application/x-amz-json-1.0',
          'x-amz-target': `DynamoDB_20120810.${operation}`,
          'x-amz-date': date,
          authorization: `AWS4-HMAC-SHA256 Credential=peer/${date.slice(0, 8)}/${PEER_REGION}/dynamodb/aws4_request, SignedHeaders=host, Signature=peer`,
        },
      });
      const res = {
        statusCode: 200,
        contentType: 'application/x-amz-json-1.0',
        setHeader() {},
        end(body?: string | Buffer) {
          resolve({ status: this.statusCode, text: body === undefined ? '' : body.toString() });
        },
      };
      try {
        backendHandler(req, res);
      } catch (error) {
        reject(error);
      }
    });
  const call = async (operation: string, body: Json): Promise<DynaliteAnswer> => {
    const { status, text } = await callRaw(operation, JSON.stringify(body));
    return { status, body: text === '' ? {} : (JSON.parse(text) as Json) };
  };

  const keyAttributes = async (table: string): Promise<string[] | undefined> => {
    const known = keySchemas.get(table);
    if (known) return known;
    const answer = await call('DescribeTable', { TableName: table });
    if (answer.status !== 200) return undefined;
    const schema = ((answer.body.Table as Json).KeySchema as { AttributeName: string }[]).map((key) => key.AttributeName);
    keySchemas.set(table, schema);
    return schema;
  };
  /** The item a single-item request is about, as a lock id; `undefined` when it is malformed (dynalite says why). */
  const itemOf = async (
    kind: 'Update' | 'Put' | 'Delete' | 'Get',
    params: Json,
  ): Promise<{ id: string; key: AttributeMap; table: string } | undefined> => {
    const table = typeof params.TableName === 'string' ? params.TableName : undefined;
    const source = (kind === 'Put' ? params.Item : params.Key) as AttributeMap | undefined;
    if (!table || !source || typeof source !== 'object') return undefined;
    const schema = await keyAttributes(table);
    if (!schema) return undefined;
    const key = Object.fromEntries(schema.map((name) => [name, source[name] ?? {}]));
    return { id: JSON.stringify([table, ...schema.map((name) => source[name] ?? null)]), key, table };
  };

  /** An item as it is now (a consistent read that is not counted: the peer's own bookkeeping). */
  const currentItem = async (table: string, key: AttributeMap): Promise<AttributeMap | undefined> => {
    const current = await call('GetItem', { TableName: table, Key: key, ConsistentRead: true });
    return (current.body as { Item?: AttributeMap }).Item;
  };

  const validation = (message: string): DynaliteAnswer => ({
    status: 400,
    body: { __type: 'com.amazon.coral.validate#ValidationException', message },
  });

  const transact = async (request: Json): Promise<DynaliteAnswer> => {
    transactions++;
    const items = request.TransactItems as Json[] | undefined;
    if (!Array.isArray(items) || items.length === 0 || items.length > 100) {
      return validation('TransactItems must hold 1 to 100 items');
    }
    const writes: { kind: 'Update' | 'Put' | 'Delete'; params: Json; table: string; key: AttributeMap; id: string }[] = [];
    for (const item of items) {
      const kinds = Object.keys(item);
      const kind = kinds[0];
      if (kinds.length !== 1 || (kind !== 'Update' && kind !== 'Put' && kind !== 'Delete')) {
        return validation(`this emulation supports Put, Update and Delete items, got ${kinds.join(', ')}`);
      }
      const params = item[kind] as Json;
      const target = await itemOf(kind, params);
      if (!target) return validation(`a ${kind} item has no valid TableName and key`);
      if (writes.some((write) => write.id === target.id)) {
        return validation('Transaction request cannot include multiple operations on one item');
      }
      writes.push({ kind, params, ...target });
    }
    const release = await locks.acquire(
      writes.map((write) => write.id),
      true,
    );
    try {
      if (conflictsToInject > 0) {
        conflictsToInject--;
        capacity.writeUnits += 2 * writes.length;
        return cancelled(writes.map((_, index) => (index === 0 ? 'TransactionConflict' : 'None')));
      }
      const reasons: string[] = [];
      const applied: { index: number; previous: AttributeMap | undefined }[] = [];
      let failure: DynaliteAnswer | undefined;
      // Transactional writes cost twice the units of the writes they are made of (a failed condition: the item's size).
      let units = 0;
      for (const [index, write] of writes.entries()) {
        const { ReturnValuesOnConditionCheckFailure: _ignored, ...params } = write.params;
        const answer = await call(`${write.kind}Item`, { ...params, ReturnValues: 'ALL_OLD', ReturnConsumedCapacity: 'TOTAL' });
        if (answer.status === 200) {
          applied.push({ index, previous: answer.body.Attributes as AttributeMap | undefined });
          reasons.push('None');
          units += consumedUnits(answer.body);
        } else if (String(answer.body.__type).endsWith('#ConditionalCheckFailedException')) {
          reasons.push('ConditionalCheckFailed');
          units += capacityUnits(await currentItem(write.table, write.key), false);
        } else {
          failure = answer;
          break;
        }
      }
      if (!failure && reasons.every((reason) => reason === 'None')) {
        capacity.writeUnits += 2 * units;
        const table = writes[0]?.table;
        return { status: 200, body: { ConsumedCapacity: [{ TableName: table, CapacityUnits: 2 * units }] } };
      }
      for (const { index, previous } of applied.reverse()) {
        const write = writes[index];
        if (!write) continue;
        const undo = previous
          ? await call('PutItem', { TableName: write.table, Item: previous })
          : await call('DeleteItem', { TableName: write.table, Key: write.key });
        if (undo.status !== 200) throw new Error(`rolling back a transaction failed: ${JSON.stringify(undo.body)}`);
      }
      // What a cancelled transaction costs is not documented: the least it can have cost, two units an item.
      capacity.writeUnits += 2 * writes.length;
      return failure ?? cancelled(reasons);
    } finally {
      release();
    }
  };

  const handle = async (operation: string, request: string): Promise<{ status: number; text: string }> => {
    let text = request;
    let params: Json | undefined;
    try {
      params = JSON.parse(text) as Json;
    } catch {
      params = undefined;
    }
    if (operation === 'TransactWriteItems' && params) {
      const answer = await transact(params);
      return { status: answer.status, text: JSON.stringify(answer.body) };
    }
    // Every answer says what it consumed (the SDK parses it whether asked or not): the bench prices requests by it.
    if (params && (CAPACITY_READS.has(operation) || CAPACITY_WRITES.has(operation))) {
      params.ReturnConsumedCapacity = 'TOTAL';
      text = JSON.stringify(params);
    }
    const kind = operation.replace(/Item$/, '') as 'Update' | 'Put' | 'Delete' | 'Get';
    const target = params && (ITEM_READS.has(operation) || ITEM_WRITES.has(operation)) ? await itemOf(kind, params) : undefined;
    const release = target ? await locks.acquire([target.id], ITEM_WRITES.has(operation)) : () => {};
    try {
      if (operation === 'UpdateItem' && updateConflictsToInject > 0) {
        updateConflictsToInject--;
        const conflict = {
          __type: 'com.amazonaws.dynamodb.v20120810#TransactionConflictException',
          message: 'Transaction is ongoing for the item',
        };
        return { status: 400, text: JSON.stringify(conflict) };
      }
      const answer = await callRaw(operation, text);
      if (answer.status === 200 && (CAPACITY_READS.has(operation) || CAPACITY_WRITES.has(operation))) {
        const units = consumedUnits(JSON.parse(answer.text) as Json);
        if (CAPACITY_READS.has(operation)) capacity.readUnits += units;
        else capacity.writeUnits += units;
      }
      // A failed condition still consumes write units, by the size of the item as it is (at least one); DynamoDB
      // returns that item with the failure when asked (dynalite predates the parameter).
      if (target && params && answer.status === 400 && answer.text.includes('ConditionalCheckFailedException')) {
        const item = await currentItem(target.table, target.key);
        const units = capacityUnits(item, false);
        capacity.writeUnits += units;
        const returned = params.ReturnValuesOnConditionCheckFailure === 'ALL_OLD' && item ? { Item: item } : {};
        const consumed = { ConsumedCapacity: { TableName: target.table, CapacityUnits: units } };
        return { status: 400, text: JSON.stringify({ ...(JSON.parse(answer.text) as Json), ...returned, ...consumed }) };
      }
      return answer;
    } finally {
      release();
    }
  };

  const front = createServer((req, res) => {
    const operation = String(req.headers['x-amz-target'] ?? '').split('.')[1] ?? '';
    operations.set(operation, (operations.get(operation) ?? 0) + 1);
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      handle(operation, Buffer.concat(chunks).toString('utf8'))
        .catch((error: unknown) => ({
          status: 500,
          text: JSON.stringify({ __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError', message: String(error) }),
        }))
        .then(({ status, text }) => {
          res.writeHead(status, {
            'content-type': 'application/x-amz-json-1.0',
            'content-length': Buffer.byteLength(text),
            'x-amzn-requestid': `peer-${Date.now().toString(36)}`,
          });
          res.end(text);
        });
    });
  });
  const endpoint = await listenOnLoopback(front);
  return {
    endpoint,
    injectTransactionConflicts(count) {
      conflictsToInject = count;
    },
    injectUpdateConflicts(count) {
      updateConflictsToInject = count;
    },
    get transactions() {
      return transactions;
    },
    operations,
    capacity,
    async stop() {
      await closeServer(front);
      await closeServer(backend);
    },
  };
}

function cancelled(codes: readonly string[]): DynaliteAnswer {
  return {
    status: 400,
    body: {
      __type: 'com.amazonaws.dynamodb.v20120810#TransactionCanceledException',
      message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${codes.join(', ')}]`,
      CancellationReasons: codes.map((code) =>
        code === 'None'
          ? { Code: 'None' }
          : {
              Code: code,
              Message:
                code === 'ConditionalCheckFailed' ? 'The conditional request failed' : 'Transaction is ongoing for the item',
            },
      ),
    },
  };
}

/** Creates the state table: partition key `pk` (S), sort key `sk` (S), on demand. */
export async function createStateTable(client: DynamoDBClient, tableName: string): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName: tableName,
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
}

// ---------------------------------------------------------------------------------------------------------------
// All three

/** Options of {@link startAwsPeers}. */
export interface AwsPeersOptions {
  /** @default 'scrapeline-test' */
  readonly bucket?: string;
  /** @default 'scrapeline-state' */
  readonly tableName?: string;
  /** Queues to create, each with a `-dlq`. @default none */
  readonly queues?: Readonly<Record<string, PeerQueueOptions>>;
}

/** The three peers running, with clients and the resources created. */
export interface AwsPeers {
  readonly region: string;
  readonly credentials: typeof PEER_CREDENTIALS;
  readonly endpoints: { readonly s3: string; readonly sqs: string; readonly dynamodb: string };
  /** Clients for the peers (path-style S3, `WHEN_REQUIRED` checksums). */
  readonly clients: AwsClients;
  readonly bucket: string;
  readonly tableName: string;
  readonly queues: Readonly<Record<string, PeerQueue>>;
  /** s3rver's event notifications: `on('event', (event: S3EventNotification) => ...)`. */
  readonly s3Events: EventEmitter;
  readonly dynamo: Pick<
    DynamoPeer,
    'injectTransactionConflicts' | 'injectUpdateConflicts' | 'transactions' | 'operations' | 'capacity'
  >;
  /** Creates another queue with its dead-letter queue. */
  createQueue(name: string, options?: PeerQueueOptions): Promise<PeerQueue>;
  /**
   * The environment that points the SDK at the peers: `AWS_ENDPOINT_URL_*`, region, credentials and
   * `AWS_REQUEST_CHECKSUM_CALCULATION=WHEN_REQUIRED`.
   */
  sdkEnvironment(): Record<string, string>;
  /**
   * The environment the functions read at cold start, pointed at the peers: {@link sdkEnvironment}, the bucket and
   * the state table, metrics off, log level `ERROR`, service `scrapeline-test`; `settings` adds to it or overrides
   * it (the queue URLs a function sends to, its own settings).
   */
  functionEnvironment(settings: Readonly<Record<string, string>>): Record<string, string>;
  stop(): Promise<void>;
}

/** Starts s3rver, local-aws-sqs and dynalite, then creates the bucket, the queues and the state table. */
export async function startAwsPeers(options: AwsPeersOptions = {}): Promise<AwsPeers> {
  const [s3, sqs, dynamo] = await Promise.all([startS3Peer(), startSqsPeer(), startDynamoPeer()]);
  const endpoints = { s3: s3.endpoint, sqs: sqs.endpoint, dynamodb: dynamo.endpoint };
  const clients = createAwsClients({
    region: PEER_REGION,
    credentials: PEER_CREDENTIALS,
    endpoints,
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
  });
  const bucket = options.bucket ?? 'scrapeline-test';
  const tableName = options.tableName ?? 'scrapeline-state';
  const sdkEnvironment = () => ({
    AWS_REGION: PEER_REGION,
    AWS_ACCESS_KEY_ID: PEER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: PEER_CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT_URL_S3: endpoints.s3,
    AWS_ENDPOINT_URL_SQS: endpoints.sqs,
    AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb,
    AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
  });
  const stop = async () => {
    clients.destroy();
    await Promise.allSettled([s3.stop(), sqs.stop(), dynamo.stop()]);
  };
  try {
    await clients.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await createStateTable(clients.dynamodb, tableName);
    const queues: Record<string, PeerQueue> = {};
    for (const [name, queueOptions] of Object.entries(options.queues ?? {})) {
      queues[name] = await createQueueWithDlq(clients.sqs, name, queueOptions);
    }
    return {
      region: PEER_REGION,
      credentials: PEER_CREDENTIALS,
      endpoints,
      clients,
      bucket,
      tableName,
      queues,
      s3Events: s3.events,
      dynamo: {
        injectTransactionConflicts: (count) => dynamo.injectTransactionConflicts(count),
        injectUpdateConflicts: (count) => dynamo.injectUpdateConflicts(count),
        get transactions() {
          return dynamo.transactions;
        },
        operations: dynamo.operations,
        capacity: dynamo.capacity,
      },
      createQueue: (name, queueOptions) => createQueueWithDlq(clients.sqs, name, queueOptions),
      sdkEnvironment,
      functionEnvironment: (settings) => ({
        ...sdkEnvironment(),
        BUCKET_NAME: bucket,
        STATE_TABLE_NAME: tableName,
        POWERTOOLS_SERVICE_NAME: 'scrapeline-test',
        LOG_LEVEL: 'ERROR',
        POWERTOOLS_METRICS_DISABLED: 'true',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        ...settings,
      }),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
