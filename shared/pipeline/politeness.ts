import { RetryableError } from '../errors.js';
import type { Clock, StateStore } from '../ports.js';

/** Per-host politeness limits, from the job. */
export interface HostLimits {
  readonly concurrency: number;
  readonly minDelayMs: number;
}

/**
 * Spaces and caps requests per host. `acquire` resolves when a request may start and returns the function to
 * call when it is done.
 */
export interface HostGate {
  /** Waits for a slot; may throw {@link PolitenessDeferral} when the wait would be long. */
  acquire(host: string, limits: HostLimits): Promise<() => void>;
  /** No request to the host starts before `untilMs` (epoch ms): after a 429/503 with `Retry-After`. */
  slowDown(host: string, untilMs: number): Promise<void>;
}

interface HostSlot {
  active: number;
  waiting: (() => void)[];
  /** When the last request actually started, and the earliest the next may start (a 429/503 pushes it back). */
  lastStart: number;
  notBefore: number;
  /** Starts happen one after another, each after the previous one has really started. */
  starts: Promise<void>;
}

/**
 * A gate for one process: a semaphore per host, and starts spaced from the previous request's actual start (not a
 * booked slot), so a late timer on a busy event loop can never bring two requests closer than `minDelayMs`.
 */
export class InProcessHostGate implements HostGate {
  readonly #hosts = new Map<string, HostSlot>();
  readonly #now: () => number;
  readonly #maxWaitMs: number;

  /**
   * @param now the clock
   * @param options.maxWaitMs a host slowed down (429/503) for longer than this defers the request with
   *   {@link PolitenessDeferral} instead of holding it (and its queue message) that long. @default no limit
   */
  constructor(now: () => number = Date.now, options: { maxWaitMs?: number } = {}) {
    this.#now = now;
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
    const slowedFor = slot.notBefore - this.#now();
    if (slowedFor > this.#maxWaitMs) throw new PolitenessDeferral(host, slowedFor);
    if (slot.active >= limits.concurrency || slot.waiting.length > 0) {
      // The releasing request hands its slot over: `active` stays as it is.
      await new Promise<void>((resolve) => slot.waiting.push(resolve));
    } else {
      slot.active++;
    }
    const started = slot.starts.then(async () => {
      for (;;) {
        const wait = Math.max(slot.lastStart + limits.minDelayMs, slot.notBefore) - this.#now();
        if (wait <= 0) break;
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
      slot.lastStart = this.#now();
    });
    slot.starts = started;
    await started;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = slot.waiting.shift();
      if (next) {
        next();
        return;
      }
      slot.active--;
    };
  }

  async slowDown(host: string, untilMs: number): Promise<void> {
    const slot = this.#slot(host);
    slot.notBefore = Math.max(slot.notBefore, untilMs);
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
  readonly clock: Clock;
  /** How long a slot is held at most (a crashed fetcher's slot frees itself after this). @default 120000 */
  readonly leaseMs?: number;
  /** Longest in-process wait for a slot before deferring the task. @default 2000 */
  readonly maxWaitMs?: number;
  /** Poll interval while all slots are taken. @default 25 */
  readonly pollMs?: number;
  readonly random?: () => number;
}

type Lease = [id: string, until: number];

/** A host's gate item as read. */
interface GateState {
  readonly item: Readonly<Record<string, unknown>> | undefined;
  readonly now: number;
  readonly leases: Lease[];
  readonly nextAt: number;
  readonly version: number;
}

/**
 * Politeness for a whole fleet of fetchers: per host, one state item holds the leases of the requests in flight
 * and the earliest time the next request may start, updated with optimistic concurrency (a version number and a
 * conditional write). A 429/503 pushes the host's next start back for everyone.
 */
export class StateHostGate implements HostGate {
  readonly #state: StateStore;
  readonly #clock: Clock;
  readonly #leaseMs: number;
  readonly #maxWaitMs: number;
  readonly #pollMs: number;
  readonly #random: () => number;
  readonly #local: InProcessHostGate;

  constructor(state: StateStore, options: StateHostGateOptions) {
    this.#state = state;
    this.#clock = options.clock;
    this.#leaseMs = options.leaseMs ?? 120_000;
    this.#maxWaitMs = options.maxWaitMs ?? 2000;
    this.#pollMs = options.pollMs ?? 25;
    this.#random = options.random ?? Math.random;
    this.#local = new InProcessHostGate(() => this.#clock.now());
  }

  async #read(host: string): Promise<GateState> {
    const item = await this.#state.get(`host#${host}`, 'gate');
    const now = this.#clock.now();
    const leases = (JSON.parse(String(item?.leases ?? '[]')) as Lease[]).filter(([, until]) => until > now);
    return { item, now, leases, nextAt: Number(item?.nextAt ?? 0), version: Number(item?.version ?? 0) };
  }

  async #write(host: string, current: GateState, set: { leases: Lease[]; nextAt: number }): Promise<boolean> {
    const written = await this.#state.write({
      pk: `host#${host}`,
      sk: 'gate',
      set: { leases: JSON.stringify(set.leases), nextAt: set.nextAt, version: current.version + 1 },
      condition: current.item ? { kind: 'equals', attribute: 'version', value: current.version } : { kind: 'absent' },
    });
    return written !== undefined;
  }

  async acquire(host: string, limits: HostLimits): Promise<() => void> {
    // The requests of this process queue for their share locally first, so that only up to `concurrency` of them
    // contend for the host through the state store.
    const releaseLocal = await this.#local.acquire(host, { concurrency: limits.concurrency, minDelayMs: 0 });
    try {
      const releaseFleet = await this.#acquireFleet(host, limits);
      return () => {
        releaseFleet();
        releaseLocal();
      };
    } catch (error) {
      releaseLocal();
      throw error;
    }
  }

  async #acquireFleet(host: string, limits: HostLimits): Promise<() => void> {
    const startedAt = this.#clock.now();
    let poll = this.#pollMs;
    for (;;) {
      const current = await this.#read(host);
      if (current.leases.length < limits.concurrency && current.now >= current.nextAt) {
        const id = `${current.now.toString(36)}${Math.floor(this.#random() * 1e9).toString(36)}`;
        const leases: Lease[] = [...current.leases, [id, current.now + this.#leaseMs]];
        if (await this.#write(host, current, { leases, nextAt: current.now + limits.minDelayMs })) {
          return () => void this.#release(host, id);
        }
        await this.#clock.sleep(1 + this.#random() * 4);
        continue;
      }
      // Waiting for a free slot backs off (each look is a read of the state store); waiting for the next start
      // time sleeps exactly until then.
      const wait = current.now < current.nextAt ? current.nextAt - current.now : poll;
      if (current.now >= current.nextAt) poll = Math.min(poll * 2, 500);
      if (current.now - startedAt + wait > this.#maxWaitMs) throw new PolitenessDeferral(host, Math.max(wait, 1000));
      await this.#clock.sleep(wait + this.#random() * 5);
    }
  }

  async #release(host: string, id: string): Promise<void> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const current = await this.#read(host);
      if (!current.leases.some(([lease]) => lease === id)) return;
      const leases = current.leases.filter(([lease]) => lease !== id);
      if (await this.#write(host, current, { leases, nextAt: current.nextAt })) return;
      await this.#clock.sleep(1 + this.#random() * 4);
    }
    // Unreleased, the lease expires by itself after leaseMs.
  }

  async slowDown(host: string, untilMs: number): Promise<void> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const current = await this.#read(host);
      if (current.nextAt >= untilMs) return;
      if (await this.#write(host, current, { leases: current.leases, nextAt: untilMs })) return;
    }
  }
}
