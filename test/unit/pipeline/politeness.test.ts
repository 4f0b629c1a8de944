import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { InProcessHostGate, PolitenessDeferral, StateHostGate } from '../../../shared/pipeline/politeness.js';
import { ManualClock } from '../../fixtures/clock.js';
import { CountingStore } from '../../support/counting-store.js';

/** Runs `count` requests through the gate at once; records starts and the most requests in flight. */
async function burst(
  gate: InProcessHostGate,
  host: string,
  count: number,
  limits: { concurrency: number; minDelayMs: number },
  holdMs: (index: number) => number,
) {
  let active = 0;
  let maxActive = 0;
  const starts: { index: number; at: number }[] = [];
  await Promise.all(
    Array.from({ length: count }, async (_, index) => {
      const release = await gate.acquire(host, limits);
      starts.push({ index, at: performance.now() });
      active++;
      maxActive = Math.max(maxActive, active);
      await sleep(holdMs(index));
      active--;
      release();
    }),
  );
  return { starts, maxActive };
}

describe('Class: InProcessHostGate', () => {
  it('never lets more than the concurrency limit run at once under 50 concurrent acquirers', async () => {
    // Prepare
    const gate = new InProcessHostGate();

    // Act
    const { starts, maxActive } = await burst(
      gate,
      'shop.example',
      50,
      { concurrency: 3, minDelayMs: 0 },
      (index) => 1 + (index % 4),
    );

    // Assess
    expect(starts).toHaveLength(50);
    expect(maxActive).toBe(3);
  });

  it('serves waiters in arrival order', async () => {
    // Prepare
    const gate = new InProcessHostGate();

    // Act
    const { starts } = await burst(gate, 'shop.example', 20, { concurrency: 1, minDelayMs: 0 }, () => 1);

    // Assess
    expect(starts.map((start) => start.index)).toEqual(Array.from({ length: 20 }, (_, index) => index));
  });

  it('starts the n-th queued request at least n × minDelayMs after the first, whatever the concurrency', async () => {
    // Prepare
    const gate = new InProcessHostGate();

    // Act
    const { starts, maxActive } = await burst(gate, 'shop.example', 8, { concurrency: 4, minDelayMs: 25 }, () => 60);

    // Assess
    const times = starts.map((start) => start.at).sort((a, b) => a - b);
    // 1 ms of slack per start: timers fire on whole milliseconds of a clock other than performance.now().
    times.forEach((at, index) => {
      expect(at - (times[0] ?? 0)).toBeGreaterThanOrEqual(index * 25 - 1);
    });
    expect(maxActive).toBeLessThanOrEqual(4);
  });

  // Regression: starts used to be booked on a schedule, so a late timer let two starts come closer than minDelayMs.
  it('keeps minDelayMs between two actual starts when the event loop was busy', async () => {
    // Prepare
    const gate = new InProcessHostGate();
    const limits = { concurrency: 3, minDelayMs: 40 };
    const first = await gate.acquire('shop.example', limits);
    const starts: number[] = [];
    const second = gate.acquire('shop.example', limits).then((release) => {
      starts.push(performance.now());
      return release;
    });
    const third = gate.acquire('shop.example', limits).then((release) => {
      starts.push(performance.now());
      return release;
    });

    // Act
    const blockedUntil = performance.now() + 70;
    while (performance.now() < blockedUntil) {
      // The event loop is busy (a large page being parsed): the second start's timer fires late.
    }
    for (const release of [first, await second, await third]) release();

    // Assess
    // Both timers were due when the loop freed up; a gate spacing booked slots would start them together (a gap near
    // 0). The 5 ms of slack is for the test reading the clock after the gate did: on a loaded machine the process can
    // be descheduled in between.
    const [secondAt = 0, thirdAt = 0] = starts;
    expect(thirdAt - secondAt).toBeGreaterThanOrEqual(35);
  });

  it('spaces a request after one that already finished', async () => {
    // Prepare
    const gate = new InProcessHostGate();
    const release = await gate.acquire('shop.example', { concurrency: 2, minDelayMs: 40 });
    const first = performance.now();
    release();

    // Act
    const second = await gate.acquire('shop.example', { concurrency: 2, minDelayMs: 40 });
    const secondAt = performance.now();
    second();

    // Assess
    expect(secondAt - first).toBeGreaterThanOrEqual(39);
  });

  it('keeps hosts independent', async () => {
    // Prepare
    const gate = new InProcessHostGate();
    const held = await gate.acquire('a.example', { concurrency: 1, minDelayMs: 10_000 });
    const queued = gate.acquire('a.example', { concurrency: 1, minDelayMs: 10_000 });
    const started = performance.now();

    // Act
    const other = await gate.acquire('b.example', { concurrency: 1, minDelayMs: 10_000 });

    // Assess
    expect(performance.now() - started).toBeLessThan(500);
    other();
    held();
    void queued.then((release) => release());
  });

  it('runs several hosts in parallel, each within its own limit', async () => {
    // Prepare
    const gate = new InProcessHostGate();
    const limits = { concurrency: 2, minDelayMs: 0 };
    let active = 0;
    let maxActive = 0;
    const track = async (host: string) => {
      const release = await gate.acquire(host, limits);
      active++;
      maxActive = Math.max(maxActive, active);
      await sleep(20);
      active--;
      release();
    };

    // Act
    const results = await Promise.all(
      ['a.example', 'b.example', 'c.example'].map((host) => burst(gate, host, 6, limits, () => 20)),
    );
    await Promise.all(['a.example', 'b.example', 'c.example'].flatMap((host) => [track(host), track(host), track(host)]));

    // Assess
    expect(results.map((result) => result.maxActive)).toEqual([2, 2, 2]);
    expect(maxActive).toBe(6);
  });

  it('frees one slot however often a release is called', async () => {
    // Prepare
    const gate = new InProcessHostGate();
    const limits = { concurrency: 1, minDelayMs: 0 };
    const first = await gate.acquire('shop.example', limits);
    const second = gate.acquire('shop.example', limits);
    const third = gate.acquire('shop.example', limits);
    let thirdStarted = false;
    void third.then(() => {
      thirdStarted = true;
    });

    // Act
    first();
    first();
    first();
    await second;
    await sleep(20);

    // Assess
    expect(thirdStarted).toBe(false);
    (await second)();
    (await third)();
    expect(thirdStarted).toBe(true);
  });

  it('lets a request start at once on an idle host', async () => {
    // Prepare
    const gate = new InProcessHostGate();
    const started = performance.now();

    // Act
    const release = await gate.acquire('idle.example', { concurrency: 4, minDelayMs: 1000 });

    // Assess
    expect(performance.now() - started).toBeLessThan(500);
    release();
  });
});

/** Lets every pending promise run (the embedded store answers within the same turn). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Moves the manual clock forward 1 ms at a time, letting the gates act at every step. */
async function runFor(clock: ManualClock, ms: number): Promise<void> {
  for (let elapsed = 0; elapsed < ms; elapsed++) {
    await settle();
    clock.advance(1);
  }
  await settle();
}

describe('Class: StateHostGate', () => {
  const host = 'shop.example';

  it('starts a request on an idle host at once, with one conditional write and no read', async () => {
    // Prepare
    const clock = new ManualClock();
    const state = new CountingStore();
    const gate = new StateHostGate(state, { clock });
    (await gate.acquire(host, { concurrency: 2, minDelayMs: 250 }))();
    await runFor(clock, 1000);
    const before = state.writes;

    // Act
    const startedAt = clock.now();
    const release = await gate.acquire(host, { concurrency: 2, minDelayMs: 250 });
    release();

    // Assess
    expect(clock.now()).toBe(startedAt);
    expect(state.writes - before).toBe(1);
    expect(state.reads).toBe(0);
  });

  it('spaces the starts of several fleet members by minDelayMs, with no reads and no writes on release', async () => {
    // Prepare: four members over one store, three requests each, all wanting to go at once.
    const clock = new ManualClock();
    const state = new CountingStore();
    const members = Array.from({ length: 4 }, () => new StateHostGate(state, { clock, maxWaitMs: 10_000 }));
    const limits = { concurrency: 2, minDelayMs: 100 };
    const starts: number[] = [];
    let writesAtStarts = 0;
    const releases: (() => void)[] = [];

    // Act
    const all = Promise.all(
      members.flatMap((gate) =>
        [0, 1, 2].map(async () => {
          const release = await gate.acquire(host, limits);
          starts.push(clock.now());
          writesAtStarts = state.writes;
          await clock.sleep(30);
          releases.push(release);
          release();
        }),
      ),
    );
    await runFor(clock, 2000);
    await all;

    // Assess
    expect(starts).toHaveLength(12);
    const sorted = [...starts].sort((a, b) => a - b);
    for (let index = 1; index < sorted.length; index++) {
      expect((sorted[index] ?? 0) - (sorted[index - 1] ?? 0)).toBeGreaterThanOrEqual(100);
    }
    expect(state.reads).toBe(0);
    expect(state.writes).toBe(writesAtStarts);
    expect(state.writes).toBeLessThanOrEqual(2 * 12);
  });

  it('hands a wait beyond maxWaitMs back as a deferral without booking it, and knows the next time without asking', async () => {
    // Prepare: one member books three starts 1 s apart.
    const clock = new ManualClock();
    const state = new CountingStore();
    const busy = new StateHostGate(state, { clock, maxWaitMs: 5000 });
    const limits = { concurrency: 3, minDelayMs: 1000 };
    const booked = Promise.all([0, 1, 2].map(() => busy.acquire(host, limits)));
    await runFor(clock, 0);
    const next = (await state.inner.get(`host#${host}`, 'gate'))?.next;
    const other = new StateHostGate(state, { clock, maxWaitMs: 2000 });

    // Act
    const first = await other.acquire(host, limits).catch((error: unknown) => error);
    const writes = state.writes;
    const second = await other.acquire(host, limits).catch((error: unknown) => error);

    // Assess
    expect(first).toBeInstanceOf(PolitenessDeferral);
    expect((first as PolitenessDeferral).delayMs).toBe(3000);
    expect(second).toBeInstanceOf(PolitenessDeferral);
    expect(state.writes).toBe(writes);
    expect((await state.inner.get(`host#${host}`, 'gate'))?.next).toBe(next);
    await runFor(clock, 2000);
    for (const release of await booked) release();
  });

  it("pushes every member's next start back after a slowDown (429/503)", async () => {
    // Prepare
    const clock = new ManualClock();
    const state = new CountingStore();
    const throttled = new StateHostGate(state, { clock });
    const other = new StateHostGate(state, { clock });
    const limits = { concurrency: 2, minDelayMs: 100 };
    (await other.acquire(host, limits))();
    const until = clock.now() + 10_000;

    // Act
    await throttled.slowDown(host, until);
    const deferral = await other.acquire(host, limits).catch((error: unknown) => error);
    await runFor(clock, 9000);
    const acquired = other.acquire(host, limits);
    await runFor(clock, 1000);
    const release = await acquired;

    // Assess
    expect(deferral).toBeInstanceOf(PolitenessDeferral);
    expect((deferral as PolitenessDeferral).delayMs).toBeGreaterThanOrEqual(9900);
    expect(clock.now()).toBeGreaterThanOrEqual(until);
    release();
  });

  it('leaves nothing held by a fetcher that never releases: the next member starts one slot later', async () => {
    // Prepare
    const clock = new ManualClock();
    const state = new CountingStore();
    const limits = { concurrency: 1, minDelayMs: 200 };
    const crashed = new StateHostGate(state, { clock });
    await crashed.acquire(host, limits);
    const startedAt = clock.now();

    // Act
    const acquired = new StateHostGate(state, { clock }).acquire(host, limits);
    await runFor(clock, 200);
    const release = await acquired;

    // Assess
    expect(clock.now() - startedAt).toBe(200);
    release();
  });

  it('lengthens the slot to duration / concurrency when requests are slow, so that concurrency holds', async () => {
    // Prepare: one request of 1 s seen by this member.
    const clock = new ManualClock();
    const state = new CountingStore();
    const gate = new StateHostGate(state, { clock, maxWaitMs: 10_000 });
    const limits = { concurrency: 2, minDelayMs: 100 };
    const slow = await gate.acquire(host, limits);
    await runFor(clock, 1000);
    slow();

    // Act
    const starts: number[] = [];
    const all = Promise.all(
      [0, 1, 2].map(async () => {
        const release = await gate.acquire(host, limits);
        starts.push(clock.now());
        release();
      }),
    );
    await runFor(clock, 1500);
    await all;

    // Assess
    expect(starts.map((at) => at - (starts[0] ?? 0))).toEqual([0, 500, 1000]);
  });

  it('makes no state request for a host with minDelayMs 0, and shares its concurrency across a known fleet', async () => {
    // Prepare
    const clock = new ManualClock();
    const state = new CountingStore();
    const gate = new StateHostGate(state, { clock, fleetSize: 2 });
    let started = 0;

    // Act
    const releases = Array.from({ length: 8 }, () =>
      gate.acquire(host, { concurrency: 8, minDelayMs: 0 }).then((release) => {
        started++;
        return release;
      }),
    );
    await runFor(clock, 10);
    const startedFirst = started;
    for (const release of await Promise.all(releases.slice(0, 4))) release();
    await runFor(clock, 10);

    // Assess
    expect(startedFirst).toBe(4);
    expect(started).toBe(8);
    expect(state.requests).toBe(0);
    for (const release of await Promise.all(releases)) release();
  });

  it('refuses invalid options, naming each', () => {
    const clock = new ManualClock();
    expect(() => new StateHostGate(new CountingStore(), { clock, maxWaitMs: -1, fleetSize: 0, maxAttempts: 1 })).toThrow(
      /maxWaitMs must be >= 0, got -1; fleetSize must be a positive integer, got 0; maxAttempts must be an integer >= 2, got 1/,
    );
  });
});
