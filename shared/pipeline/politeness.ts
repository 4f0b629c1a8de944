import { RetryableError } from '../errors.js';
import {
  type Clock,
  type GateBilling,
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
 * delay instead of sleeping (a Lambda function must not wait minutes for a slot).
 */
export class PolitenessDeferral extends RetryableError {
  override readonly name = 'PolitenessDeferral';
  constructor(
    readonly host: string,
    readonly delayMs: number,
  ) {
    super(`host ${host} is busy or asked to slow down: try again in ${delayMs} ms`, 'politeness-deferred', {
      retryAfterMs: delayMs,
    });
  }
}

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
  /** Random source for the jitter of retries after a deferral. @default Math.random */
  readonly random?: () => number;
}

/** What a process last learned of a host's booking. */
interface Seen {
  /** The host's `next` as last written or seen. */
  readonly next: number;
  /** The last look found the host booked ahead: the next acquire adds to the booking rather than starting now. */
  readonly busy: boolean;
  /** After a booking past `maxWaitMs`: no new attempt before this time (epoch ms). */
  readonly retryAt: number;
}

/** A maximum that follows a higher sample at once and a lower one by 1/8 of the gap: a cautious estimate. */
function decayingMax(previous: number, sample: number): number {
  return sample >= previous ? sample : previous - (previous - sample) / 8;
}

/** Hosts whose booking this process remembers (a bound on memory, not on correctness). */
const REMEMBERED_HOSTS = 10_000;
/** How long a host's gate item outlives its last write (DynamoDB TTL). */
const GATE_ITEM_TTL_S = 86_400;

/**
 * Politeness for a whole fleet of fetchers by booked start slots: per host, one state item holds `next`, the
 * earliest time (in the writer's clock) the next request may start. An acquire books a start with ONE conditional
 * write and reads nothing:
 *
 * - the host looks idle (`next` is past): `SET next = now + slot` if `next <= now`, and the request starts now;
 * - the host looks busy (`next` is ahead): `ADD next slot` if `next <= now + maxWaitMs`, and the request starts at
 *   the old `next` (the write returns the new one), after a short in-process wait;
 * - a failed condition returns the item as it is (`tryWrite`), which says which case holds or how long the wait
 *   would be; a wait beyond `maxWaitMs` books nothing and throws {@link PolitenessDeferral} with that delay.
 *
 * Which case to try first comes from the last `next` this process saw, so a guess costs a second write only when
 * the host changed between busy and idle. A host this process already knows to be booked beyond `maxWaitMs` defers
 * with no request at all (`next` only grows). Releasing writes nothing: the slot is a length of time, `slot =
 * max(minDelayMs, ceil(duration / concurrency))` where `duration` is how long this process's requests to the host
 * take (a decaying maximum), so starts at least `slot` apart keep at most `concurrency` requests in flight whenever
 * a request takes no longer than that (Little's law, held per start), and a crashed fetcher holds nothing.
 * In process, a semaphore caps the host's requests exactly, so only that many contend through the store.
 *
 * A host with `minDelayMs` 0 is not booked: the job asked for no spacing, and one write per page would be most of
 * the cost of a fetch-bound crawl. Its cap is held by the in-process semaphore, with each process taking
 * `floor(concurrency / fleetSize)` when {@link StateHostGateOptions.fleetSize} is known (then exact fleet-wide),
 * else `concurrency` (fleet-wide at most `concurrency` × the fetchers running). A 429/503 (`slowDown`) still pushes
 * `next` back in the store for every booked host, and the process that saw it holds the host back itself.
 */
export class StateHostGate implements HostGate {
  readonly #state: StateStore;
  readonly #clock: Clock;
  readonly #maxWaitMs: number;
  readonly #fleetSize: number | undefined;
  readonly #maxAttempts: number;
  readonly #local: InProcessHostGate;
  /** What this process last learned of each host's booking. */
  readonly #seen = new Map<string, Seen>();
  /** The booking in progress per host (one at a time per process). */
  readonly #booking = new Map<string, Promise<void>>();
  readonly #random: () => number;
  /** How long a conditional write takes: a decaying maximum. */
  #writeLatencyMs = 0;
  /** How long this process's requests to a host take: a maximum that decays by 1/8 of the gap per request. */
  readonly #durations = new Map<string, number>();

  constructor(state: StateStore, options: StateHostGateOptions) {
    const problems: string[] = [];
    const { maxWaitMs = 2000, fleetSize, maxAttempts = 6 } = options;
    if (!(maxWaitMs >= 0)) problems.push(`maxWaitMs must be >= 0, got ${maxWaitMs}`);
    if (fleetSize !== undefined && !(Number.isInteger(fleetSize) && fleetSize >= 1))
      problems.push(`fleetSize must be a positive integer, got ${fleetSize}`);
    if (!(Number.isInteger(maxAttempts) && maxAttempts >= 2))
      problems.push(`maxAttempts must be an integer >= 2, got ${maxAttempts}`);
    if (problems.length > 0) throw new RangeError(`invalid StateHostGate options: ${problems.join('; ')}`);
    this.#state = state;
    this.#clock = options.clock;
    this.#maxWaitMs = maxWaitMs;
    this.#fleetSize = fleetSize;
    this.#maxAttempts = maxAttempts;
    this.#random = options.random ?? Math.random;
    this.#local = new InProcessHostGate(this.#clock, { maxWaitMs });
  }

  async acquire(host: string, limits: HostLimits, billing?: GateBilling): Promise<() => void> {
    const booked = limits.minDelayMs > 0;
    const state = billing?.state ?? this.#state;
    const share =
      booked || this.#fleetSize === undefined
        ? limits.concurrency
        : Math.max(1, Math.floor(limits.concurrency / this.#fleetSize));
    const releaseLocal = await this.#local.acquire(host, { concurrency: share, minDelayMs: 0 });
    try {
      if (booked) await this.#startBooked(host, limits, state);
    } catch (error) {
      releaseLocal();
      throw error;
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

  async slowDown(host: string, untilMs: number, billing?: GateBilling): Promise<void> {
    await this.#local.slowDown(host, untilMs);
    const state = billing?.state ?? this.#state;
    for (let attempt = 0; attempt < this.#maxAttempts; attempt++) {
      const pushBack = { kind: 'lessThan', attribute: 'next', value: untilMs } as const;
      const result = await this.#write(state, host, { set: { next: untilMs } }, pushBack);
      if (result.ok) return this.#remember(host, untilMs, true);
      const next = this.#nextOf(result.current);
      if (next !== undefined) return this.#remember(host, next, true);
      const created = await this.#write(state, host, { set: { next: untilMs } }, { kind: 'absent' });
      if (created.ok) return this.#remember(host, untilMs, true);
    }
  }

  /** Books a start and waits for it (at most `maxWaitMs`), or throws {@link PolitenessDeferral}. */
  async #startBooked(host: string, limits: HostLimits, state: StateStore): Promise<void> {
    const slot = Math.max(limits.minDelayMs, Math.ceil((this.#durations.get(host) ?? 0) / limits.concurrency));
    const start = await this.#book(state, host, slot);
    // A 429/503 seen by this process after the booking: the slot is given up, `next` is already past the pause.
    const paused = this.#local.notBefore(host) - this.#clock.now();
    if (paused > 0 && this.#local.notBefore(host) > start) throw new PolitenessDeferral(host, paused);
    const wait = start - this.#clock.now();
    if (wait > 0) await this.#clock.sleep(wait);
  }

  /** Books one start; the bookings of one process for one host go one after another, each with what the last saw. */
  #book(state: StateStore, host: string, slot: number): Promise<number> {
    const booking = (this.#booking.get(host) ?? Promise.resolve()).then(() => this.#bookNow(state, host, slot));
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

  async #bookNow(state: StateStore, host: string, slot: number): Promise<number> {
    for (let attempt = 0; attempt < this.#maxAttempts; attempt++) {
      const now = this.#clock.now();
      const seen = this.#seen.get(host);
      if (seen !== undefined && (seen.next - now > this.#maxWaitMs || now < seen.retryAt)) {
        throw new PolitenessDeferral(host, Math.max(seen.next - now, 1));
      }
      if (seen === undefined || (seen.next <= now && !seen.busy)) {
        // The host looks idle: start as soon as the write is through (the start is booked a write's latency ahead,
        // so that it is not already past when the write returns) if nobody has booked past that.
        const start = now + Math.ceil(this.#writeLatencyMs);
        const idle = { kind: 'lessThan', attribute: 'next', value: start + 1 } as const;
        const result = await this.#write(state, host, { set: { next: start + slot } }, idle);
        const next = this.#nextOf(result.ok ? undefined : result.current);
        if (result.ok) this.#remember(host, start + slot, false);
        else if (next !== undefined) this.#remember(host, next, next > now);
        if (result.ok || next !== undefined) {
          if (result.ok) return start;
          continue;
        }
        const created = await this.#write(state, host, { set: { next: start + slot } }, { kind: 'absent' });
        if (created.ok) {
          this.#remember(host, start + slot, false);
          return start;
        }
        this.#remember(host, this.#nextOf(created.current) ?? now, true);
        continue;
      }
      // The host looks busy: take the slot after the last one booked, if it starts within maxWaitMs.
      const within = { kind: 'lessThan', attribute: 'next', value: now + this.#maxWaitMs + 1 } as const;
      const result = await this.#write(state, host, { add: { next: slot } }, within);
      const next = this.#nextOf(result.ok ? result.item : result.current);
      if (next === undefined) {
        this.#seen.delete(host);
        continue;
      }
      if (!result.ok) {
        // Booked beyond maxWaitMs: this process asks again only once the window has moved on, each process at a
        // different moment, so that the fleet's deferred tasks do not all race for the next free slot.
        const jitter = this.#random() * Math.min(this.#maxWaitMs * 0.75, slot * 8);
        this.#remember(host, next, true, next - this.#maxWaitMs + jitter);
        continue;
      }
      // A booking that began before this acquire looked at the clock is unusable (its successor may start within
      // `slot` of now): it is left as a gap, and the next attempt books as the host is now, idle.
      const start = next - slot;
      this.#remember(host, next, start >= now);
      if (start >= now) return start;
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

  #remember(host: string, next: number, busy: boolean, retryAt = 0): void {
    this.#seen.delete(host);
    this.#seen.set(host, { next, busy, retryAt });
    if (this.#seen.size > REMEMBERED_HOSTS) this.#seen.delete(this.#seen.keys().next().value as string);
  }

  #observe(host: string, durationMs: number): void {
    const previous = this.#durations.get(host) ?? 0;
    this.#durations.delete(host);
    this.#durations.set(host, decayingMax(previous, durationMs));
    if (this.#durations.size > REMEMBERED_HOSTS) this.#durations.delete(this.#durations.keys().next().value as string);
  }
}
