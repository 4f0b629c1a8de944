import { describe, expect, it } from 'vitest';
import { LocalQueue, QueueClosedError } from '../../../shared/local/queue.js';
import { ManualClock } from '../../fixtures/clock.js';

function bodies(count: number, prefix = 'm'): { body: string }[] {
  return Array.from({ length: count }, (_, index) => ({ body: `${prefix}${index}` }));
}

function manualQueue(options: { visibilityTimeoutMs?: number; maxReceiveCount?: number } = {}) {
  const clock = new ManualClock();
  const dlq = new LocalQueue({ name: 'dlq', clock });
  const queue = new LocalQueue({
    name: 'work',
    clock,
    visibilityTimeoutMs: options.visibilityTimeoutMs ?? 1000,
    ...(options.maxReceiveCount === undefined ? {} : { maxReceiveCount: options.maxReceiveCount, deadLetterQueue: dlq }),
  });
  return { clock, queue, dlq };
}

describe('Class: LocalQueue', () => {
  describe('Method: receive', () => {
    it('delivers a sent message once, with its id, body, receive count and send time', async () => {
      // Prepare
      const { clock, queue } = manualQueue();
      await queue.send([{ body: 'hello' }]);

      // Act
      const [first, ...rest] = await queue.receive();

      // Assess
      expect(rest).toEqual([]);
      expect(first).toMatchObject({ body: 'hello', receiveCount: 1, sentAt: clock.now() });
      expect(first?.messageId).toEqual(expect.any(String));
      expect(first?.receiptHandle).toEqual(expect.any(String));
      await expect(queue.receive()).resolves.toEqual([]);
    });

    it('gives every message an id of its own, across queues, and every receive a handle of its own', async () => {
      // Prepare
      const { clock, queue } = manualQueue({ visibilityTimeoutMs: 100 });
      const other = new LocalQueue({ name: 'work', clock });
      await queue.send(bodies(3));
      await other.send(bodies(3));

      // Act
      const first = [...(await queue.receive()), ...(await other.receive())];
      clock.advance(100);
      const again = await queue.receive();

      // Assess
      expect(new Set(first.map((message) => message.messageId)).size).toBe(6);
      const ids = (messages: typeof first) => messages.map((message) => message.messageId).sort();
      expect(ids(again)).toEqual(ids(first.slice(0, 3)));
      const handles = [...first, ...again].map((message) => message.receiptHandle);
      expect(new Set(handles).size).toBe(9);
    });

    it('delivers batches of at most max messages, ten by default', async () => {
      // Prepare
      const { queue } = manualQueue();
      await queue.send(bodies(25));

      // Act
      const sizes = [(await queue.receive()).length, (await queue.receive(7)).length, (await queue.receive(10)).length];

      // Assess
      expect(sizes).toEqual([10, 7, 8]);
    });

    it('delivers ready messages in the order they were sent', async () => {
      // Prepare
      const { queue } = manualQueue();
      await queue.send(bodies(5));
      await queue.send([{ body: 'late' }]);

      // Act
      const received = [...(await queue.receive(3)), ...(await queue.receive(10))];

      // Assess
      expect(received.map((message) => message.body)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'late']);
    });

    it('returns an empty batch at once when nothing is visible and waitMs is 0', async () => {
      // Prepare
      const queue = new LocalQueue({ name: 'q' });
      const started = Date.now();

      // Act
      const received = await queue.receive(10, 0);

      // Assess
      expect(received).toEqual([]);
      expect(Date.now() - started).toBeLessThan(200);
    });
  });

  describe('Visibility timeout', () => {
    it('keeps a received message invisible until its visibility timeout, then delivers it again', async () => {
      // Prepare
      const { clock, queue } = manualQueue({ visibilityTimeoutMs: 1000 });
      await queue.send([{ body: 'x' }]);
      const [first] = await queue.receive();

      // Act
      clock.advance(999);
      const early = await queue.receive();
      clock.advance(1);
      const [again] = await queue.receive();

      // Assess
      expect(early).toEqual([]);
      expect(again).toMatchObject({ messageId: first?.messageId, body: 'x', receiveCount: 2, sentAt: first?.sentAt });
      expect(again?.receiptHandle).not.toBe(first?.receiptHandle);
    });

    it('redelivers with real timers after a short timeout', async () => {
      // Prepare
      const queue = new LocalQueue({ name: 'q', visibilityTimeoutMs: 30 });
      await queue.send([{ body: 'x' }]);
      await queue.receive();

      // Act
      const again = await queue.receive(10, 1000);

      // Assess
      expect(again.map((message) => message.receiveCount)).toEqual([2]);
    });

    it('counts every receive of a message that is never deleted', async () => {
      // Prepare
      const { clock, queue } = manualQueue({ visibilityTimeoutMs: 100 });
      await queue.send([{ body: 'x' }]);

      // Act
      const counts: number[] = [];
      for (let attempt = 0; attempt < 5; attempt++) {
        counts.push(...(await queue.receive()).map((message) => message.receiveCount));
        clock.advance(100);
      }

      // Assess
      expect(counts).toEqual([1, 2, 3, 4, 5]);
    });
  });

  describe('Method: delete', () => {
    it('removes a received message for good', async () => {
      // Prepare
      const { clock, queue } = manualQueue();
      await queue.send([{ body: 'x' }]);
      const [message] = await queue.receive();

      // Act
      await queue.delete(message?.receiptHandle ?? '');
      clock.advance(10_000);

      // Assess
      await expect(queue.receive()).resolves.toEqual([]);
      expect(queue.size).toBe(0);
    });

    it('ignores a stale receipt handle from before a redelivery', async () => {
      // Prepare
      const { clock, queue } = manualQueue({ visibilityTimeoutMs: 100 });
      await queue.send([{ body: 'x' }]);
      const [first] = await queue.receive();
      clock.advance(100);
      const [second] = await queue.receive();

      // Act
      await queue.delete(first?.receiptHandle ?? '');
      clock.advance(100);
      const [third] = await queue.receive();
      await queue.delete(third?.receiptHandle ?? '');

      // Assess
      expect(second?.receiveCount).toBe(2);
      expect(third).toMatchObject({ messageId: first?.messageId, receiveCount: 3 });
      expect(queue.size).toBe(0);
    });

    it('ignores an unknown receipt handle and a second delete', async () => {
      // Prepare
      const { queue } = manualQueue();
      await queue.send(bodies(2));
      const [message] = await queue.receive(1);

      // Act
      await queue.delete('not-a-handle');
      await queue.delete(message?.receiptHandle ?? '');
      await queue.delete(message?.receiptHandle ?? '');

      // Assess
      expect(queue.size).toBe(1);
    });

    it('deletes a batch of receipt handles', async () => {
      // Prepare
      const { clock, queue } = manualQueue();
      await queue.send(bodies(4));
      const received = await queue.receive(4);

      // Act
      await queue.deleteBatch(received.slice(0, 3).map((message) => message.receiptHandle));
      clock.advance(1000);

      // Assess
      expect((await queue.receive()).map((message) => message.body)).toEqual(['m3']);
    });
  });

  describe('Method: changeVisibility', () => {
    it('makes a message visible at once with 0', async () => {
      // Prepare
      const { queue } = manualQueue({ visibilityTimeoutMs: 60_000 });
      await queue.send([{ body: 'x' }]);
      const [first] = await queue.receive();

      // Act
      await queue.changeVisibility(first?.receiptHandle ?? '', 0);
      const [again] = await queue.receive();

      // Assess
      expect(again).toMatchObject({ body: 'x', receiveCount: 2 });
    });

    it('wakes a long-polling receiver when a message is made visible', async () => {
      // Prepare
      const queue = new LocalQueue({ name: 'q', visibilityTimeoutMs: 60_000 });
      await queue.send([{ body: 'x' }]);
      const [first] = await queue.receive();
      const waiting = queue.receive(10, 2000);
      const started = Date.now();

      // Act
      await queue.changeVisibility(first?.receiptHandle ?? '', 0);
      const received = await waiting;

      // Assess
      expect(received.map((message) => message.receiveCount)).toEqual([2]);
      expect(Date.now() - started).toBeLessThan(500);
    });

    it('extends the timeout from now', async () => {
      // Prepare
      const { clock, queue } = manualQueue({ visibilityTimeoutMs: 100 });
      await queue.send([{ body: 'x' }]);
      const [first] = await queue.receive();
      clock.advance(50);

      // Act
      await queue.changeVisibility(first?.receiptHandle ?? '', 500);
      clock.advance(100);
      const early = await queue.receive();
      clock.advance(400);
      const later = await queue.receive();

      // Assess
      expect(early).toEqual([]);
      expect(later.map((message) => message.receiveCount)).toEqual([2]);
    });

    it('shortens the timeout from now', async () => {
      // Prepare
      const { clock, queue } = manualQueue({ visibilityTimeoutMs: 10_000 });
      await queue.send([{ body: 'x' }]);
      const [first] = await queue.receive();

      // Act
      await queue.changeVisibility(first?.receiptHandle ?? '', 200);
      clock.advance(200);

      // Assess
      expect((await queue.receive()).map((message) => message.receiveCount)).toEqual([2]);
    });

    it('ignores a stale receipt handle', async () => {
      // Prepare
      const { clock, queue } = manualQueue({ visibilityTimeoutMs: 100 });
      await queue.send([{ body: 'x' }]);
      const [first] = await queue.receive();
      clock.advance(100);
      await queue.receive();

      // Act
      await queue.changeVisibility(first?.receiptHandle ?? '', 0);

      // Assess
      await expect(queue.receive()).resolves.toEqual([]);
    });
  });

  describe('Delay', () => {
    it('keeps a delayed message invisible for delaySeconds', async () => {
      // Prepare
      const { clock, queue } = manualQueue();
      await queue.send([{ body: 'later', delaySeconds: 5 }, { body: 'now' }]);

      // Act
      const first = await queue.receive();
      await queue.deleteBatch(first.map((message) => message.receiptHandle));
      clock.advance(4999);
      const early = await queue.receive();
      clock.advance(1);
      const due = await queue.receive();

      // Assess
      expect(first.map((message) => message.body)).toEqual(['now']);
      expect(early).toEqual([]);
      expect(due.map((message) => message.body)).toEqual(['later']);
    });

    it('counts delayed messages as not visible', async () => {
      // Prepare
      const { queue } = manualQueue();
      await queue.send([{ body: 'a', delaySeconds: 1 }, { body: 'b' }, { body: 'c' }]);
      await queue.receive(1);

      // Act
      const counts = queue.counts();

      // Assess
      expect(counts).toEqual({ total: 3, visible: 1, notVisible: 2 });
    });

    it('delivers a delayed message to a long-polling receiver with real timers', async () => {
      // Prepare
      const queue = new LocalQueue({ name: 'q' });
      await queue.send([{ body: 'soon', delaySeconds: 0.03 }]);
      const started = Date.now();

      // Act
      const received = await queue.receive(10, 2000);

      // Assess
      expect(received.map((message) => message.body)).toEqual(['soon']);
      expect(Date.now() - started).toBeGreaterThanOrEqual(25);
      expect(Date.now() - started).toBeLessThan(1000);
    });
  });

  describe('Dead-letter queue', () => {
    it('moves a message to the dead-letter queue after maxReceiveCount receives', async () => {
      // Prepare
      const { clock, queue, dlq } = manualQueue({ visibilityTimeoutMs: 100, maxReceiveCount: 3 });
      await queue.send([{ body: 'poison' }, { body: 'fine' }]);

      // Act
      const counts: number[] = [];
      for (let attempt = 0; attempt < 4; attempt++) {
        for (const message of await queue.receive()) {
          if (message.body === 'fine') await queue.delete(message.receiptHandle);
          else counts.push(message.receiveCount);
        }
        clock.advance(100);
      }

      // Assess
      expect(counts).toEqual([1, 2, 3]);
      expect(queue.size).toBe(0);
      expect((await dlq.receive()).map((message) => ({ body: message.body, receiveCount: message.receiveCount }))).toEqual([
        { body: 'poison', receiveCount: 1 },
      ]);
    });

    it('refuses maxReceiveCount without a dead-letter queue', () => {
      // Act & Assess
      expect(() => new LocalQueue({ name: 'work', maxReceiveCount: 3 })).toThrow(
        'queue work: maxReceiveCount needs a deadLetterQueue',
      );
    });
  });

  describe('Long polling', () => {
    it('returns as soon as a message arrives', async () => {
      // Prepare
      const queue = new LocalQueue({ name: 'q' });
      const started = Date.now();
      const waiting = queue.receive(10, 5000);

      // Act
      setTimeout(() => void queue.send([{ body: 'arrived' }]), 20);
      const received = await waiting;

      // Assess
      expect(received.map((message) => message.body)).toEqual(['arrived']);
      expect(Date.now() - started).toBeLessThan(1000);
    });

    it('returns an empty batch after waitMs when nothing arrives', async () => {
      // Prepare
      const queue = new LocalQueue({ name: 'q' });
      const started = Date.now();

      // Act
      const received = await queue.receive(10, 50);

      // Assess
      expect(received).toEqual([]);
      expect(Date.now() - started).toBeGreaterThanOrEqual(45);
      expect(Date.now() - started).toBeLessThan(1000);
    });

    it('gives one message to one of several waiting receivers', async () => {
      // Prepare
      const queue = new LocalQueue({ name: 'q' });
      const waiting = [queue.receive(10, 80), queue.receive(10, 80), queue.receive(10, 80)];

      // Act
      await queue.send([{ body: 'only' }]);
      const results = await Promise.all(waiting);

      // Assess
      expect(results.flat().map((message) => message.body)).toEqual(['only']);
    });

    it('makes waiting receivers return empty on close', async () => {
      // Prepare
      const queue = new LocalQueue({ name: 'q' });
      const waiting = queue.receive(10, 600);
      const started = Date.now();

      // Act
      queue.close();
      const received = await waiting;

      // Assess
      expect(received).toEqual([]);
      expect(Date.now() - started).toBeLessThan(300);
    });

    it('stays closed: a later receive returns empty at once, and a send is refused', async () => {
      // Prepare
      const queue = new LocalQueue({ name: 'q' });
      await queue.send([{ body: 'before' }]);
      queue.close();
      const started = Date.now();

      // Act
      const received = await queue.receive(10, 600);
      const sending = queue.send([{ body: 'after' }]);

      // Assess
      expect(received).toEqual([]);
      expect(Date.now() - started).toBeLessThan(300);
      await expect(sending).rejects.toThrow(QueueClosedError);
      await expect(sending).rejects.toMatchObject({ queue: 'q', messages: 1, retryable: true });
    });
  });

  describe('Scale', () => {
    it('sends, receives and deletes 10,000 messages quickly and in order', async () => {
      // Prepare
      const queue = new LocalQueue({ name: 'q' });
      const started = performance.now();
      await queue.send(bodies(10_000));

      // Act
      const seen: string[] = [];
      for (;;) {
        const batch = await queue.receive(10);
        if (batch.length === 0) break;
        for (const message of batch) seen.push(message.body);
        await queue.deleteBatch(batch.map((message) => message.receiptHandle));
      }

      // Assess
      expect(seen).toHaveLength(10_000);
      expect(seen.slice(0, 3)).toEqual(['m0', 'm1', 'm2']);
      expect(seen.at(-1)).toBe('m9999');
      expect(queue.size).toBe(0);
      expect(performance.now() - started).toBeLessThan(2000);
    });

    it('redelivers 10,000 expired messages quickly', async () => {
      // Prepare
      const { clock, queue } = manualQueue({ visibilityTimeoutMs: 100 });
      await queue.send(bodies(10_000));
      for (let index = 0; index < 1000; index++) await queue.receive(10);
      clock.advance(100);
      const started = performance.now();

      // Act
      let redelivered = 0;
      for (;;) {
        const batch = await queue.receive(10);
        if (batch.length === 0) break;
        redelivered += batch.filter((message) => message.receiveCount === 2).length;
      }

      // Assess
      expect(redelivered).toBe(10_000);
      expect(performance.now() - started).toBeLessThan(2000);
    });

    it('lets go of deleted messages long before their visibility timeout, and still redelivers the others', async () => {
      // Prepare: 20,000 messages received and deleted within the timeout, every 100th left in flight
      const { clock, queue } = manualQueue({ visibilityTimeoutMs: 30_000 });
      await queue.send(bodies(20_000));
      let beyondBound = 0;

      // Act
      for (;;) {
        const batch = await queue.receive(10);
        if (batch.length === 0) break;
        const done = batch.filter((message) => Number(message.body.slice(1)) % 100 !== 0);
        await queue.deleteBatch(done.map((message) => message.receiptHandle));
        if (queue.visibilityEntries > 2 * queue.size + 1024 + 10) beyondBound++;
      }
      const entriesAfterDrain = queue.visibilityEntries;
      clock.advance(30_000);
      const redelivered: string[] = [];
      for (;;) {
        const batch = await queue.receive(10);
        if (batch.length === 0) break;
        redelivered.push(...batch.map((message) => message.body));
      }

      // Assess
      expect(beyondBound).toBe(0);
      expect(queue.size).toBe(200);
      expect(entriesAfterDrain).toBeLessThanOrEqual(2 * 200 + 1024);
      const keptInFlight = Array.from({ length: 200 }, (_, index) => `m${index * 100}`);
      expect(redelivered.sort()).toEqual(keptInFlight.sort());
    });

    it('takes time linear in the number of messages (20,000 vs 5,000)', async () => {
      // Prepare
      const drain = async (count: number) => {
        const queue = new LocalQueue({ name: 'q' });
        const started = performance.now();
        for (let index = 0; index < count; index += 10) await queue.send(bodies(10));
        for (;;) {
          const batch = await queue.receive(10);
          if (batch.length === 0) break;
          await queue.deleteBatch(batch.map((message) => message.receiptHandle));
        }
        return performance.now() - started;
      };
      await drain(1000);

      // Act
      const small = await drain(5000);
      const large = await drain(20_000);

      // Assess
      expect(large).toBeLessThan(Math.max(small, 5) * 12);
    });
  });
});
