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
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { CreateQueueCommand, GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { createSqsServer } from 'local-aws-sqs';
import { type AwsClients, createAwsClients } from '../../shared/aws/clients.js';

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

async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return (server.address() as AddressInfo).port;
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

// ---------------------------------------------------------------------------------------------------------------
// DynamoDB

/** A running dynalite with TransactWriteItems. */
export interface DynamoPeer {
  readonly endpoint: string;
  /** Makes the next `count` TransactWriteItems calls fail with a `TransactionConflict` cancellation. */
  injectTransactionConflicts(count: number): void;
  /** TransactWriteItems calls received, conflicts injected included. */
  readonly transactions: number;
  stop(): Promise<void>;
}

type Json = Record<string, unknown>;
type AttributeMap = Record<string, Record<string, unknown>>;
type DynaliteFactory = (options: { createTableMs?: number; deleteTableMs?: number; updateTableMs?: number }) => Server;

/** Operations that only read: they run concurrently; everything else runs alone. */
const READ_OPERATIONS = new Set([
  'GetItem',
  'BatchGetItem',
  'Query',
  'Scan',
  'DescribeTable',
  'ListTables',
  'DescribeTimeToLive',
]);

/** A readers-writer lock served in arrival order. */
class ReadWriteLock {
  #readers = 0;
  #writing = false;
  readonly #queue: { write: boolean; resolve: () => void }[] = [];

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

/** What an internal call to dynalite answered. */
interface DynaliteAnswer {
  readonly status: number;
  readonly body: Json;
}

/**
 * Starts dynalite (in memory) behind a front server. Requests other than TransactWriteItems go to dynalite's own
 * handler in process, reads concurrently and writes one at a time; TransactWriteItems is emulated with a
 * global write lock: each item's current version is read, the updates are applied one by one with their
 * conditions, and if any condition fails the items written so far are put back as they were and the call is
 * answered with DynamoDB's TransactionCanceledException and one cancellation reason per item. Readers never see
 * a half-applied transaction. Put, Update and Delete items are supported; ConditionCheck is not.
 */
export async function startDynamoPeer(): Promise<DynamoPeer> {
  const dynalite = require('dynalite') as DynaliteFactory;
  const backend = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  const backendPort = await listen(backend);
  const backendHandler = backend.listeners('request')[0] as (req: IncomingMessage, res: ServerResponse) => void;
  const lock = new ReadWriteLock();
  const keySchemas = new Map<string, string[]>();
  let conflictsToInject = 0;
  let transactions = 0;

  const call = (operation: string, body: Json): Promise<DynaliteAnswer> =>
    new Promise((resolve, reject) => {
      const payload = JSON.stringify(body);
      const date = new Date()
        .toISOString()
        .replace(/[-:]/g, '')
        .replace(/\.\d{3}/, '');
      const outgoing = request(
        {
          host: '127.0.0.1',
          port: backendPort,
          method: 'POST',
          path: '/',
          headers: {
            'content-type': 'application/x-amz-json-1.0',
            'content-length': Buffer.byteLength(payload),
            'x-amz-target': `DynamoDB_20120810.${operation}`,
            'x-amz-date': date,
            authorization: `AWS4-HMAC-SHA256 Credential=peer/${date.slice(0, 8)}/${PEER_REGION}/dynamodb/aws4_request, SignedHeaders=host, Signature=peer`,
          },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            resolve({ status: response.statusCode ?? 500, body: text === '' ? {} : (JSON.parse(text) as Json) });
          });
          response.on('error', reject);
        },
      );
      outgoing.on('error', reject);
      outgoing.end(payload);
    });

  const keyAttributes = async (table: string): Promise<string[]> => {
    const known = keySchemas.get(table);
    if (known) return known;
    const answer = await call('DescribeTable', { TableName: table });
    if (answer.status !== 200) throw Object.assign(new Error('DescribeTable failed'), { answer });
    const schema = ((answer.body.Table as Json).KeySchema as { AttributeName: string }[]).map((key) => key.AttributeName);
    keySchemas.set(table, schema);
    return schema;
  };

  const send = (res: ServerResponse, status: number, body: Json) => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/x-amz-json-1.0',
      'content-length': Buffer.byteLength(text),
      'x-amzn-requestid': `peer-${Date.now().toString(36)}`,
    });
    res.end(text);
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
    const operations: { kind: 'Update' | 'Put' | 'Delete'; params: Json; table: string; key: AttributeMap }[] = [];
    const seen = new Set<string>();
    for (const item of items) {
      const kinds = Object.keys(item);
      const kind = kinds[0];
      if (kinds.length !== 1 || (kind !== 'Update' && kind !== 'Put' && kind !== 'Delete')) {
        return validation(`this emulation supports Put, Update and Delete items, got ${kinds.join(', ')}`);
      }
      const params = item[kind] as Json;
      const table = String(params.TableName);
      const schema = await keyAttributes(table);
      const source = (kind === 'Put' ? params.Item : params.Key) as AttributeMap;
      const key = Object.fromEntries(schema.map((name) => [name, source[name] ?? {}]));
      const id = JSON.stringify([table, key]);
      if (seen.has(id)) return validation('Transaction request cannot include multiple operations on one item');
      seen.add(id);
      operations.push({ kind, params, table, key });
    }
    if (conflictsToInject > 0) {
      conflictsToInject--;
      return cancelled(operations.map((_, index) => (index === 0 ? 'TransactionConflict' : 'None')));
    }
    const before: (AttributeMap | undefined)[] = [];
    for (const operation of operations) {
      const answer = await call('GetItem', { TableName: operation.table, Key: operation.key, ConsistentRead: true });
      if (answer.status !== 200) return answer;
      before.push(answer.body.Item as AttributeMap | undefined);
    }
    const reasons: string[] = [];
    const applied: number[] = [];
    let failure: DynaliteAnswer | undefined;
    for (const [index, operation] of operations.entries()) {
      const params: Json = { ...operation.params };
      delete params.ReturnValuesOnConditionCheckFailure;
      const answer = await call(`${operation.kind}Item`, params);
      if (answer.status === 200) {
        applied.push(index);
        reasons.push('None');
      } else if (String(answer.body.__type).endsWith('#ConditionalCheckFailedException')) {
        reasons.push('ConditionalCheckFailed');
      } else {
        failure = answer;
        break;
      }
    }
    if (failure || reasons.some((reason) => reason !== 'None')) {
      for (const index of applied.reverse()) {
        const operation = operations[index];
        if (!operation) continue;
        const previous = before[index];
        const undo = previous
          ? await call('PutItem', { TableName: operation.table, Item: previous })
          : await call('DeleteItem', { TableName: operation.table, Key: operation.key });
        if (undo.status !== 200) throw new Error(`rolling back a transaction failed: ${JSON.stringify(undo.body)}`);
      }
      return failure ?? cancelled(reasons);
    }
    return { status: 200, body: {} };
  };

  const front = createServer((req, res) => {
    const operation = String(req.headers['x-amz-target'] ?? '').split('.')[1] ?? '';
    if (operation === 'TransactWriteItems') {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', async () => {
        const release = await lock.acquire(true);
        try {
          const answer = await transact(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Json);
          send(res, answer.status, answer.body);
        } catch (error) {
          send(res, 500, { __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError', message: String(error) });
        } finally {
          release();
        }
      });
      return;
    }
    void lock.acquire(!READ_OPERATIONS.has(operation)).then((release) => {
      res.once('close', release);
      backendHandler(req, res);
    });
  });
  const port = await listen(front);
  return {
    endpoint: `http://127.0.0.1:${port}`,
    injectTransactionConflicts(count) {
      conflictsToInject = count;
    },
    get transactions() {
      return transactions;
    },
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
  readonly dynamo: Pick<DynamoPeer, 'injectTransactionConflicts' | 'transactions'>;
  /** Creates another queue with its dead-letter queue. */
  createQueue(name: string, options?: PeerQueueOptions): Promise<PeerQueue>;
  /**
   * The environment that points the SDK at the peers: `AWS_ENDPOINT_URL_*`, region, credentials and
   * `AWS_REQUEST_CHECKSUM_CALCULATION=WHEN_REQUIRED`.
   */
  sdkEnvironment(): Record<string, string>;
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
        get transactions() {
          return dynamo.transactions;
        },
      },
      createQueue: (name, queueOptions) => createQueueWithDlq(clients.sqs, name, queueOptions),
      sdkEnvironment: () => ({
        AWS_REGION: PEER_REGION,
        AWS_ACCESS_KEY_ID: PEER_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: PEER_CREDENTIALS.secretAccessKey,
        AWS_ENDPOINT_URL_S3: endpoints.s3,
        AWS_ENDPOINT_URL_SQS: endpoints.sqs,
        AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb,
        AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
      }),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
