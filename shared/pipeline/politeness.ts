import { RetryableError } from '../errors.js';
import {
  type Clock,
  type GateCall,
  type HostGate,
  type HostLimits,
  type StateCondition,
  type StateItem,
  type StateStore,
  type StateWrite,
  systemClock,
  type TryWriteResult,
} from '../ports.js';

interface HostSlot {
  active: number;
  waiting: (() => void)[];
  /** When the last request actually started, and the earliest the next may start (a 429/503 pushes it back). */
  lastStart: number;
  notBefore: number;
  /** Starts happen one after another, each after the previous one has really started (or was handed back). */
  starts: Promise<unknown>;
}

/**
 * A gate for one process: a semaphore per host, and starts spaced from the previous request's actual start (not a
 * booked slot), so a late timer on a busy event loop can never bring two requests closer than `minDelayMs`.
 */
export class InProcessHostGate implements HostGate {
  readonly #hosts = new Map<string, HostSlot>();
  readonly #clock: Clock;
  readonly #maxWaitMs: number;

  /**
   * @param clock what the gate reads the time from and waits on, so that spacing is measured and kept in one clock
   *   (a test's manual clock, the runtime's). @default systemClock
   * @param options.maxWaitMs a host slowed down (429/503) for longer than this defers the request with
   *   {@link PolitenessDeferral} instead of holding it (and its queue message) that long. @default no limit
   */
  constructor(clock: Clock = systemClock, options: { maxWaitMs?: number } = {}) {
    this.#clock = clock;
    this.#maxWaitMs = options.maxWaitMs ?? Number.POSITIVE_INFINITY;
  }

  #slot(host: string): HostSlot {
    let slot = this.#hosts.get(host);
    if (!slot) {
      slot = { active: 0, waiting: [], lastStart: Number.NEGATIVE_INFINITY, notBefore: 0, starts: Promise.resolve() };
      this.#hosts.set(host, slot);
    }
    return slot;
  }

  async acquire(host: string, limits: HostLimits): Promise<() => void> {
    const slot = this.#slot(host);
    const slowedFor = slot.notBefore - this.#clock.now();
    if (slowedFor > this.#maxWaitMs) throw new PolitenessDeferral(host, slowedFor);
    if (slot.active >= limits.concurrency || slot.waiting.length > 0) {
      // The releasing request hands its slot over: `active` stays as it is.
      await new Promise<void>((resolve) => slot.waiting.push(resolve));
    } else {
      slot.active++;
    }
    // A request in flight may slow the host down (429/503) while this one waits for its slot or its start: a pause
    // past maxWaitMs is handed back then too, not slept out (that would hold the task's message, and every later
    // start queued behind this one, for the whole pause).
    const started = slot.starts.then(async () => {
      for (;;) {
        const now = this.#clock.now();
        const slowedFor = slot.notBefore - now;
        if (slowedFor > this.#maxWaitMs) return slowedFor;
        const wait = Math.max(slot.lastStart + limits.minDelayMs, slot.notBefore) - now;
        if (wait <= 0) break;
        await this.#clock.sleep(wait);
      }
      slot.lastStart = this.#clock.now();
      return 0;
    });
    slot.starts = started;
    const deferredFor = await started;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      const next = slot.waiting.shift();
      if (next) {
        next();
        return;
      }
      slot.active--;
    };
    if (deferredFor > 0) {
      release();
      throw new PolitenessDeferral(host, deferredFor);
    }
    return release;
  }

  async slowDown(host: string, untilMs: number): Promise<void> {
    const slot = this.#slot(host);
    slot.notBefore = Math.max(slot.notBefore, untilMs);
  }

  /** The earliest a request to `host` may start after {@link slowDown} (epoch ms), 0 when it was never slowed. */
  notBefore(host: string): number {
    return this.#hosts.get(host)?.notBefore ?? 0;
  }
}

/**
 * Thrown by a gate when the wait for a host would be long: the caller puts its task back on the queue with this
 * delay instead of sleeping (a Lambda function must not wait minutes for a slot). With `slotAt`, the gate booked a
 * start for the task at that time (epoch ms): the task goes back carrying it, to arrive shortly before it (see
 * {@link SLOT_LEAD_MS}) and start then without booking again.
 */
export class PolitenessDeferral extends RetryableError {
  override readonly name = 'PolitenessDeferral';
  constructor(
    readonly host: string,
    readonly delayMs: number,
    readonly slotAt?: number,
  ) {
    super(`host ${host} is busy or asked to slow down: try again in ${delayMs} ms`, 'politeness-deferred', {
      retryAfterMs: delayMs,
    });
  }
}

/**
 * How long before its booked start a handed-back task is sent to arrive: the fetch queue gathers a batch for up to
 * 5 s (cdk/stack.ts) and delays are whole seconds, so a task sent to be visible this much earlier is delivered before
 * its start, and waits for it in process.
 */
export const SLOT_LEAD_MS = 6_000;

/** Options of {@link StateHostGate}. */
export interface StateHostGateOptions {
  /** The writer's clock: every booking is made in the clock of the process that writes it. */
  readonly clock: Clock;
  /**
   * Longest in-process wait for a booked start; a longer one is handed back as a {@link PolitenessDeferral} (the
   * task goes back to the queue with that delay) and books nothing. @default 2000
   */
  readonly maxWaitMs?: number;
  /**
   * The most fetcher processes that can run at once (the fetch queue's maximum concurrency). Known, it lets a host
   * with `minDelayMs` 0 and `concurrency` ≥ `fleetSize` go without any state request: each process takes
   * `floor(concurrency / fleetSize)` of the host's slots. @default undefined (unknown: each process takes them all)
   */
  readonly fleetSize?: number;
  /** Conditional writes one acquire makes at most before it defers. @default 6 */
  readonly maxAttempts?: number;
  /**
   * How far ahead a start may be booked for a task handed back to the queue (it then carries it); a host booked
   * further ahead hands tasks back without a start, to book when they return. At most the SQS delay limit (15 min).
   * @default 600000
   */
  readonly horizonMs?: number;
  /** Random source for the jitter of retries after a deferral. @default Math.random */
  readonly random?: () => number;
}

/** What a process last learned of a host's booking. */
interface Seen {
  /** The host's `next` as last written or seen. */
  readonly next: number;
  /** After a host was found booked beyond the horizon: no new attempt before this time (epoch ms). */
  readonly retryAt: number;
}

/** A maximum that follows a higher sample at once and a lower one by 1/8 of the gap: a cautious estimate. */
function decayingMax(previous: number, sample: number): number {
  return sample >= previous ? sample : previous - (previous - sample) / 8;
}

/** `count` starts `slot` apart from `first`: what one booking took. */
function startsFrom(first: number, count: number, slot: number): number[] {
  return Array.from({ length: count }, (_, index) => first + index * slot);
}

/** Hosts whose booking this process remembers (a bound on memory, not on correctness). */
const REMEMBERED_HOSTS = 10_000;
/** How long a host's gate item outlives its last write (DynamoDB TTL). */
const GATE_ITEM_TTL_S = 86_400;
/**
 * How late a carried start may still be used: the lateness of a timer that woke for it (an inline wait for a booked
 * start is as late). Later, it is left as a gap and the request booked again.
 */
const CARRIED_START_LATENESS_MS = 50;
/** Starts one write books at most (for the requests of this process waiting for the host). */
const MAX_STARTS_PER_BOOKING = 128;

/**
 * Politeness for a whole fleet of fetchers by booked start slots. Per host, one state item holds `next`, the
 * earliest time (in the writer's clock) the next request may start. A process books with ONE conditional write
 * and no read, for the request at hand and for every request of this process waiting for the host (the caller says
 * how many wait behind it: {@link GateCall.queued}), so a host costs about one write per batch of tasks:
 *
 * - the host is idle (`next` is past): `SET next = now + n × slot` if `next <= now`;
 * - the host is booked ahead: `ADD next n × slot` if `next` is within the horizon (10 min);
 * - a failed condition returns the item as it is (`tryWrite`), which says which case holds; a host booked beyond
 *   the horizon hands the request back ({@link PolitenessDeferral}, no start) and books nothing.
 *
 * The starts booked are handed out to the process's requests in order: one within `maxWaitMs` is waited for in
 * process; a later one is handed back with the task (`slotAt`), which returns from the queue just before it
 * ({@link SLOT_LEAD_MS}) and starts then without another write ({@link GateCall.slotAt}). So the fleet's requests to
 * a host form one line: a process with a hundred tasks for a polite host books them all at once and waits only for
 * the first few, the others wait in the queue (free) rather than in a fetcher billed for waiting, and a second
 * process's tasks are booked after the first's rather than competing with them. A start not used in time (its task
 * late, failed, or gone) is left as a gap, never used late (that would bring it closer to the next).
 *
 * Releasing writes nothing: the slot is a length of time, `slot = max(minDelayMs, ceil(duration / concurrency))`
 * where `duration` is how long this process's requests to the host take (a decaying maximum), so starts at least
 * `slot` apart keep at most `concurrency` requests in flight whenever a request takes no longer than that (Little's
 * law, held per start), and a crashed fetcher holds nothing but the starts it booked.
 * In process, a semaphore caps the host's requests exactly, so only that many contend through the store.
 *
 * A host with `minDelayMs` 0 is not booked: the job asked for no spacing, and one write per page would be most of
 * the cost of a fetch-bound crawl. Its cap is held by the in-process semaphore, with each process taking
 * `floor(concurrency / fleetSize)` when {@link StateHostGateOptions.fleetSize} is known (then exact fleet-wide),
 * else `concurrency` (fleet-wide at most `concurrency` × the fetchers running). A 429/503 (`slowDown`) still pushes
 * `next` back in the store for every booked host, and the process that saw it holds the host back itself and drops
 * the starts it had booked; starts other processes booked before it (within the horizon) are kept (known limit).
 */
export class StateHostGate implements HostGate {
  readonly #state: StateStore;
  readonly #clock: Clock;
  readonly #maxWaitMs: number;
  readonly #horizonMs: number;
  readonly #fleetSize: number | undefined;
  readonly #maxAttempts: number;
  readonly #local: InProcessHostGate;
  /** What this process last learned of each host's booking. */
  readonly #seen = new Map<string, Seen>();
  /** Starts this process booked and has not handed out yet, per host, in order. */
  readonly #reserved = new Map<string, number[]>();
  /** Requests of this process still to be given a start, per booked host (waiting, booking). */
  readonly #pending = new Map<string, number>();
  /** The booking in progress per host (one at a time per process). */
  readonly #booking = new Map<string, Promise<void>>();
  readonly #random: () => number;
  /** How long a conditional write takes: a decaying maximum. */
  #writeLatencyMs = 0;
  /** How long this process's requests to a host take: a maximum that decays by 1/8 of the gap per request. */
  readonly #durations = new Map<string, number>();

  constructor(state: StateStore, options: StateHostGateOptions) {
    const problems: string[] = [];
    const { maxWaitMs = 2000, fleetSize, maxAttempts = 6, horizonMs = 600_000 } = options;
    if (!(maxWaitMs >= 0)) problems.push(`maxWaitMs must be >= 0, got ${maxWaitMs}`);
    if (fleetSize !== undefined && !(Number.isInteger(fleetSize) && fleetSize >= 1))
      problems.push(`fleetSize must be a positive integer, got ${fleetSize}`);
    if (!(Number.isInteger(maxAttempts) && maxAttempts >= 2))
      problems.push(`maxAttempts must be an integer >= 2, got ${maxAttempts}`);
    if (!(horizonMs >= maxWaitMs && horizonMs <= 900_000))
      problems.push(`horizonMs must be from maxWaitMs to 900000 (the SQS delay limit), got ${horizonMs}`);
    if (problems.length > 0) throw new RangeError(`invalid StateHostGate options: ${problems.join('; ')}`);
    this.#state = state;
    this.#clock = options.clock;
    this.#maxWaitMs = maxWaitMs;
    this.#horizonMs = horizonMs;
    this.#fleetSize = fleetSize;
    this.#maxAttempts = maxAttempts;
    this.#random = options.random ?? Math.random;
    this.#local = new InProcessHostGate(this.#clock, { maxWaitMs });
  }

  async acquire(host: string, limits: HostLimits, call?: GateCall): Promise<() => void> {
    const booked = limits.minDelayMs > 0;
    const state = call?.state ?? this.#state;
    const share =
      booked || this.#fleetSize === undefined
        ? limits.concurrency
        : Math.max(1, Math.floor(limits.concurrency / this.#fleetSize));
    // A start booked earlier (carried by the task): waited for outside the semaphore, used if it is still ahead.
    let slotAt = booked ? call?.slotAt : undefined;
    if (slotAt !== undefined) {
      const wait = slotAt - this.#clock.now();
      if (wait > this.#maxWaitMs + SLOT_LEAD_MS) throw new PolitenessDeferral(host, wait, slotAt);
      if (wait > 0) await this.#clock.sleep(wait);
    }
    // Counted among the requests this process books for until it has a start.
    let pending = false;
    const pend = () => {
      pending = true;
      this.#pending.set(host, (this.#pending.get(host) ?? 0) + 1);
    };
    const unpend = () => {
      if (!pending) return;
      pending = false;
      const left = (this.#pending.get(host) ?? 1) - 1;
      if (left > 0) this.#pending.set(host, left);
      else this.#pending.delete(host);
    };
    if (booked && slotAt === undefined) pend();
    let releaseLocal: (() => void) | undefined;
    try {
      releaseLocal = await this.#local.acquire(host, { concurrency: share, minDelayMs: 0 });
      // The carried start passed (beyond a timer's lateness) while the task travelled or the semaphore was busy, or a
      // 429/503 came since: booked again.
      const late = slotAt === undefined ? 0 : this.#clock.now() - slotAt;
      if (slotAt !== undefined && (late > CARRIED_START_LATENESS_MS || this.#local.notBefore(host) > slotAt)) {
        slotAt = undefined;
        pend();
      }
      if (booked && slotAt === undefined) await this.#startBooked(host, limits, state, call?.queued ?? 0, unpend);
    } catch (error) {
      releaseLocal?.();
      throw error;
    } finally {
      unpend();
    }
    const startedAt = this.#clock.now();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (booked) this.#observe(host, this.#clock.now() - startedAt);
      releaseLocal();
    };
  }

  async slowDown(host: string, untilMs: number, call?: GateCall): Promise<void> {
    await this.#local.slowDown(host, untilMs);
    // Starts booked before the pause would break it.
    this.#reserved.delete(host);
    const state = call?.state ?? this.#state;
    for (let attempt = 0; attempt < this.#maxAttempts; attempt++) {
      const pushBack = { kind: 'lessThan', attribute: 'next', value: untilMs } as const;
      const result = await this.#write(state, host, { set: { next: untilMs } }, pushBack);
      if (result.ok) return this.#remember(host, untilMs);
      const next = this.#nextOf(result.current);
      if (next !== undefined) return this.#remember(host, next);
      const created = await this.#write(state, host, { set: { next: untilMs } }, { kind: 'absent' });
      if (created.ok) return this.#remember(host, untilMs);
    }
  }

  /**
   * Takes a booked start and waits for it when it is within `maxWaitMs`; hands a later one back with the task
   * ({@link PolitenessDeferral} with `slotAt`), or the task alone when the host is booked beyond the horizon.
   */
  async #startBooked(
    host: string,
    limits: HostLimits,
    state: StateStore,
    queued: number,
    /** Called once this request has its start: it no longer counts among the requests to book for. */
    booked: () => void,
  ): Promise<void> {
    const slot = Math.max(limits.minDelayMs, Math.ceil((this.#durations.get(host) ?? 0) / limits.concurrency));
    const start = await this.#book(state, host, slot, queued);
    booked();
    // A 429/503 seen by this process after the booking: the start is given up, `next` is already past the pause.
    const paused = this.#local.notBefore(host) - this.#clock.now();
    if (paused > 0 && this.#local.notBefore(host) > start) throw new PolitenessDeferral(host, paused);
    const wait = start - this.#clock.now();
    if (wait > this.#maxWaitMs) throw new PolitenessDeferral(host, wait, start);
    if (wait > 0) await this.#clock.sleep(wait);
  }

  /** Takes one start; the bookings of one process for one host go one after another, each with what the last saw. */
  #book(state: StateStore, host: string, slot: number, queued: number): Promise<number> {
    const booking = (this.#booking.get(host) ?? Promise.resolve()).then(() => this.#bookNow(state, host, slot, queued));
    const settled = booking.then(
      () => {},
      () => {},
    );
    this.#booking.set(host, settled);
    void settled.then(() => {
      if (this.#booking.get(host) === settled) this.#booking.delete(host);
    });
    return booking;
  }

  /** Hands out the first of `starts` (in order) not yet passed, keeping the rest for this process's next requests. */
  #handOut(host: string, starts: readonly number[], now: number): number | undefined {
    const usable = starts.filter((start) => start >= now);
    const first = usable.shift();
    if (usable.length > 0) this.#reserved.set(host, usable);
    else this.#reserved.delete(host);
    return first;
  }

  async #bookNow(state: StateStore, host: string, slot: number, queued: number): Promise<number> {
    for (let attempt = 0; attempt < this.#maxAttempts; attempt++) {
      const now = this.#clock.now();
      const reserved = this.#handOut(host, this.#reserved.get(host) ?? [], now);
      if (reserved !== undefined) return reserved;
      const seen = this.#seen.get(host);
      if (seen !== undefined && now < seen.retryAt) throw new PolitenessDeferral(host, Math.max(seen.next - now, 1));
      // Starts for this request and every request of this process still waiting for the host.
      const count = Math.min((this.#pending.get(host) ?? 1) + queued, MAX_STARTS_PER_BOOKING);
      if (seen === undefined || seen.next <= now) {
        // The host looks idle: start as soon as the write is through (the start is booked a write's latency ahead,
        // so that it is not already past when the write returns) if nobody has booked past that.
        const start = now + Math.ceil(this.#writeLatencyMs);
        const change = { set: { next: start + count * slot } };
        const idle = { kind: 'lessThan', attribute: 'next', value: start + 1 } as const;
        let result = await this.#write(state, host, change, idle);
        if (!result.ok && this.#nextOf(result.current) === undefined)
          result = await this.#write(state, host, change, { kind: 'absent' });
        if (result.ok) {
          this.#remember(host, start + count * slot);
          return this.#handOut(host, startsFrom(start, count, slot), start) ?? start;
        }
        const next = this.#nextOf(result.current);
        if (next === undefined) this.#seen.delete(host);
        else this.#remember(host, next);
        continue;
      }
      if (seen.next - now > this.#horizonMs) {
        // Booked beyond the horizon: this process asks again only once the line has moved on, each process at a
        // different moment, so that the fleet's deferred tasks do not all race for the next free start.
        const jitter = this.#random() * Math.min(this.#horizonMs * 0.1, slot * 8);
        this.#remember(host, seen.next, seen.next - this.#horizonMs + jitter);
        throw new PolitenessDeferral(host, seen.next - this.#horizonMs - now);
      }
      // The host is booked ahead: take the starts after the last one booked, if that is within the horizon.
      const within = { kind: 'lessThan', attribute: 'next', value: now + this.#horizonMs + 1 } as const;
      const result = await this.#write(state, host, { add: { next: count * slot } }, within);
      const next = this.#nextOf(result.ok ? result.item : result.current);
      if (next === undefined) {
        this.#seen.delete(host);
        continue;
      }
      this.#remember(host, next);
      if (!result.ok) continue;
      // Starts that began before this request looked at the clock are unusable (a successor may start within `slot`
      // of now): they are left as gaps, and the next attempt books as the host is now.
      const start = this.#handOut(host, startsFrom(next - count * slot, count, slot), this.#clock.now());
      if (start !== undefined) return start;
    }
    throw new PolitenessDeferral(host, Math.max(slot, 1));
  }

  async #write(
    state: StateStore,
    host: string,
    change: Pick<StateWrite, 'set' | 'add'>,
    condition: StateCondition,
  ): Promise<TryWriteResult> {
    const sentAt = this.#clock.now();
    const expiresAt = Math.ceil(sentAt / 1000) + GATE_ITEM_TTL_S;
    const result = await state.tryWrite({ pk: `host#${host}`, sk: 'gate', ...change, condition, expiresAt });
    this.#writeLatencyMs = decayingMax(this.#writeLatencyMs, this.#clock.now() - sentAt);
    return result;
  }

  #nextOf(item: StateItem | undefined): number | undefined {
    const next = item?.next;
    return typeof next === 'number' ? next : undefined;
  }

  #remember(host: string, next: number, retryAt = 0): void {
    this.#seen.delete(host);
    this.#seen.set(host, { next, retryAt });
    if (this.#seen.size > REMEMBERED_HOSTS) this.#seen.delete(this.#seen.keys().next().value as string);
  }

  #observe(host: string, durationMs: number): void {
    const previous = this.#durations.get(host) ?? 0;
    this.#durations.delete(host);
    this.#durations.set(host, decayingMax(previous, durationMs));
    if (this.#durations.size > REMEMBERED_HOSTS) this.#durations.delete(this.#durations.keys().next().value as string);
  }
}
