import { describeError } from '../errors.js';
import type { FailureReason } from '../failure-reasons.js';
import type { PipelineContext } from './context.js';
import { finalizeIfComplete, type RunManifest } from './finalize.js';
import { type Completion, type RunMeta, terminalCount } from './ledger.js';

/**
 * The watchdog: a run that makes no progress for a while is stuck (a message lost or dead-lettered without being
 * settled, a records object gone), and would otherwise stay `running` forever with no manifest and no alarm but the
 * dead-letter queue's. The watchdog ends such a run's pending URLs `failed` (reason {@link STALLED}) and finishes it
 * `stalled` (manifest, `RunsStalled` metric, alarm). On AWS it runs every few minutes over every active run
 * ({@link watchRuns}); locally the runtime calls {@link stallRun} when its queues are idle while a run is unfinished.
 */

/** The reason of URLs the watchdog ended. */
export const STALLED = 'stalled' as const satisfies FailureReason;

/** Options of {@link watchRuns}. */
export interface WatchdogOptions {
  /**
   * How long a run may go without progress before it is ended `stalled`. It must exceed the longest legitimate quiet
   * time: an SQS delay (at most 15 minutes: Retry-After and politeness deferrals) and a message's visibility timeout
   * (a crashed invocation's messages come back only after it).
   */
  readonly stallAfterMs: number;
}

/** What one pass of the watchdog saw and did. */
export interface WatchdogReport {
  /** Active runs looked at. */
  readonly checked: number;
  /** Runs found complete but not finished (a crashed finisher, counters that lag the entries), finished now. */
  readonly finished: readonly string[];
  /** Runs ended stalled. */
  readonly stalled: readonly string[];
}

/**
 * How far a run has got: a number that grows with every URL accepted or finished and with every handler invocation
 * that worked on the run (its request counters), so a run whose tasks are only deferred still shows progress.
 */
export function progressOf(meta: RunMeta): number {
  const requests = Object.values(meta.requests).reduce((sum, value) => sum + value, 0);
  return meta.counters.accepted + terminalCount(meta) + Math.round(requests * 1000) / 1000;
}

function minutes(ms: number): string {
  const value = Math.round((ms / 60_000) * 10) / 10;
  return `${value} minute${value === 1 ? '' : 's'}`;
}

/**
 * Ends a stuck run: every URL still pending ends `failed` (reason {@link STALLED}, the message naming how long there
 * was no progress), and the run finishes `stalled`; a run whose URL entries are all terminal (its counters lag) finishes
 * as it deserves instead. Returns the manifest, or `undefined` when the run is not there, already finished, or took
 * new URLs meanwhile (it is moving again: the next look decides).
 */
export async function stallRun(
  context: PipelineContext,
  job: string,
  runId: string,
  quietMs: number,
): Promise<RunManifest | undefined> {
  const meta = await context.ledger.getRun(job, runId);
  if (meta?.state !== 'running') return undefined;
  // Complete after all, its counters lagging its URL entries: it finishes as it deserves, not stalled.
  const complete = await finalizeIfComplete(context, job, runId, { verify: true });
  if (complete) return complete;
  const message = `no progress for ${minutes(quietMs)}: ended by the watchdog`;
  const pending: Completion[] = [];
  for await (const entry of context.ledger.urls(job, runId)) {
    if (entry.status === 'accepted') pending.push({ url: entry.url, state: 'failed', reason: STALLED, message });
  }
  await context.ledger.complete(job, runId, pending);
  const manifest = await finalizeIfComplete(context, job, runId, { stalled: true });
  if (manifest) {
    context.log.error('run stalled', { job, runId, reason: STALLED, pending: pending.length, quietMs });
  }
  return manifest;
}

/**
 * One pass over the active runs: notes each run's progress, finishes runs that are complete but were not finished
 * (by their counters, or, once a run is quiet, by its URL entries: counters can lag them), and ends `stalled` those
 * whose progress has not moved for `stallAfterMs` since the watchdog first saw it there.
 * A failure on one run is logged and the pass goes on with the others.
 */
export async function watchRuns(context: PipelineContext, options: WatchdogOptions): Promise<WatchdogReport> {
  const finished: string[] = [];
  const stalled: string[] = [];
  let checked = 0;
  for await (const run of context.ledger.activeRuns()) {
    checked++;
    const { job, runId } = run;
    try {
      const meta = await context.ledger.getRun(job, runId);
      if (meta?.state !== 'running') continue;
      const now = context.clock.now();
      if (terminalCount(meta) >= meta.counters.accepted && meta.counters.accepted > 0) {
        if (await finalizeIfComplete(context, job, runId)) finished.push(`${job}/${runId}`);
        continue;
      }
      const progress = progressOf(meta);
      if (run.progress !== progress || run.progressAt === undefined) {
        await context.ledger.noteProgress(job, runId, progress, now);
        continue;
      }
      // Quiet since the last look. Counters may lag the URL entries (a crash between a URL's move and its records
      // object's counters; see ledger.ts): the entries decide whether the run is in fact complete.
      if (await finalizeIfComplete(context, job, runId, { verify: true })) {
        finished.push(`${job}/${runId}`);
        continue;
      }
      const quietMs = now - run.progressAt;
      if (quietMs < options.stallAfterMs) continue;
      const manifest = await stallRun(context, job, runId, quietMs);
      if (manifest) (manifest.state === 'stalled' ? stalled : finished).push(`${job}/${runId}`);
    } catch (error) {
      context.log.error('watchdog: could not check a run', { job, runId, error: describeError(error) });
    }
  }
  return { checked, finished, stalled };
}
