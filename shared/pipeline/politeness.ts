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
  acquire(host: string, limits: HostLimits): Promise<() => void>;
}

interface HostSlot {
  active: number;
  nextStart: number;
  waiting: (() => void)[];
}

/**
 * A gate for one process: a semaphore and a minimum start spacing per host. Waiters are served in arrival
 * order, and each start reserves the next slot before it runs, so the spacing holds under any concurrency.
 */
export class InProcessHostGate implements HostGate {
  readonly #hosts = new Map<string, HostSlot>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  async acquire(host: string, limits: HostLimits): Promise<() => void> {
    let slot = this.#hosts.get(host);
    if (!slot) {
      slot = { active: 0, nextStart: 0, waiting: [] };
      this.#hosts.set(host, slot);
    }
    const current = slot;
    if (current.active >= limits.concurrency || current.waiting.length > 0) {
      // The releasing request hands its slot over: `active` stays as it is.
      await new Promise<void>((resolve) => current.waiting.push(resolve));
    } else {
      current.active++;
    }
    const now = this.#now();
    const startAt = Math.max(now, current.nextStart);
    current.nextStart = startAt + limits.minDelayMs;
    if (startAt > now) await new Promise((resolve) => setTimeout(resolve, startAt - now));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = current.waiting.shift();
      if (next) {
        next();
        return;
      }
      current.active--;
      if (current.active === 0 && this.#now() >= current.nextStart) this.#hosts.delete(host);
    };
  }
}
