import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { InProcessHostGate } from '../../../shared/pipeline/politeness.js';

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
    const [secondAt = 0, thirdAt = 0] = starts;
    expect(thirdAt - secondAt).toBeGreaterThanOrEqual(39);
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
