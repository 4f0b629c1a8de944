import { describe, expect, it } from 'vitest';
import { InProcessHostGate, PolitenessDeferral, StateHostGate } from '../../../shared/pipeline/politeness.js';
import { ManualClock } from '../../fixtures/clock.js';
import { CountingStore } from '../../support/counting-store.js';

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

/** Moves the manual clock forward 1 ms at a time until `work` settles (at most a simulated minute). */
async function runUntil<T>(clock: ManualClock, work: Promise<T>): Promise<T> {
  let done = false;
  const settled = work.finally(() => {
    done = true;
  });
  for (let elapsed = 0; !done && elapsed < 60_000; elapsed++) {
    await settle();
    if (!done) clock.advance(1);
  }
  return settled;
}

/**
 * Runs `count` requests through the gate at once, each holding its slot `holdMs` of the manual clock; records starts
 * (clock time) and the most requests in flight.
 */
async function burst(
  gate: InProcessHostGate,
  clock: ManualClock,
  host: string,
  count: number,
  limits: { concurrency: number; minDelayMs: number },
  holdMs: (index: number) => number,
) {
  let active = 0;
  let maxActive = 0;
  const starts: { index: number; at: number }[] = [];
  const work = Promise.all(
    Array.from({ length: count }, async (_, index) => {
      const release = await gate.acquire(host, limits);
      starts.push({ index, at: clock.now() });
      active++;
      maxActive = Math.max(maxActive, active);
      await clock.sleep(holdMs(index));
      active--;
      release();
    }),
  );
  await runUntil(clock, work);
  return { starts, maxActive };
}

describe('Class: InProcessHostGate', () => {
  it('never lets more than the concurrency limit run at once under 50 concurrent acquirers', async () => {
    // Prepare
    const clock = new ManualClock();
    const gate = new InProcessHostGate(clock);

    // Act
    const { starts, maxActive } = await burst(
      gate,
      clock,
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
    const clock = new ManualClock();
    const gate = new InProcessHostGate(clock);

    // Act
    const { starts } = await burst(gate, clock, 'shop.example', 20, { concurrency: 1, minDelayMs: 0 }, () => 1);

    // Assess
    expect(starts.map((start) => start.index)).toEqual(Array.from({ length: 20 }, (_, index) => index));
  });

  it('starts the n-th queued request n × minDelayMs after the first, whatever the concurrency', async () => {
    // Prepare
    const clock = new ManualClock();
    const gate = new InProcessHostGate(clock);

    // Act: four slots held 60 ms each; spacing, not the slots, is what holds the starts back
    const { starts, maxActive } = await burst(gate, clock, 'shop.example', 8, { concurrency: 4, minDelayMs: 25 }, () => 60);

    // Assess
    const first = starts[0]?.at ?? 0;
    expect(starts.map((start) => start.at - first)).toEqual([0, 25, 50, 75, 100, 125, 150, 175]);
    expect(maxActive).toBe(3);
  });

  // Regression: starts used to be booked on a schedule, so a late timer let two starts come closer than minDelayMs.
  it('keeps minDelayMs between two actual starts when the wait ended late', async () => {
    // Prepare
    const clock = new ManualClock();
    const gate = new InProcessHostGate(clock);
    const limits = { concurrency: 3, minDelayMs: 40 };
    const first = await gate.acquire('shop.example', limits);
    const starts: number[] = [];
    const second = gate.acquire('shop.example', limits).then((release) => {
      starts.push(clock.now());
      return release;
    });
    const third = gate.acquire('shop.example', limits).then((release) => {
      starts.push(clock.now());
      return release;
    });
    await settle();

    // Act: the event loop was busy for 70 ms (a large page being parsed): both starts are due when it frees up
    clock.advance(70);
    await runUntil(clock, third);
    for (const release of [first, await second, await third]) release();

    // Assess: a gate spacing booked slots (0, 40, 80) would start the second and third together at 70
    const [secondAt = 0, thirdAt = 0] = starts;
    expect(secondAt - Date.UTC(2024, 0, 1)).toBe(70);
    expect(thirdAt - secondAt).toBe(40);
  });

  it('spaces a request after one that already finished', async () => {
    // Prepare
    const clock = new ManualClock();
    const gate = new InProcessHostGate(clock);
    const release = await gate.acquire('shop.example', { concurrency: 2, minDelayMs: 40 });
    const first = clock.now();
    release();

    // Act
    const second = await runUntil(clock, gate.acquire('shop.example', { concurrency: 2, minDelayMs: 40 }));
    const secondAt = clock.now();
    second();

    // Assess
    expect(secondAt - first).toBe(40);
  });

  it('keeps hosts independent', async () => {
    // Prepare
    const clock = new ManualClock();
    const gate = new InProcessHostGate(clock);
    const held = await gate.acquire('a.example', { concurrency: 1, minDelayMs: 10_000 });
    let queuedStarted = false;
    const queued = gate.acquire('a.example', { concurrency: 1, minDelayMs: 10_000 }).then((release) => {
      queuedStarted = true;
      return release;
    });
    let otherStarted = false;

    // Act: the clock does not move
    const other = gate.acquire('b.example', { concurrency: 1, minDelayMs: 10_000 }).then((release) => {
      otherStarted = true;
      return release;
    });
    await settle();

    // Assess
    expect(otherStarted).toBe(true);
    expect(queuedStarted).toBe(false);
    (await other)();
    held();
    clock.advance(10_000);
    (await queued)();
  });

  it('runs several hosts in parallel, each within its own limit', async () => {
    // Prepare
    const clock = new ManualClock();
    const gate = new InProcessHostGate(clock);
    const limits = { concurrency: 2, minDelayMs: 0 };
    let active = 0;
    let maxActive = 0;
    const track = async (host: string) => {
      const release = await gate.acquire(host, limits);
      active++;
      maxActive = Math.max(maxActive, active);
      await clock.sleep(20);
      active--;
      release();
    };

    // Act
    const results = await Promise.all(
      ['a.example', 'b.example', 'c.example'].map((host) => burst(gate, clock, host, 6, limits, () => 20)),
    );
    await runUntil(
      clock,
      Promise.all(['a.example', 'b.example', 'c.example'].flatMap((host) => [track(host), track(host), track(host)])),
    );

    // Assess
    expect(results.map((result) => result.maxActive)).toEqual([2, 2, 2]);
    expect(maxActive).toBe(6);
  });

  it('frees one slot however often a release is called', async () => {
    // Prepare
    const clock = new ManualClock();
    const gate = new InProcessHostGate(clock);
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
    await settle();

    // Assess
    expect(thirdStarted).toBe(false);
    (await second)();
    (await third)();
    expect(thirdStarted).toBe(true);
  });

  it('lets a request start at once on an idle host', async () => {
    // Prepare
    const clock = new ManualClock();
    const gate = new InProcessHostGate(clock);
    let started = false;

    // Act: the clock does not move
    const release = gate.acquire('idle.example', { concurrency: 4, minDelayMs: 1000 }).then((release) => {
      started = true;
      return release;
    });
    await settle();

    // Assess
    expect(started).toBe(true);
    (await release)();
  });

  it('holds a host slowed down until the time it was given, and defers past maxWaitMs', async () => {
    // Prepare
    const clock = new ManualClock();
    const gate = new InProcessHostGate(clock, { maxWaitMs: 1_000 });
    await gate.slowDown('slow.example', clock.now() + 500);
    const startedAt = clock.now();

    // Act
    const release = await runUntil(clock, gate.acquire('slow.example', { concurrency: 1, minDelayMs: 0 }));
    release();
    await gate.slowDown('slow.example', clock.now() + 5_000);
    const deferred = await gate.acquire('slow.example', { concurrency: 1, minDelayMs: 0 }).catch((caught: unknown) => caught);

    // Assess
    expect(clock.now() - startedAt).toBe(500);
    expect(deferred).toBeInstanceOf(PolitenessDeferral);
    expect((deferred as PolitenessDeferral).delayMs).toBe(5_000);
  });

  // Regression: the check ran only on entry, so requests already queued for a slot when a 429 slowed the host down
  // slept out the whole Retry-After once their turn came (and every later request waited behind them), holding their
  // invocation's messages past the visibility timeout: the pages it had fetched were delivered and fetched again.
  it('defers requests queued for a slot when the host is slowed down past maxWaitMs while they wait', async () => {
    // Prepare
    const clock = new ManualClock();
    const gate = new InProcessHostGate(clock, { maxWaitMs: 1_000 });
    const limits = { concurrency: 1, minDelayMs: 0 };
    const release = await gate.acquire('busy.example', limits);
    const outcomes: unknown[] = [];
    for (let index = 0; index < 2; index++) {
      void gate.acquire('busy.example', limits).then(
        (acquired) => outcomes.push(acquired),
        (caught: unknown) => outcomes.push(caught),
      );
    }
    await settle();

    // Act: the request in flight answers 429 with a long Retry-After, then gives its slot up; the clock does not move
    await gate.slowDown('busy.example', clock.now() + 5_000);
    release();
    await settle();

    // Assess: both handed back at once with the wait, and the host is served again once the pause is over
    expect(outcomes).toHaveLength(2);
    for (const outcome of outcomes) {
      expect(outcome).toBeInstanceOf(PolitenessDeferral);
      expect((outcome as PolitenessDeferral).delayMs).toBe(5_000);
    }
    clock.advance(5_000);
    const next = await runUntil(clock, gate.acquire('busy.example', limits));
    next();
  });

  it('defers a request waiting out minDelayMs when the host is slowed down past maxWaitMs meanwhile', async () => {
    // Prepare
    const clock = new ManualClock();
    const gate = new InProcessHostGate(clock, { maxWaitMs: 1_000 });
    const limits = { concurrency: 2, minDelayMs: 500 };
    const first = await gate.acquire('spaced.example', limits);
    const second = gate.acquire('spaced.example', limits).catch((caught: unknown) => caught);

    // Act: 100 ms into the second request's spacing wait, the first answers 429 with a long Retry-After
    await runFor(clock, 100);
    await gate.slowDown('spaced.example', clock.now() + 5_000);
    first();
    const outcome = await runUntil(clock, second);

    // Assess: handed back when its spacing wait ended, not after the pause
    expect(outcome).toBeInstanceOf(PolitenessDeferral);
    expect((outcome as PolitenessDeferral).delayMs).toBe(4_600);
  });
});

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

  it('spaces the starts of several fleet members by minDelayMs, each member its requests in one line, with no reads and no writes on release', async () => {
    // Prepare: four members over one store, three requests each, all wanting to go at once.
    const clock = new ManualClock();
    const state = new CountingStore();
    const members = Array.from({ length: 4 }, () => new StateHostGate(state, { clock, maxWaitMs: 10_000 }));
    const limits = { concurrency: 2, minDelayMs: 100 };
    const starts: { at: number; member: number }[] = [];
    let writesAtStarts = 0;

    // Act
    const all = Promise.all(
      members.flatMap((gate, member) =>
        [0, 1, 2].map(async () => {
          const release = await gate.acquire(host, limits);
          starts.push({ at: clock.now(), member });
          writesAtStarts = state.writes;
          await clock.sleep(30);
          release();
        }),
      ),
    );
    await runFor(clock, 2000);
    await all;

    // Assess
    expect(starts).toHaveLength(12);
    const sorted = [...starts].sort((a, b) => a.at - b.at);
    for (let index = 1; index < sorted.length; index++) {
      expect((sorted[index]?.at ?? 0) - (sorted[index - 1]?.at ?? 0)).toBeGreaterThanOrEqual(100);
    }
    // Each member booked its three starts together: they follow one another.
    const turns = sorted.map((start) => start.member).filter((member, index, all) => member !== all[index - 1]);
    expect(turns).toHaveLength(4);
    expect(state.reads).toBe(0);
    expect(state.writes).toBe(writesAtStarts);
    // One booking per member, with a failed guess of idle or busy and a failed creation of the item (all four
    // start at once, before it exists): at most three writes each, for three starts.
    expect(state.writes).toBeLessThanOrEqual(3 * 4);
  });

  it("books the starts of a process's waiting requests with one write; a second member's come after them, handed back with theirs", async () => {
    // Prepare
    const clock = new ManualClock();
    const state = new CountingStore();
    const first = new StateHostGate(state, { clock });
    const second = new StateHostGate(state, { clock });
    const limits = { concurrency: 2, minDelayMs: 250 };
    (await first.acquire(host, limits))();
    await runFor(clock, 1000);
    const writes = state.writes;
    const begun = clock.now();

    // Act: twelve requests of the first member at once, then three of the second.
    const starts: number[] = [];
    const firsts = Promise.all(
      Array.from({ length: 12 }, async () => {
        const release = await first.acquire(host, limits);
        starts.push(clock.now() - begun);
        await clock.sleep(20);
        release();
      }),
    );
    await runFor(clock, 0);
    const firstWrites = state.writes - writes;
    const deferrals = await Promise.all(
      [0, 1, 2].map(() =>
        second.acquire(host, limits).then(
          () => undefined,
          (error: unknown) => error as PolitenessDeferral,
        ),
      ),
    );
    await runFor(clock, 3000);
    await firsts;

    // Assess: the first member's requests start 250 ms apart, waiting in process for their turn; the second's are
    // handed back at once, each with its start after the first member's twelve.
    expect(starts).toEqual([0, 250, 500, 750, 1000, 1250, 1500, 1750, 2000, 2250, 2500, 2750]);
    expect(firstWrites).toBe(1);
    expect(deferrals.every((deferral) => deferral instanceof PolitenessDeferral)).toBe(true);
    expect(deferrals.map((deferral) => (deferral?.slotAt ?? 0) - begun)).toEqual([3000, 3250, 3500]);
    expect(deferrals.map((deferral) => deferral?.delayMs)).toEqual([3000, 3250, 3500]);
    expect(state.writes - writes).toBeLessThanOrEqual(3);
    expect(state.reads).toBe(0);
  });

  it('starts a request that comes back with its booked start then, without a write; a start that passed is booked again', async () => {
    // Prepare: a member books three starts 1 s apart and hands the last two back (maxWaitMs 500).
    const clock = new ManualClock();
    const state = new CountingStore();
    const limits = { concurrency: 1, minDelayMs: 1000 };
    const first = new StateHostGate(state, { clock, maxWaitMs: 500 });
    const begun = clock.now();
    const booked = [0, 1, 2].map(() => first.acquire(host, limits).catch((error: unknown) => error as PolitenessDeferral));
    await runFor(clock, 0);
    ((await booked[0]) as () => void)();
    const [second, third] = [await booked[1], await booked[2]] as PolitenessDeferral[];
    const writes = state.writes;
    // Another member (the task came back elsewhere) with the first's starts.
    const other = new StateHostGate(state, { clock, maxWaitMs: 500 });

    // Act
    await runFor(clock, 500);
    const onTime = other.acquire(host, limits, { state, slotAt: second?.slotAt as number });
    await runFor(clock, 500);
    (await onTime)();
    const startedOnTime = clock.now() - begun;
    const onTimeWrites = state.writes - writes;
    await runFor(clock, 1500);
    const late = other.acquire(host, limits, { state, slotAt: third?.slotAt as number });
    await runFor(clock, 500);
    (await late)();

    // Assess: the late one was booked again, after the last start booked (3 s), not at its passed one (2 s).
    expect([second?.slotAt, third?.slotAt].map((at) => (at ?? 0) - begun)).toEqual([1000, 2000]);
    expect(startedOnTime).toBe(1000);
    expect(onTimeWrites).toBe(0);
    expect(state.writes - writes).toBeGreaterThanOrEqual(1);
    expect(clock.now() - begun).toBe(3000);
  });

  it('hands a request back without a start when the host is booked beyond the horizon, and asks again only once it moved on', async () => {
    // Prepare: a member books 40 starts 1 s apart (40 s ahead) with a horizon of 30 s.
    const clock = new ManualClock();
    const state = new CountingStore();
    const limits = { concurrency: 1, minDelayMs: 1000 };
    const busy = new StateHostGate(state, { clock, maxWaitMs: 1000, horizonMs: 30_000 });
    const begun = clock.now();
    const booked = Array.from({ length: 40 }, () => busy.acquire(host, limits).catch((error: unknown) => error));
    await runFor(clock, 0);
    const other = new StateHostGate(state, { clock, maxWaitMs: 1000, horizonMs: 30_000, random: () => 0 });

    // Act
    const first = await other.acquire(host, limits).catch((error: unknown) => error);
    const writes = state.writes;
    const second = await other.acquire(host, limits).catch((error: unknown) => error);

    // Assess
    expect(first).toBeInstanceOf(PolitenessDeferral);
    expect((first as PolitenessDeferral).slotAt).toBeUndefined();
    expect((first as PolitenessDeferral).delayMs).toBe(10_000);
    expect(second).toBeInstanceOf(PolitenessDeferral);
    expect(state.writes).toBe(writes);
    expect((await state.inner.get(`host#${host}`, 'gate'))?.next).toBe(begun + 40_000);
    ((await booked[0]) as () => void)();
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
    // The task comes back with the start it was handed back with.
    const acquired = other.acquire(host, limits, { state, slotAt: (deferral as PolitenessDeferral).slotAt as number });
    await runFor(clock, 1000);
    const release = await acquired;

    // Assess
    expect(deferral).toBeInstanceOf(PolitenessDeferral);
    expect((deferral as PolitenessDeferral).delayMs).toBeGreaterThanOrEqual(9900);
    expect((deferral as PolitenessDeferral).slotAt).toBe(until);
    expect(clock.now()).toBe(until);
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
