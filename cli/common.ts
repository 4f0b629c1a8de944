import { appendFileSync, mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { describeError } from '../shared/errors.js';
import type { SsrfPolicy } from '../shared/fetch/ssrf.js';
import { loadJobDirectory } from '../shared/job/load.js';
import type { Job } from '../shared/job/schema.js';
import { isDiskFull } from '../shared/local/disk-full.js';
import { LocalRuntime, type RunOutcome, type RunProgress } from '../shared/local/runtime.js';
import { localSecretSource } from '../shared/local/secrets.js';
import type { RunManifest } from '../shared/pipeline/finalize.js';
import { type ReparseOf, terminalCount } from '../shared/pipeline/ledger.js';
import type { Log } from '../shared/ports.js';
import type { Output } from './format.js';
import { CLI_JOB_LOADING } from './typescript-jobs.js';

/** Exit codes scripts can rely on. */
export const EXIT = {
  ok: 0,
  error: 1,
  usage: 2,
  partial: 3,
  runFailed: 4,
  stalled: 5,
} as const;

/** A mistake in how the CLI was called or configured: exit code 2 with the message. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * A stack that does not exist, or lacks an output a command needs: a usage error (exit code 2) with the message.
 * Defined here, not beside the stack lookup, so that mapping errors to exit codes loads no AWS SDK.
 */
export class StackLookupError extends Error {
  override readonly name = 'StackLookupError';
}

/** The CLI's configuration from the environment, validated once. */
export const environment = z.object({
  SCRAPELINE_DATA_DIR: z.string().min(1).default('.scrapeline'),
  SCRAPELINE_JOBS_DIR: z.string().min(1).default('jobs'),
  /** Addresses or CIDRs the SSRF guard lets through, comma-separated (e.g. `127.0.0.1` for a site on this machine). */
  SCRAPELINE_ALLOW_ADDRESSES: z
    .string()
    .optional()
    .transform((value) =>
      (value ?? '')
        .split(',')
        .map((entry) => entry.trim())
        .filter(Boolean),
    ),
});

/** Where the CLI writes; tests capture it. */
export interface CliIo {
  readonly stdout: Output;
  readonly stderr: Output;
  /** Whether stderr is a terminal (live progress line). */
  readonly interactive: boolean;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** Loads one job by name; other invalid job files don't stand in its way. */
export async function loadJob(jobsDir: string, name: string): Promise<Job> {
  let loaded: Awaited<ReturnType<typeof loadJobDirectory>>;
  try {
    loaded = await loadJobDirectory(jobsDir, undefined, CLI_JOB_LOADING);
  } catch (error) {
    throw new UsageError(`cannot read the jobs folder ${jobsDir}: ${describeError(error)}`);
  }
  const found = loaded.find((entry) => ('job' in entry ? entry.job.name === name : false));
  if (found && 'job' in found) return found.job;
  const broken = loaded.flatMap((entry) => ('error' in entry ? [entry.error] : []));
  const known = loaded.flatMap((entry) => ('job' in entry ? [entry.job.name] : []));
  const hint =
    broken.length > 0 ? `\ninvalid job files (one may be "${name}"):\n${broken.map((error) => error.message).join('\n')}` : '';
  throw new UsageError(`no job named "${name}" in ${jobsDir} (jobs: ${known.join(', ') || 'none'})${hint}`);
}

/** A log that appends JSON lines to a file, and echoes to stderr when verbose. */
export function fileLog(file: string, io: CliIo, verbose: boolean, onWriteError?: (error: unknown) => void): Log {
  mkdirSync(join(file, '..'), { recursive: true });
  // A log line that cannot be written (disk full) must not break the work it describes: the file is left alone
  // from then on, and the caller is told once.
  let failed = false;
  const write = (level: string) => (message: string, attributes?: Record<string, unknown>) => {
    const line = JSON.stringify({ time: new Date().toISOString(), level, message, ...attributes });
    if (!failed) {
      try {
        appendFileSync(file, `${line}\n`);
      } catch (error) {
        failed = true;
        io.stderr.write(`note: the log ${file} cannot be written (${describeError(error)}); it is left as it is\n`);
        onWriteError?.(error);
      }
    }
    if (verbose || level === 'ERROR') io.stderr.write(`${line}\n`);
  };
  return { debug: () => {}, info: write('INFO'), warn: write('WARN'), error: write('ERROR') };
}

export function seconds(ms: number | null): string {
  return ms === null ? '?' : `${(ms / 1000).toFixed(1)} s`;
}

/** The summary printed after a run. */
export function formatSummary(manifest: RunManifest, dataDir: string): string {
  const { urls, items } = manifest;
  const reasons = Object.entries(manifest.reasons)
    .sort(([, a], [, b]) => b - a)
    .map(([reason, count]) => `${reason} ×${count}`)
    .join(', ');
  const { reparse, changes } = manifest;
  const lines = [
    `Run ${manifest.runId} of ${manifest.job}: ${manifest.state} in ${seconds(manifest.durationMs)} (${manifest.pagesPerSecond ?? '?'} pages/s)`,
    `  URLs      ${urls.accepted} accepted: ${urls.parsed} parsed, ${urls.unchanged} unchanged, ${urls.skipped} skipped, ${urls.failed} failed`,
    `  Items     ${items.written} written, ${items.invalid} invalid (quarantined), ${items.duplicates} duplicates`,
    `  Changes   ${changes.new} new, ${changes.changed} changed, ${changes.removed} removed${changes.removalsInferred ? '' : ' (removals not inferred)'}`,
    reparse
      ? `  Reparsed  ${(manifest.bytes.body / 1e6).toFixed(1)} MB of pages archived by run ${reparse.sourceRunId}; nothing fetched`
      : `  Fetched   ${(manifest.bytes.wire / 1e6).toFixed(1)} MB on the wire, ${(manifest.bytes.body / 1e6).toFixed(1)} MB of pages`,
  ];
  if (reparse) {
    lines.push(
      reparse.asLatest
        ? `  Current   this run is now the job's current state (--as-latest)`
        : `  Current   unchanged: changes are against the current state, which this run did not move (--as-latest would)`,
    );
  }
  if (reasons) {
    const more = manifest.failuresKeys.length > 1 ? ` and ${manifest.failuresKeys.length - 1} more parts beside it` : '';
    lines.push(`  Not done  ${reasons}  (details: ${join(dataDir, 'store', manifest.failuresKey ?? '')}${more})`);
  }
  lines.push(`  Manifest  ${join(dataDir, 'store', 'runs', manifest.job, manifest.runId, 'manifest.json')}`);
  return `${lines.join('\n')}\n`;
}

export function progressLine(progress: RunProgress, startedAt: number): string {
  const { counters } = progress.meta;
  const elapsed = (Date.now() - startedAt) / 1000;
  const done = counters.parsed + counters.unchanged + counters.failed;
  const rate = elapsed > 0 ? (done / elapsed).toFixed(0) : '0';
  const pending = counters.accepted - terminalCount(progress.meta);
  return `fetched+parsed ${counters.parsed} | pending ${pending} | failed ${counters.failed} | skipped ${counters.skipped} | items ${counters.items} | ${rate} pages/s | ${elapsed.toFixed(0)} s`;
}

export function exitCodeOf(outcome: RunOutcome): number {
  if (outcome.kind === 'stalled') return EXIT.stalled;
  const { state } = outcome.manifest;
  if (state === 'stalled') return EXIT.stalled;
  return state === 'succeeded' ? EXIT.ok : state === 'partial' ? EXIT.partial : EXIT.runFailed;
}

export async function runLocally(
  io: CliIo,
  job: Job,
  dataDir: string,
  options: {
    startUrls?: string[];
    runId?: string;
    resume?: string;
    reparse?: ReparseOf;
    verbose: boolean;
    ssrf?: SsrfPolicy;
  },
): Promise<{ outcome: RunOutcome; runId: string }> {
  let logFull: unknown;
  const runtime = new LocalRuntime(
    {
      jobs: [job],
      log: fileLog(join(dataDir, 'logs', `${job.name}.log`), io, options.verbose, (error) => {
        if (isDiskFull(error)) logFull = error;
      }),
      ...(options.ssrf ? { ssrf: options.ssrf } : {}),
      secrets: localSecretSource(io.env, dataDir),
    },
    // Parsing moves to worker threads, leaving the main thread to fetch and write: every core but one, and at least
    // one, so that every page is extracted under a deadline (a worker stuck on a page is replaced).
    { dataDir, parseThreads: Math.max(1, availableParallelism() - 1) },
  );
  const startedAt = Date.now();
  const onProgress = (progress: RunProgress) => {
    if (logFull !== undefined) runtime.noteDiskFull(logFull);
    if (io.interactive) io.stderr.write(`\r\u001b[2K${progressLine(progress, startedAt)}`);
  };
  try {
    let runId: string;
    if (options.reparse) {
      const { sourceRunId, asLatest } = options.reparse;
      runId = await runtime.startReparse(job.name, sourceRunId, { asLatest });
      io.stderr.write(`reparsing run ${sourceRunId} of ${job.name} as run ${runId} (no fetching)\n`);
    } else if (options.resume) {
      runId = options.resume;
      await runtime.resume(job.name, runId);
      io.stderr.write(`resuming run ${runId} of ${job.name}\n`);
    } else {
      for (const interrupted of await runtime.interruptedRuns(job.name)) {
        io.stderr.write(
          `note: run ${interrupted} did not finish; resume it with: scrapeline run ${job.name} --resume ${interrupted}\n`,
        );
      }
      runId = await runtime.startRun(job.name, {
        ...(options.startUrls ? { startUrls: options.startUrls } : {}),
        ...(options.runId ? { runId: options.runId } : {}),
      });
    }
    const outcome = await runtime.waitForRun(job.name, runId, { onProgress });
    if (io.interactive) io.stderr.write('\r\u001b[2K');
    return { outcome, runId };
  } finally {
    await runtime.close();
  }
}

export function reportOutcome(io: CliIo, outcome: RunOutcome, dataDir: string): number {
  if (outcome.kind === 'stalled') {
    io.stderr.write(
      `Run ${outcome.meta.runId} stalled: ${outcome.deadLetters} message(s) are in dead-letter queues and ${outcome.meta.counters.accepted - terminalCount(outcome.meta)} URL(s) are not finished. See ${join(dataDir, 'logs')}.\n`,
    );
  } else {
    io.stdout.write(formatSummary(outcome.manifest, dataDir));
    if (outcome.manifest.state === 'stalled') {
      io.stderr.write(
        `Run ${outcome.manifest.runId} stalled: nothing was left to do but ${outcome.manifest.reasons.stalled ?? 0} URL(s) were not finished; they ended failed (stalled). See ${join(dataDir, 'logs')}.\n`,
      );
    }
  }
  return exitCodeOf(outcome);
}
