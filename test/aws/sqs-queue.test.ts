import {
  type Message,
  ReceiveMessageCommand,
  type SendMessageBatchCommandInput,
  type SendMessageBatchCommandOutput,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MessageTooLargeError, SqsSendError, SqsSenderFaultError } from '../../shared/aws/errors.js';
import { SqsQueue } from '../../shared/aws/sqs-queue.js';
import { type AwsPeers, startAwsPeers } from '../support/aws-peers.js';

const KiB = 1024;

/** A client of its own, with a record of the SendMessageBatch requests it made (entry ids and body bytes). */
function recordingClient(peers: AwsPeers) {
  const client = new SQSClient({ region: peers.region, endpoint: peers.endpoints.sqs, credentials: peers.credentials });
  const requests: { ids: string[]; bytes: number }[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'SendMessageBatchCommand') {
        const entries = (args.input as SendMessageBatchCommandInput).Entries ?? [];
        requests.push({
          ids: entries.map((entry) => entry.Id ?? ''),
          bytes: entries.reduce((sum, entry) => sum + Buffer.byteLength(entry.MessageBody ?? ''), 0),
        });
      }
      return next(args);
    },
    { step: 'initialize', name: 'recordRequests' },
  );
  return { client, requests };
}

/**
 * Makes SQS report entries as failed without sending them, as it does under a partial outage: `failures(id)` says
 * how the entry fails on this request, or `undefined` to let it through.
 */
function failEntries(client: SQSClient, failure: (id: string) => { code: string; senderFault: boolean } | undefined): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName !== 'SendMessageBatchCommand') return next(args);
      const input = args.input as SendMessageBatchCommandInput;
      const entries = input.Entries ?? [];
      const failed = entries.flatMap((entry) => {
        const how = failure(entry.Id ?? '');
        return how ? [{ Id: entry.Id, Code: how.code, SenderFault: how.senderFault, Message: 'injected' }] : [];
      });
      const kept = entries.filter((entry) => !failed.some((item) => item.Id === entry.Id));
      const result =
        kept.length > 0
          ? await next({ ...args, input: { ...input, Entries: kept } })
          : { output: { Successful: [], Failed: [], $metadata: {} } satisfies SendMessageBatchCommandOutput, response: {} };
      const output = result.output as SendMessageBatchCommandOutput;
      output.Failed = [...(output.Failed ?? []), ...failed];
      return result;
    },
    { step: 'initialize', name: 'failEntries' },
  );
}

async function receiveAll(peers: AwsPeers, queueUrl: string, expected: number, timeoutMs = 5000): Promise<Message[]> {
  const received: Message[] = [];
  const deadline = Date.now() + timeoutMs;
  while (received.length < expected && Date.now() < deadline) {
    const output = await peers.clients.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, AttributeNames: ['All'] }),
    );
    received.push(...(output.Messages ?? []));
  }
  return received;
}

describe('Class: SqsQueue', () => {
  let peers: AwsPeers;
  let counter = 0;
  /** A fresh queue per test, so that no test sees another's messages. */
  const freshQueue = async () => (await peers.createQueue(`queue-${++counter}`)).url;

  beforeAll(async () => {
    peers = await startAwsPeers();
  });
  afterAll(async () => {
    await peers?.stop();
  });

  describe('Method: send', () => {
    it('sends 25 messages in 3 requests of at most 10, in order', async () => {
      // Prepare
      const queueUrl = await freshQueue();
      const { client, requests } = recordingClient(peers);
      const queue = new SqsQueue({ client, queueUrl, concurrency: 1 });
      const bodies = Array.from({ length: 25 }, (_, index) => JSON.stringify({ index }));

      // Act
      await queue.send(bodies.map((body) => ({ body })));

      // Assess
      expect(requests.map((request) => request.ids.length)).toEqual([10, 10, 5]);
      expect(requests.flatMap((request) => request.ids)).toEqual(bodies.map((_, index) => `msg-${index}`));
      const received = await receiveAll(peers, queueUrl, 25);
      expect(received.map((message) => message.Body).sort()).toEqual([...bodies].sort());
      client.destroy();
    });

    it('splits a request that would pass 256 KiB (200 KiB + 100 KiB → two requests)', async () => {
      const queueUrl = await freshQueue();
      const { client, requests } = recordingClient(peers);
      const queue = new SqsQueue({ client, queueUrl });

      await queue.send([{ body: 'a'.repeat(200 * KiB) }, { body: 'b'.repeat(100 * KiB) }]);

      expect(requests.map((request) => request.bytes).sort((a, b) => b - a)).toEqual([200 * KiB, 100 * KiB]);
      const received = await receiveAll(peers, queueUrl, 2);
      expect(received.map((message) => message.Body?.length).sort()).toEqual([100 * KiB, 200 * KiB].sort());
      client.destroy();
    });

    it('packs small messages up to the byte limit exactly', async () => {
      const queueUrl = await freshQueue();
      const { client, requests } = recordingClient(peers);
      const queue = new SqsQueue({ client, queueUrl, concurrency: 1 });

      // 4 × 64 KiB = 256 KiB exactly: one request; the fifth opens the next.
      await queue.send(Array.from({ length: 5 }, () => ({ body: 'x'.repeat(64 * KiB) })));

      expect(requests.map((request) => request.ids.length)).toEqual([4, 1]);
      client.destroy();
    });

    it('refuses a message over 256 KiB, naming its size, and sends nothing', async () => {
      const queueUrl = await freshQueue();
      const { client, requests } = recordingClient(peers);
      const queue = new SqsQueue({ client, queueUrl });
      const size = 256 * KiB + 1;

      const sending = queue.send([{ body: 'ok' }, { body: 'é'.repeat(Math.ceil(size / 2)) }]);

      await expect(sending).rejects.toBeInstanceOf(MessageTooLargeError);
      await expect(sending).rejects.toThrow(`message 1 is ${2 * Math.ceil(size / 2)} bytes, over the SQS limit of 262144 bytes`);
      expect(requests).toEqual([]);
      client.destroy();
    });

    it('delays a message by its delaySeconds', async () => {
      const queueUrl = await freshQueue();
      const queue = new SqsQueue({ client: peers.clients.sqs, queueUrl });
      const sentAt = Date.now();

      await queue.send([{ body: 'later', delaySeconds: 2 }, { body: 'now' }]);

      const first = await peers.clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10 }));
      expect(first.Messages?.map((message) => message.Body)).toEqual(['now']);
      const later = await receiveAll(peers, queueUrl, 1, 5000);
      expect(later.map((message) => message.Body)).toEqual(['later']);
      expect(Date.now() - sentAt).toBeGreaterThanOrEqual(1900);
    });

    it('refuses a delay outside 0–900 s', async () => {
      const queue = new SqsQueue({ client: peers.clients.sqs, queueUrl: await freshQueue() });
      await expect(queue.send([{ body: 'x', delaySeconds: 901 }])).rejects.toThrow(
        /delaySeconds must be an integer from 0 to 900, got 901/,
      );
    });

    it('sends again the entries SQS reports as failed, and only those', async () => {
      // Prepare: msg-3 and msg-7 fail twice, then go through
      const queueUrl = await freshQueue();
      const { client, requests } = recordingClient(peers);
      const attempts = new Map<string, number>();
      failEntries(client, (id) => {
        const count = (attempts.get(id) ?? 0) + 1;
        attempts.set(id, count);
        return (id === 'msg-3' || id === 'msg-7') && count <= 2 ? { code: 'ServiceUnavailable', senderFault: false } : undefined;
      });
      const queue = new SqsQueue({ client, queueUrl, retryBaseMs: 1 });

      // Act
      await queue.send(Array.from({ length: 10 }, (_, index) => ({ body: `m${index}` })));

      // Assess
      expect(requests.map((request) => request.ids)).toEqual([
        Array.from({ length: 10 }, (_, index) => `msg-${index}`),
        ['msg-3', 'msg-7'],
        ['msg-3', 'msg-7'],
      ]);
      expect((await receiveAll(peers, queueUrl, 10)).length).toBe(10);
      client.destroy();
    });

    it('throws a retryable error naming the ids that kept failing', async () => {
      const queueUrl = await freshQueue();
      const { client, requests } = recordingClient(peers);
      failEntries(client, (id) => (id === 'msg-1' ? { code: 'InternalError', senderFault: false } : undefined));
      const queue = new SqsQueue({ client, queueUrl, retryBaseMs: 1, maxAttempts: 3 });

      const sending = queue.send([{ body: 'a' }, { body: 'b' }, { body: 'c' }]);

      await expect(sending).rejects.toBeInstanceOf(SqsSendError);
      await expect(sending).rejects.toMatchObject({ retryable: true, failedIds: ['msg-1'], reason: 'sqs-send-failed' });
      await expect(sending).rejects.toThrow(/after 3 attempts: msg-1 \(InternalError: injected\)/);
      expect(requests.length).toBe(3);
      client.destroy();
    });

    it('does not retry entries refused as malformed (sender fault)', async () => {
      const queueUrl = await freshQueue();
      const { client, requests } = recordingClient(peers);
      failEntries(client, (id) => (id === 'msg-0' ? { code: 'InvalidMessageContents', senderFault: true } : undefined));
      const queue = new SqsQueue({ client, queueUrl, retryBaseMs: 1 });

      const sending = queue.send([{ body: 'a' }, { body: 'b' }]);

      await expect(sending).rejects.toBeInstanceOf(SqsSenderFaultError);
      await expect(sending).rejects.toMatchObject({ retryable: false, failedIds: ['msg-0'] });
      expect(requests.length).toBe(1);
      client.destroy();
    });

    it('sends nothing for an empty list', async () => {
      const { client, requests } = recordingClient(peers);
      await new SqsQueue({ client, queueUrl: await freshQueue() }).send([]);
      expect(requests).toEqual([]);
      client.destroy();
    });
  });

  describe('Constructor', () => {
    it('names every invalid option', () => {
      expect(() => new SqsQueue({ client: peers.clients.sqs, queueUrl: '', maxAttempts: 0, maxBatchBytes: 1.5 })).toThrow(
        'invalid SqsQueue options: maxBatchBytes must be a positive integer, got 1.5; maxAttempts must be a positive integer, got 0; queueUrl must not be empty',
      );
    });
  });
});
