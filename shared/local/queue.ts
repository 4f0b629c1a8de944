import { randomUUID } from 'node:crypto';
import { RetryableError } from '../errors.js';
import type { Clock, OutgoingMessage, Queue } from '../ports.js';
import { systemClock } from '../ports.js';

/**
 * Messages were sent to a queue after {@link LocalQueue.close}; they would never be delivered. Retryable: the
 * work that produced them was not done, and succeeds again against an open queue.
 */
export class QueueClosedError extends RetryableError {
  override readonly name: string = 'QueueClosedError';
  constructor(
    readonly queue: string,
    readonly messages: number,
  ) {
    super(`queue ${queue} is closed: ${messages} message(s) not sent`, 'queue-closed');
  }
}

/** A message as a consumer receives it. */
export interface ReceivedMessage {
  readonly messageId: string;
  readonly receiptHandle: string;
  readonly body: string;
  /** How many times the message has been received, this time included. */
  readonly receiveCount: number;
  /** When the message was first sent (epoch ms). */
  readonly sentAt: number;
}

/** Options of {@link LocalQueue}. */
export interface LocalQueueOptions {
  /** Name, for messages and the dead-letter queue's source. */
  readonly name: string;
  /** How long a received message stays invisible before it is delivered again. @default 30000 */
  readonly visibilityTimeoutMs?: number;
  /** Receives after which a message moves to `deadLetterQueue` instead of being delivered. @default undefined (never) */
  readonly maxReceiveCount?: number;
  readonly deadLetterQueue?: LocalQueue;
  readonly clock?: Clock;
}

interface StoredMessage {
  readonly messageId: string;
  /** Emptied on delete: the visibility heap may hold a deleted message until its timeout, not its body. */
  body: string;
  readonly sentAt: number;
  receiveCount: number;
  /** Current receipt handle; a handle from an earlier receive no longer deletes the message. */
  receipt: string | undefined;
  visibleAt: number;
  /** Bumped on every visibility change, so that heap entries from before are recognised as stale. */
  version: number;
}

/** A message's place in the visibility heap: stale once the message is deleted or its `version` has moved on. */
interface VisibilityEntry {
  readonly at: number;
  readonly message: StoredMessage;
  readonly version: number;
}

/** A binary min-heap of messages by `visibleAt`. */
class VisibilityHeap {
  readonly #items: VisibilityEntry[] = [];

  push(message: StoredMessage): void {
    const items = this.#items;
    items.push({ at: message.visibleAt, message, version: message.version });
    let index = items.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      const a = items[index];
      const b = items[parent];
      if (!a || !b || b.at <= a.at) break;
      items[index] = b;
      items[parent] = a;
      index = parent;
    }
  }

  peekTime(): number | undefined {
    return this.#items[0]?.at;
  }

  pop(): VisibilityEntry | undefined {
    const items = this.#items;
    const top = items[0];
    const last = items.pop();
    if (!top || !last || items.length === 0) return top;
    items[0] = last;
    this.#siftDown(0);
    return top;
  }

  /** Drops the entries `keep` refuses and restores the heap order (Floyd's bottom-up build: linear). */
  compact(keep: (entry: VisibilityEntry) => boolean): void {
    const items = this.#items;
    let kept = 0;
    for (const entry of items) if (keep(entry)) items[kept++] = entry;
    items.length = kept;
    for (let start = (kept >> 1) - 1; start >= 0; start--) this.#siftDown(start);
  }

  #siftDown(from: number): void {
    const items = this.#items;
    let index = from;
    for (;;) {
      const left = index * 2 + 1;
      const right = left + 1;
      let smallest = index;
      if ((items[left]?.at ?? Number.POSITIVE_INFINITY) < (items[smallest]?.at ?? 0)) smallest = left;
      if ((items[right]?.at ?? Number.POSITIVE_INFINITY) < (items[smallest]?.at ?? 0)) smallest = right;
      if (smallest === index) return;
      const a = items[index];
      const b = items[smallest];
      if (!a || !b) return;
      items[index] = b;
      items[smallest] = a;
      index = smallest;
    }
  }

  get size(): number {
    return this.#items.length;
  }
}

/**
 * An in-process queue with the SQS semantics the pipeline relies on: at-least-once delivery in batches, a
 * visibility timeout after which an undeleted message is delivered again, a receive count, per-message delay,
 * and a dead-letter queue after `maxReceiveCount` receives.
 */
export class LocalQueue implements Queue {
  readonly name: string;
  readonly #visibilityTimeoutMs: number;
  readonly #maxReceiveCount: number | undefined;
  readonly #deadLetterQueue: LocalQueue | undefined;
  readonly #clock: Clock;
  readonly #messages = new Map<string, StoredMessage>();
  readonly #byReceipt = new Map<string, StoredMessage>();
  readonly #ready: StoredMessage[] = [];
  #readyHead = 0;
  readonly #pending = new VisibilityHeap();
  /**
   * Message ids are a random prefix of this queue and a sequence number: unique like SQS's, and a few bytes each
   * (a `randomUUID()` string is a tree of about twenty string pieces, and every received message stays in
   * {@link #pending} until its visibility timeout).
   */
  readonly #idPrefix = `${randomUUID()}-`;
  #sequence = 0;
  readonly #waiters = new Set<() => void>();
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Number.POSITIVE_INFINITY;
  #closed = false;

  constructor(options: LocalQueueOptions) {
    this.name = options.name;
    this.#visibilityTimeoutMs = options.visibilityTimeoutMs ?? 30_000;
    this.#maxReceiveCount = options.maxReceiveCount;
    this.#deadLetterQueue = options.deadLetterQueue;
    this.#clock = options.clock ?? systemClock;
    if (this.#maxReceiveCount !== undefined && !this.#deadLetterQueue) {
      throw new Error(`queue ${this.name}: maxReceiveCount needs a deadLetterQueue`);
    }
  }

  /**
   * Sends messages, each visible after its `delaySeconds`.
   *
   * @throws {QueueClosedError} after {@link close}: a message sent then would never be delivered
   */
  async send(messages: readonly OutgoingMessage[]): Promise<void> {
    if (this.#closed) throw new QueueClosedError(this.name, messages.length);
    const now = this.#clock.now();
    for (const outgoing of messages) {
      const delayMs = Math.max(0, (outgoing.delaySeconds ?? 0) * 1000);
      this.#enqueue({
        messageId: `${this.#idPrefix}${(++this.#sequence).toString(36)}`,
        body: outgoing.body,
        sentAt: now,
        receiveCount: 0,
        receipt: undefined,
        visibleAt: now + delayMs,
        version: 0,
      });
    }
    this.#wake();
  }

  #enqueue(message: StoredMessage): void {
    this.#messages.set(message.messageId, message);
    if (message.visibleAt <= this.#clock.now()) this.#ready.push(message);
    else {
      this.#wait(message);
      this.#schedule();
    }
  }

  /**
   * Holds a message until its `visibleAt`. Every receive adds an entry, and a message deleted a moment later leaves
   * its entry until the visibility timeout: at hundreds of messages a second that is tens of thousands of entries,
   * each keeping its message alive long enough to reach V8's old generation. So once the entries outnumber the
   * messages twice over, the stale ones go (linear, at most once per that many pushes).
   */
  #wait(message: StoredMessage): void {
    this.#pending.push(message);
    if (this.#pending.size > 2 * this.#messages.size + 1024) this.#pending.compact((entry) => this.#isCurrent(entry));
  }

  /** Whether a visibility entry still stands: its message is in the queue and not made visible or received since. */
  #isCurrent(entry: VisibilityEntry): boolean {
    return this.#messages.get(entry.message.messageId) === entry.message && entry.message.version === entry.version;
  }

  /** Moves messages whose delay or visibility timeout has passed back to the ready list. */
  #release(now: number): void {
    for (;;) {
      const at = this.#pending.peekTime();
      if (at === undefined || at > now) break;
      const entry = this.#pending.pop();
      if (!entry) break;
      const message = entry.message;
      // Deleted, or received again since this entry was pushed: stale.
      if (!this.#isCurrent(entry)) continue;
      if (message.receipt !== undefined) this.#byReceipt.delete(message.receipt);
      message.receipt = undefined;
      this.#ready.push(message);
    }
  }

  #schedule(): void {
    if (this.#closed) return;
    const at = this.#pending.peekTime();
    if (at === undefined || at >= this.#timerAt) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        this.#timerAt = Number.POSITIVE_INFINITY;
        this.#release(this.#clock.now());
        this.#schedule();
        this.#wake();
      },
      Math.max(0, at - this.#clock.now()),
    );
    this.#timer.unref();
  }

  #wake(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }

  #takeReady(): StoredMessage | undefined {
    while (this.#readyHead < this.#ready.length) {
      const message = this.#ready[this.#readyHead++];
      if (this.#readyHead > 1024 && this.#readyHead * 2 > this.#ready.length) {
        this.#ready.splice(0, this.#readyHead);
        this.#readyHead = 0;
      }
      if (message && this.#messages.get(message.messageId) === message && message.receipt === undefined) return message;
    }
    return undefined;
  }

  /**
   * Receives up to `max` visible messages (SQS allows 1–10), waiting up to `waitMs` for the first one
   * (long polling). Messages past `maxReceiveCount` move to the dead-letter queue instead. Once the queue is
   * closed, returns an empty batch at once, waiting receivers included.
   */
  async receive(max = 10, waitMs = 0): Promise<ReceivedMessage[]> {
    const deadline = this.#clock.now() + waitMs;
    for (;;) {
      if (this.#closed) return [];
      const now = this.#clock.now();
      this.#release(now);
      const received: ReceivedMessage[] = [];
      while (received.length < max) {
        const message = this.#takeReady();
        if (!message) break;
        if (this.#maxReceiveCount !== undefined && message.receiveCount >= this.#maxReceiveCount) {
          this.#messages.delete(message.messageId);
          await this.#deadLetterQueue?.send([{ body: message.body }]);
          continue;
        }
        message.receiveCount++;
        // Unique per receive: a handle from an earlier receive no longer matches.
        message.receipt = `${message.messageId}#${message.receiveCount}`;
        this.#byReceipt.set(message.receipt, message);
        message.visibleAt = now + this.#visibilityTimeoutMs;
        message.version++;
        this.#wait(message);
        received.push({
          messageId: message.messageId,
          receiptHandle: message.receipt,
          body: message.body,
          receiveCount: message.receiveCount,
          sentAt: message.sentAt,
        });
      }
      if (received.length > 0) {
        this.#schedule();
        return received;
      }
      const remaining = deadline - this.#clock.now();
      if (remaining <= 0) return [];
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.#waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, remaining);
        this.#waiters.add(done);
      });
    }
  }

  /** The message a receipt handle currently stands for; `undefined` for a stale or unknown handle. */
  #received(receiptHandle: string): StoredMessage | undefined {
    const message = this.#byReceipt.get(receiptHandle);
    if (message?.receipt === receiptHandle && this.#messages.get(message.messageId) === message) return message;
    this.#byReceipt.delete(receiptHandle);
    return undefined;
  }

  /** Deletes a received message. A stale receipt handle (the message was delivered again since) is ignored. */
  async delete(receiptHandle: string): Promise<void> {
    const message = this.#received(receiptHandle);
    if (!message) return;
    this.#messages.delete(message.messageId);
    this.#byReceipt.delete(receiptHandle);
    message.body = '';
  }

  /** Deletes received messages by receipt handle. */
  async deleteBatch(receiptHandles: readonly string[]): Promise<void> {
    for (const handle of receiptHandles) await this.delete(handle);
  }

  /** Changes how long a received message stays invisible, from now (0 makes it visible at once). */
  async changeVisibility(receiptHandle: string, timeoutMs: number): Promise<void> {
    const message = this.#received(receiptHandle);
    if (!message) return;
    message.visibleAt = this.#clock.now() + timeoutMs;
    message.version++;
    if (timeoutMs <= 0) {
      this.#byReceipt.delete(receiptHandle);
      message.receipt = undefined;
      this.#ready.push(message);
      this.#wake();
    } else {
      this.#wait(message);
      this.#schedule();
    }
  }

  /** Messages in the queue: visible now, in flight (received, not deleted), or delayed. */
  counts(): { total: number; visible: number; notVisible: number } {
    const now = this.#clock.now();
    let visible = 0;
    for (const message of this.#messages.values()) if (message.receipt === undefined && message.visibleAt <= now) visible++;
    return { total: this.#messages.size, visible, notVisible: this.#messages.size - visible };
  }

  /** Messages in the queue, whatever their visibility. */
  get size(): number {
    return this.#messages.size;
  }

  /**
   * Visibility entries held (current and stale), for diagnostics: stays within about twice {@link size} plus 1,024
   * however many messages went through the queue.
   */
  get visibilityEntries(): number {
    return this.#pending.size;
  }

  /**
   * Closes the queue for good: stops timers, and every receive (waiting or later) returns an empty batch at once;
   * a later send throws {@link QueueClosedError}. Idempotent.
   */
  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timerAt = Number.POSITIVE_INFINITY;
    this.#timer = undefined;
    this.#wake();
  }
}
