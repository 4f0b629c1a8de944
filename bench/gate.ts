/**
 * The fleet politeness gate (`StateHostGate`) in virtual time: fleet members (separate gates over one embedded state
 * store) take batches of fetch tasks from a simulated queue, acquire, hold the "request" for a while, release; a
 * `PolitenessDeferral` puts the task back as the fetcher sends it (`delaySecondsOf`: to arrive just before the start
 * booked for it, which it carries back to the gate; without one, `deferralDelayMs`: the gate's delay, at least 1 s
 * doubled per earlier hand-back), in whole seconds (as SQS `DelaySeconds`) plus a delivery latency. Prints state requests per acquired slot (reads, writes, failed conditions), deferrals, the
 * smallest gap between two starts to one host, the most requests to one host in flight, and the invocation time
 * per slot (from a batch's receipt until its last task is done or handed back: what Lambda bills). No assertions.
 *
 *   npx tsx bench/gate.ts [--seed 1]
 */
import { parseArgs } from 'node:util';
import { mulberry32 } from '../demo/random.js';
import { EmbeddedStateStore } from '../shared/local/state.js';
import { deferralDelayMs, delaySecondsOf } from '../shared/pipeline/fetch.js';
import { PolitenessDeferral, StateHostGate } from '../shared/pipeline/politeness.js';
import type { Clock } from '../shared/ports.js';
import { CountingStore } from '../test/support/counting-store.js';

const { values } = parseArgs({ options: { seed: { type: 'string', default: '1' } } });

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Virtual time: `sleep` resolves when the run loop reaches its instant; nothing waits for real. */
class VirtualClock implements Clock {
  #now = Date.UTC(2026, 0, 1);
  #sequence = 0;
  readonly #timers: { at: number; sequence: number; resolve: () => void }[] = [];

  now(): number {
    return this.#now;
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.#timers.push({ at: this.#now + Math.max(0, ms), sequence: this.#sequence++, resolve }));
  }

  /** Runs until `done` holds (or nothing is left to wake). */
  async run(done: () => boolean): Promise<void> {
    for (;;) {
      await flush();
      if (done() || this.#timers.length === 0) return;
      this.#timers.sort((a, b) => a.at - b.at || a.sequence - b.sequence);
      const next = this.#timers.shift();
      if (!next) return;
      this.#now = Math.max(this.#now, next.at);
      next.resolve();
    }
  }
}

interface Scenario {
  readonly name: string;
  readonly members: number;
  readonly hosts: number;
  readonly pages: number;
  readonly limits: { concurrency: number; minDelayMs: number };
  readonly fleetSize?: number;
  /** Tasks per invocation (the SQS batch). */
  readonly batch: number;
  /** How long a batch is gathered for once a first task is there (the mapping's batching window). */
  readonly windowMs: number;
  readonly holdMs: readonly [number, number];
}

async function simulate(scenario: Scenario, random: () => number) {
  const clock = new VirtualClock();
  const state = new CountingStore(new EmbeddedStateStore());
  const gates = Array.from(
    { length: scenario.members },
    () =>
      new StateHostGate(state, {
        clock,
        ...(scenario.fleetSize === undefined ? {} : { fleetSize: scenario.fleetSize }),
      }),
  );
  const queue = Array.from({ length: scenario.pages }, (_, index) => ({
    host: `h${index % scenario.hosts}.example`,
    visibleAt: 0,
    deferrals: 0,
    slotAt: undefined as number | undefined,
  }));
  const starts = new Map<string, number[]>();
  const inFlight = new Map<string, number>();
  let maxInFlight = 0;
  let done = 0;
  let deferrals = 0;
  let waitedMs = 0;
  let aliveMs = 0;
  const between = (range: readonly [number, number]) => range[0] + random() * (range[1] - range[0]);

  const member = async (gate: StateHostGate) => {
    while (done < scenario.pages) {
      const batch: typeof queue = [];
      const take = () => {
        const now = clock.now();
        for (let index = 0; index < queue.length && batch.length < scenario.batch; ) {
          const task = queue[index];
          if (task && task.visibleAt <= now) {
            batch.push(task);
            queue.splice(index, 1);
          } else index++;
        }
      };
      take();
      if (batch.length === 0) {
        await clock.sleep(20 + random() * 100);
        continue;
      }
      // The event source mapping's batching window: it gathers more until the batch is full or the window is over.
      const gatherUntil = clock.now() + scenario.windowMs;
      while (batch.length < scenario.batch && clock.now() < gatherUntil) {
        await clock.sleep(Math.min(100, gatherUntil - clock.now()));
        take();
      }
      const batchStartedAt = clock.now();
      await Promise.all(
        batch.map(async (task) => {
          const asked = clock.now();
          let release: () => void;
          try {
            release = await gate.acquire(task.host, scenario.limits, {
              state,
              ...(task.slotAt === undefined ? {} : { slotAt: task.slotAt }),
            });
          } catch (error) {
            if (!(error instanceof PolitenessDeferral)) throw error;
            deferrals++;
            // As the fetcher sends a handed-back task: to arrive just before the start booked for it, or after the
            // gate's delay (at least 1 s, doubled per earlier hand-back); SQS delays are whole seconds, and delivery
            // to a poller adds up to half a second.
            const deferred = { ...task, deferrals: task.deferrals + 1, slotAt: error.slotAt };
            const delayMs =
              error.slotAt === undefined
                ? Math.ceil(deferralDelayMs(error.delayMs, deferred.deferrals, random) / 1000) * 1000
                : 1000 * delaySecondsOf(error.slotAt, error.delayMs, clock.now());
            queue.push({ ...deferred, visibleAt: clock.now() + delayMs + random() * 500 });
            return;
          }
          waitedMs += clock.now() - asked;
          const list = starts.get(task.host) ?? [];
          list.push(clock.now());
          starts.set(task.host, list);
          const active = (inFlight.get(task.host) ?? 0) + 1;
          inFlight.set(task.host, active);
          maxInFlight = Math.max(maxInFlight, active);
          await clock.sleep(between(scenario.holdMs));
          inFlight.set(task.host, (inFlight.get(task.host) ?? 1) - 1);
          release();
          done++;
        }),
      );
      // What Lambda would bill: the invocation lasts until its last task is done or handed back.
      aliveMs += clock.now() - batchStartedAt;
    }
  };
  const wall = performance.now();
  const startedAt = clock.now();
  let finished = false;
  const running = Promise.all(gates.map(member)).finally(() => {
    finished = true;
  });
  await clock.run(() => finished);
  await running;
  let minGap = Number.POSITIVE_INFINITY;
  for (const list of starts.values()) {
    const sorted = [...list].sort((a, b) => a - b);
    for (let index = 1; index < sorted.length; index++)
      minGap = Math.min(minGap, (sorted[index] ?? 0) - (sorted[index - 1] ?? 0));
  }
  const slots = done;
  return {
    scenario: scenario.name,
    slots,
    readsPerSlot: +(state.reads / slots).toFixed(3),
    writesPerSlot: +(state.writes / slots).toFixed(3),
    failedConditionsPerSlot: +(state.failedConditions / slots).toFixed(3),
    deferralsPerSlot: +(deferrals / slots).toFixed(3),
    inProcessWaitMsPerSlot: Math.round(waitedMs / slots),
    invocationMsPerSlot: Math.round(aliveMs / slots),
    minGapMs: Number.isFinite(minGap) ? Math.round(minGap) : null,
    maxInFlightPerHost: maxInFlight,
    virtualSeconds: Math.round((clock.now() - startedAt) / 1000),
    wallMs: Math.round(performance.now() - wall),
  };
}

const scenarios: Scenario[] = [
  {
    name: 'many hosts, fetch-bound (8 concurrent, 0 ms), 8 members',
    members: 8,
    hosts: 500,
    pages: 4000,
    limits: { concurrency: 8, minDelayMs: 0 },
    batch: 10,
    windowMs: 0,
    holdMs: [50, 400],
  },
  {
    name: 'many hosts, fetch-bound (8 concurrent, 0 ms), 8 members, fleetSize 8',
    members: 8,
    hosts: 500,
    pages: 4000,
    limits: { concurrency: 8, minDelayMs: 0 },
    fleetSize: 8,
    batch: 10,
    windowMs: 0,
    holdMs: [50, 400],
  },
  {
    name: 'one polite host (2 concurrent, 250 ms), 8 members',
    members: 8,
    hosts: 1,
    pages: 400,
    limits: { concurrency: 2, minDelayMs: 250 },
    batch: 10,
    windowMs: 0,
    holdMs: [100, 400],
  },
  {
    name: 'one polite host (2 concurrent, 250 ms), 4 members, batches of 100 gathered for 5 s (the fetch queue of the stack)',
    members: 4,
    hosts: 1,
    pages: 1000,
    limits: { concurrency: 2, minDelayMs: 250 },
    batch: 100,
    windowMs: 5000,
    holdMs: [20, 100],
  },
  {
    name: 'many polite hosts (2 concurrent, 250 ms), 8 members',
    members: 8,
    hosts: 500,
    pages: 4000,
    limits: { concurrency: 2, minDelayMs: 250 },
    batch: 10,
    windowMs: 0,
    holdMs: [100, 400],
  },
];

const random = mulberry32(Number(values.seed));
for (const scenario of scenarios) console.log(JSON.stringify(await simulate(scenario, random)));
