import { createServer, type Server } from 'node:http';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedStateStore } from '../shared/local/state.js';
import { PolitenessDeferral, StateHostGate } from '../shared/pipeline/politeness.js';
import { systemClock } from '../shared/ports.js';
import { closeServer, listenOnLoopback } from './fixtures/http-fixture.js';

/** Records when each request arrived and how many were in flight at once. */
function recordingServer() {
  const arrivals: number[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const server: Server = createServer((_request, response) => {
    arrivals.push(performance.now());
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    setTimeout(() => {
      inFlight--;
      response.end('ok');
    }, 15);
  });
  return { server, arrivals, maxInFlight: () => maxInFlight };
}

describe('Class: StateHostGate (politeness shared by a fleet of fetchers)', () => {
  const site = recordingServer();
  let url: string;

  beforeAll(async () => {
    url = `${await listenOnLoopback(site.server)}/`;
  });

  afterAll(async () => {
    await closeServer(site.server);
  });

  it('never exceeds the host rate or concurrency, measured at the server, with several concurrent workers', async () => {
    // Prepare: three fleet members, each with its own gate, sharing only the state store (as Lambda instances share DynamoDB).
    const state = new EmbeddedStateStore();
    const limits = { concurrency: 2, minDelayMs: 200 };
    const workers = Array.from({ length: 3 }, () => new StateHostGate(state, { clock: systemClock, maxWaitMs: 60_000 }));
    // Act: 15 requests, five per worker, all wanting to go at once.
    await Promise.all(
      workers.map(async (gate) => {
        for (let index = 0; index < 5; index++) {
          const release = await gate.acquire('127.0.0.1', limits);
          try {
            const response = await request(url);
            await response.body.text();
          } finally {
            release();
          }
        }
      }),
    );
    // Assess
    expect(site.arrivals).toHaveLength(15);
    // Arrival times carry connection jitter (a new connection arrives a few ms later than a reused one), so one gap
    // may look a little short; over every window of requests the rate must hold.
    const gaps = site.arrivals.slice(1).map((at, index) => at - (site.arrivals[index] ?? 0));
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(200 * 0.5);
    for (let window = 2; window < site.arrivals.length; window++) {
      const span = (site.arrivals[window] ?? 0) - (site.arrivals[0] ?? 0);
      expect(span).toBeGreaterThanOrEqual(window * 200 - 60);
    }
    expect(site.maxInFlight()).toBeLessThanOrEqual(2);
  });

  it('defers instead of waiting long: the caller puts its task back with a delay', async () => {
    const state = new EmbeddedStateStore();
    const limits = { concurrency: 1, minDelayMs: 100 };
    const gate = new StateHostGate(state, { clock: systemClock, maxWaitMs: 50 });
    await gate.slowDown('busy.example', Date.now() + 5_000);
    await expect(gate.acquire('busy.example', limits)).rejects.toBeInstanceOf(PolitenessDeferral);
    const other = new StateHostGate(state, { clock: systemClock, maxWaitMs: 50 });
    const error = await other.acquire('busy.example', limits).catch((caught: unknown) => caught);
    expect((error as PolitenessDeferral).delayMs).toBeGreaterThan(4_000);
  });

  it('holds no slot for a fetcher that died before releasing: the next member starts one delay later', async () => {
    const state = new EmbeddedStateStore();
    const limits = { concurrency: 1, minDelayMs: 100 };
    const crashed = new StateHostGate(state, { clock: systemClock });
    await crashed.acquire('crash.example', limits);
    const started = Date.now();
    const survivor = new StateHostGate(state, { clock: systemClock, maxWaitMs: 2_000 });
    const release = await survivor.acquire('crash.example', limits);
    release();
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
  });
});
