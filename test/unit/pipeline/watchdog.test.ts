import { afterEach, describe, expect, it } from 'vitest';
import { parseJob } from '../../../shared/job/load.js';
import { FileSystemObjectStore } from '../../../shared/local/object-store.js';
import { EmbeddedStateStore } from '../../../shared/local/state.js';
import type { PipelineContext } from '../../../shared/pipeline/context.js';
import { STALLED, watchRuns } from '../../../shared/pipeline/watchdog.js';
import { readManifest } from '../../../shared/query.js';
import { ManualClock } from '../../fixtures/clock.js';
import { makeTempDir, type TempDir } from '../../fixtures/temp-dir.js';
import { expectManifestInvariant } from '../../support/manifest.js';
import { offlineContext } from '../../support/one-page-runs.js';

const MINUTE = 60_000;
const JOB = 'shop';

describe('Function: watchRuns', () => {
  let dir: TempDir | undefined;
  afterEach(async () => {
    await dir?.remove();
    dir = undefined;
  });

  async function setup(): Promise<{ context: PipelineContext; clock: ManualClock; metrics: string[] }> {
    dir = await makeTempDir('watchdog');
    const clock = new ManualClock(Date.UTC(2026, 10, 26, 6));
    const metrics: string[] = [];
    const context = offlineContext(
      [parseJob({ name: JOB, start: { urls: ['https://shop.example/'] } }, 'shop.ts')],
      new FileSystemObjectStore({ root: dir.path }),
      new EmbeddedStateStore(),
      { clock, metrics: { count: (name) => metrics.push(name) } },
    );
    return { context, clock, metrics };
  }

  async function accept(context: PipelineContext, runId: string, path: string, now: number): Promise<void> {
    await context.ledger.accept(
      JOB,
      runId,
      { url: `https://shop.example${path}`, depth: 1, template: undefined, parent: 'seed' },
      100,
      now,
    );
  }

  it('ends a run stalled only after it made no progress for stallAfterMs, its pending URLs failed', async () => {
    // Prepare: a run with one page parsed and one pending whose message was lost
    const { context, clock, metrics } = await setup();
    const runId = '20261126T060000Z-stuck1';
    await context.ledger.createRun(JOB, runId, { hosts: ['shop.example'], seeds: ['https://shop.example/'] }, clock.now());
    await accept(context, runId, '/', clock.now());
    await accept(context, runId, '/a', clock.now());
    await context.ledger.complete(JOB, runId, [{ url: 'https://shop.example/', state: 'parsed' }]);
    const options = { stallAfterMs: 30 * MINUTE };

    // Act: the first look notes progress; 20 minutes later a URL is accepted (progress); 29 quiet minutes; then 31
    const first = await watchRuns(context, options);
    clock.advance(20 * MINUTE);
    await accept(context, runId, '/b', clock.now());
    const afterProgress = await watchRuns(context, options);
    clock.advance(29 * MINUTE);
    const quiet = await watchRuns(context, options);
    clock.advance(2 * MINUTE);
    const stalled = await watchRuns(context, options);

    // Assess
    expect(first).toEqual({ checked: 1, finished: [], stalled: [] });
    expect(afterProgress.stalled).toEqual([]);
    expect(quiet.stalled).toEqual([]);
    expect(stalled.stalled).toEqual([`${JOB}/${runId}`]);
    const manifest = await readManifest(context.store, JOB, runId);
    expect(manifest).toMatchObject({
      state: 'stalled',
      urls: { accepted: 3, parsed: 1, failed: 2 },
      reasons: { [STALLED]: 2 },
    });
    if (!manifest) throw new Error('no manifest');
    expectManifestInvariant(manifest);
    const failures = Buffer.from((await context.store.get(manifest.failuresKey ?? '')) ?? []).toString('utf8');
    expect(failures).toMatch(/"reason":"stalled","message":"no progress for 31 minutes/);
    expect(metrics).toEqual(['RunsStalled']);
    expect((await context.ledger.getRun(JOB, runId))?.state).toBe('stalled');
    // Finished runs leave the watchdog's list.
    expect(await watchRuns(context, options)).toEqual({ checked: 0, finished: [], stalled: [] });
  });

  it('counts handler work on a run (its request counters) as progress, so deferred tasks do not stall it', async () => {
    // Prepare
    const { context, clock } = await setup();
    const runId = '20261126T060000Z-defer1';
    await context.ledger.createRun(JOB, runId, { hosts: ['shop.example'], seeds: ['https://shop.example/'] }, clock.now());
    await accept(context, runId, '/', clock.now());
    const options = { stallAfterMs: 30 * MINUTE };

    // Act: a fetch deferred every 15 minutes (an invocation records its requests each time)
    await watchRuns(context, options);
    const reports = [];
    for (let index = 0; index < 4; index++) {
      clock.advance(15 * MINUTE);
      await context.ledger.addRequests(JOB, runId, { 'lambda:Invoke': 1 });
      reports.push(await watchRuns(context, options));
    }

    // Assess
    expect(reports.flatMap((report) => report.stalled)).toEqual([]);
    expect((await context.ledger.getRun(JOB, runId))?.state).toBe('running');
  });

  it('finishes a quiet run whose counters lag its URL entries (a crash between a move and its counters)', async () => {
    // Prepare: every URL terminal, but the parsed counter never added
    const { context, clock } = await setup();
    const runId = '20261126T060000Z-lag001';
    await context.ledger.createRun(JOB, runId, { hosts: ['shop.example'], seeds: ['https://shop.example/'] }, clock.now());
    await accept(context, runId, '/', clock.now());
    await context.ledger.complete(JOB, runId, [{ url: 'https://shop.example/', state: 'parsed' }]);
    await context.ledger.addCounters(JOB, runId, { parsed: -1 });
    const options = { stallAfterMs: 30 * MINUTE };

    // Act: the first look notes progress, the next (5 minutes later, nothing moved) verifies the entries
    const first = await watchRuns(context, options);
    clock.advance(5 * MINUTE);
    const second = await watchRuns(context, options);

    // Assess
    expect(first.finished).toEqual([]);
    expect(second.finished).toEqual([`${JOB}/${runId}`]);
    const manifest = await readManifest(context.store, JOB, runId);
    expect(manifest).toMatchObject({ state: 'succeeded', urls: { accepted: 1, parsed: 1 } });
  });

  it('finishes a run that is complete but was never finished (its finisher crashed)', async () => {
    // Prepare
    const { context, clock } = await setup();
    const runId = '20261126T060000Z-done01';
    await context.ledger.createRun(JOB, runId, { hosts: ['shop.example'], seeds: ['https://shop.example/'] }, clock.now());
    await accept(context, runId, '/', clock.now());
    await context.ledger.complete(JOB, runId, [{ url: 'https://shop.example/', state: 'parsed' }]);

    // Act
    const report = await watchRuns(context, { stallAfterMs: 30 * MINUTE });

    // Assess
    expect(report.finished).toEqual([`${JOB}/${runId}`]);
    expect((await readManifest(context.store, JOB, runId))?.state).toBe('succeeded');
  });
});
