import { layout } from '../layout.js';
import type { PipelineContext } from './context.js';
import { type RunMeta, type RunState, TERMINAL_STATES, type TerminalState, terminalCount } from './ledger.js';

/** The run manifest (`runs/<job>/<runId>/manifest.json`). */
export interface RunManifest {
  readonly job: string;
  readonly runId: string;
  readonly state: RunState;
  readonly startedAt: string;
  readonly finishedAt: string | null;
  readonly durationMs: number | null;
  /** URLs accepted into the run, and how each ended. `parsed + unchanged + skipped + failed = accepted`. */
  readonly urls: { readonly accepted: number } & Readonly<Record<TerminalState, number>>;
  readonly items: { readonly written: number; readonly invalid: number; readonly duplicates: number };
  readonly bytes: { readonly wire: number; readonly body: number };
  readonly pagesPerSecond: number | null;
  /** Terminal reasons counted, e.g. `{ "http-404": 5, "budget:maxPages": 2 }`. */
  readonly reasons: Readonly<Record<string, number>>;
  /** Key of the NDJSON file listing every failed or skipped URL with its reason. */
  readonly failuresKey: string | null;
}

/** The manifest of a run as the ledger sees it now (a running run gets a provisional one). */
export function manifestOf(meta: RunMeta, reasons: Record<string, number>, failuresKey: string | null): RunManifest {
  const counts = meta.counters;
  const durationMs = meta.finishedAt === undefined ? null : meta.finishedAt - meta.startedAt;
  const fetched = counts.parsed + counts.unchanged + counts.failed;
  return {
    job: meta.job,
    runId: meta.runId,
    state: meta.state,
    startedAt: new Date(meta.startedAt).toISOString(),
    finishedAt: meta.finishedAt === undefined ? null : new Date(meta.finishedAt).toISOString(),
    durationMs,
    urls: {
      accepted: counts.accepted,
      ...(Object.fromEntries(TERMINAL_STATES.map((state) => [state, counts[state]])) as Record<TerminalState, number>),
    },
    items: { written: counts.items, invalid: counts.invalidItems, duplicates: counts.duplicateItems },
    bytes: { wire: counts.wireBytes, body: counts.bodyBytes },
    pagesPerSecond: durationMs && durationMs > 0 ? Math.round((fetched / durationMs) * 1000 * 10) / 10 : null,
    reasons,
    failuresKey,
  };
}

/** The final state a complete run deserves. */
export function finalState(meta: RunMeta, reasons: Record<string, number>): Exclude<RunState, 'running'> {
  const { parsed, unchanged, failed } = meta.counters;
  if (failed > 0 && parsed + unchanged === 0) return 'failed';
  const overBudget = Object.keys(reasons).some((reason) => reason.startsWith('budget:'));
  return failed > 0 || overBudget ? 'partial' : 'succeeded';
}

/** Writes the provisional manifest of a run that just started. */
export async function writeRunningManifest(context: PipelineContext, meta: RunMeta): Promise<void> {
  await context.store.put(layout.manifest(meta.job, meta.runId), JSON.stringify(manifestOf(meta, {}, null), null, 2), {
    contentType: 'application/json',
  });
}

/**
 * Finishes the run when every accepted URL is terminal: writes the failures file and the manifest, then marks the
 * run finished. Safe to call from any stage at any time and more than once: it does nothing while work is pending
 * or once the run is finished, and concurrent finishers write the same content.
 */
export async function finalizeIfComplete(context: PipelineContext, job: string, runId: string): Promise<RunManifest | undefined> {
  const meta = await context.ledger.getRun(job, runId);
  if (meta?.state !== 'running' || terminalCount(meta) < meta.counters.accepted) return undefined;
  const reasons: Record<string, number> = {};
  const lines: string[] = [];
  for await (const entry of context.ledger.urls(job, runId)) {
    if (entry.status !== 'failed' && entry.status !== 'skipped') continue;
    const reason = entry.reason ?? 'unknown';
    reasons[reason] = (reasons[reason] ?? 0) + 1;
    lines.push(
      JSON.stringify({ url: entry.url, state: entry.status, reason, message: entry.message ?? null, depth: entry.depth }),
    );
  }
  const failuresKey = lines.length > 0 ? layout.failures(job, runId) : null;
  if (failuresKey) await context.store.put(failuresKey, `${lines.join('\n')}\n`, { contentType: 'application/x-ndjson' });
  const now = context.clock.now();
  const state = finalState(meta, reasons);
  const manifest = manifestOf({ ...meta, state, finishedAt: now }, reasons, failuresKey);
  await context.store.put(layout.manifest(job, runId), JSON.stringify(manifest, null, 2), { contentType: 'application/json' });
  const finished = await context.ledger.finish(job, runId, state, now);
  if (finished) context.log.info('run finished', { job, runId, state, urls: manifest.urls, items: manifest.items });
  return manifest;
}
