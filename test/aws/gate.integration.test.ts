import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoStateStore } from '../../shared/aws/dynamo-state-store.js';
import { meteredState, RequestMeter } from '../../shared/pipeline/metering.js';
import { PolitenessDeferral, StateHostGate } from '../../shared/pipeline/politeness.js';
import { systemClock } from '../../shared/ports.js';
import { createStateTable, type DynamoPeer, PEER_CREDENTIALS, PEER_REGION, startDynamoPeer } from '../support/aws-peers.js';

describe('Class: StateHostGate over DynamoDB (dynalite)', () => {
  let peer: DynamoPeer;
  let client: DynamoDBClient;
  let state: DynamoStateStore;
  let hosts = 0;
  /** A fresh host per test. */
  const newHost = () => `h${++hosts}.example`;
  const operations = () => new Map(peer.operations);
  const delta = (before: Map<string, number>, name: string) => (peer.operations.get(name) ?? 0) - (before.get(name) ?? 0);

  beforeAll(async () => {
    peer = await startDynamoPeer();
    client = new DynamoDBClient({ region: PEER_REGION, credentials: PEER_CREDENTIALS, endpoint: peer.endpoint });
    await createStateTable(client, 'gate-test');
    state = new DynamoStateStore({ client, tableName: 'gate-test' });
  });
  afterAll(async () => {
    client?.destroy();
    await peer?.stop();
  });

  it('spaces the starts of several fleet members by minDelayMs with UpdateItem alone (no GetItem when the item is returned)', async () => {
    // Prepare: three members, two requests each at once; the host is booked once so the item exists.
    const host = newHost();
    const limits = { concurrency: 2, minDelayMs: 150 };
    const members = Array.from({ length: 3 }, () => new StateHostGate(state, { clock: systemClock, maxWaitMs: 5_000 }));
    const booked = Date.now();
    (await members[0]?.acquire(host, limits))?.();
    const before = operations();

    // Act
    const starts: number[] = [];
    await Promise.all(
      members.flatMap((gate) =>
        [0, 1].map(async () => {
          const release = await gate.acquire(host, limits);
          starts.push(Date.now());
          release();
        }),
      ),
    );

    // Assess
    // Booked starts are 150 ms apart from the first booking on. A start is seen when its timer fires, which on this
    // event loop (shared by the members and dynalite) may be late by tens of ms on a loaded machine, never early: so
    // the k-th start is measured from before the first booking (a gap between two starts shrinks when the first of
    // them is late: 66 ms was seen for 150). Timers run on a monotonic clock and `Date.now()` is whole ms, so a start
    // may read 1 ms early (449 was seen for 450). A gate that did not space them starts all six within a few ms.
    const sorted = starts.sort((a, b) => a - b);
    for (const [index, start] of sorted.entries()) expect(start - booked).toBeGreaterThanOrEqual((index + 1) * 150 - 1);
    // Each member books its two starts with one write (and a failed guess of idle or busy at most once more).
    expect(delta(before, 'UpdateItem')).toBeGreaterThanOrEqual(3);
    expect(delta(before, 'UpdateItem')).toBeLessThanOrEqual(6);
    // dynalite returns no item with a failed condition, so the adapter looks it up; DynamoDB needs no GetItem.
    expect(delta(before, 'GetItem')).toBeLessThanOrEqual(delta(before, 'UpdateItem') - 3);
  });

  it("pushes every member's next start back after a slowDown, and defers instead of waiting", async () => {
    // Prepare
    const host = newHost();
    const limits = { concurrency: 1, minDelayMs: 100 };
    const throttled = new StateHostGate(state, { clock: systemClock });
    const other = new StateHostGate(state, { clock: systemClock, maxWaitMs: 500 });

    // Act
    await throttled.slowDown(host, Date.now() + 5_000);
    const error = await other.acquire(host, limits).catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(PolitenessDeferral);
    expect((error as PolitenessDeferral).delayMs).toBeGreaterThan(4_000);
    expect((await state.get(`host#${host}`, 'gate'))?.next).toBeGreaterThan(Date.now() + 4_000);
  });

  it('asks DynamoDB nothing for a host with minDelayMs 0', async () => {
    // Prepare
    const host = newHost();
    const gate = new StateHostGate(state, { clock: systemClock });
    const before = operations();

    // Act
    const releases = await Promise.all([0, 1, 2].map(() => gate.acquire(host, { concurrency: 4, minDelayMs: 0 })));
    for (const release of releases) release();

    // Assess
    expect(delta(before, 'UpdateItem') + delta(before, 'GetItem')).toBe(0);
  });

  it("books through the run's metered store when given one, so the run is billed for every booking", async () => {
    // Prepare: one gate shared by two runs, each with its own meter
    const host = newHost();
    const gate = new StateHostGate(state, { clock: systemClock, maxWaitMs: 5_000 });
    const meters = [new RequestMeter(), new RequestMeter()];
    const limits = { concurrency: 1, minDelayMs: 50 };
    const before = operations();

    // Act: three requests of run 0, one of run 1, and a slowDown seen by run 1
    for (const meter of [meters[0], meters[0], meters[1], meters[0]]) {
      if (!meter) continue;
      (await gate.acquire(host, limits, { state: meteredState(state, meter) }))();
    }
    await gate.slowDown(host, Date.now() + 100, { state: meteredState(state, meters[1] as RequestMeter) });

    // Assess: every UpdateItem the peer received is counted by the run that made it, with its capacity
    const updates = meters.map((meter) => meter.counts['dynamodb:UpdateItem'] ?? 0);
    expect(updates[0]).toBeGreaterThanOrEqual(3);
    expect(updates[1]).toBeGreaterThanOrEqual(2);
    expect((updates[0] ?? 0) + (updates[1] ?? 0)).toBe(delta(before, 'UpdateItem'));
    for (const [index, meter] of meters.entries()) {
      expect(meter.counts['dynamodb:WriteUnits'], `run ${index}`).toBe(updates[index]);
    }
  });
});
