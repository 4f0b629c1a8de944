import { Batches } from '../collections.js';
import type { Job } from '../job/schema.js';
import { layout, partitionDate } from '../layout.js';
import { METRICS } from '../metrics.js';
import type { RunEvents, RunFinishedEvent } from '../ports.js';
import { newId, type PipelineContext } from './context.js';
import { GONE_REASONS, PresentKeys, settleItems } from './current-state.js';
import { type ReparseOf, type RunMeta, type RunState, TERMINAL_STATES, type TerminalState, terminalCount } from './ledger.js';
import { estimateCost } from './metering.js';
import { readPageLists } from './pages.js';

/** Item count and field fill rates of one template's pages in a run. */
export interface TemplateQuality {
  /** Valid items: written now plus those on unchanged pages. */
  readonly items: number;
  /** Items extracted, valid or not (duplicates aside), unchanged pages counting what they yielded when last parsed. */
  readonly extracted: number;
  /** Share of extracted items with a value, per field (0–1). */
  readonly fillRates: Readonly<Record<string, number>>;
}

/** Item counts and fill rates of a run per template, compared with the baseline (the last good run). */
export interface QualityReport {
  /** Valid items the run saw: written now plus those on unchanged pages. */
  readonly items: number;
  /** Items extracted in this run, valid or not (duplicates aside), unchanged pages included. */
  readonly extracted: number;
  /** Per template: judged separately, since templates have different fields and page counts. */
  readonly templates: Readonly<Record<string, TemplateQuality>>;
  readonly baseline: {
    readonly runId: string;
    readonly items: number;
    readonly templates: Readonly<
      Record<string, { readonly items: number; readonly fillRates: Readonly<Record<string, number>> }>
    >;
  } | null;
  /** Why the run is degraded; empty when it is not. */
  readonly problems: readonly string[];
}

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
  readonly items: {
    readonly written: number;
    readonly invalid: number;
    readonly duplicates: number;
    readonly onUnchangedPages: number;
  };
  readonly changes: {
    readonly new: number;
    readonly changed: number;
    readonly removed: number;
    readonly removalsInferred: boolean;
  };
  readonly bytes: { readonly wire: number; readonly body: number };
  readonly pagesPerSecond: number | null;
  /** Terminal reasons of failed and skipped URLs counted, e.g. `{ "http-404": 5, "budget:maxPages": 2 }`. */
  readonly reasons: Readonly<Record<string, number>>;
  /**
   * Links counted but not recorded one by one, per reason: past a budget (after the first 1,000 skipped URLs), past
   * `limits.maxLinksPerPage`, `limits.maxSitemapEntries` or `limits.maxSitemaps`. Counted per offer.
   */
  readonly notFollowed: Readonly<Record<string, number>>;
  /** The budget that stopped the run accepting URLs, if one did. */
  readonly budgetExhausted: string | null;
  readonly quality: QualityReport | null;
  /** AWS requests (and DynamoDB capacity units) the run's port calls stand for, per `service:operation`. */
  readonly requests: Readonly<Record<string, number>>;
  /** Estimated cost at AWS list prices, from `requests` (data transfer excluded). */
  readonly estimatedCostUsd: {
    readonly total: number;
    readonly byService: Readonly<Record<string, number>>;
    readonly perMillionPages: number | null;
  };
  /**
   * Key of the NDJSON file listing every failed or skipped URL with its reason: the first of
   * {@link RunManifest.failuresKeys}, or null when nothing failed or was skipped.
   */
  readonly failuresKey: string | null;
  /** Every part of the failures file, in order (one unless a run failed more than `settings.failuresPartLines`). */
  readonly failuresKeys: readonly string[];
  /** Set when the run re-extracted an earlier run's archive instead of fetching. */
  readonly reparse: ReparseOf | null;
}

function budgetOf(reasons: Record<string, number>): string | null {
  const reason = Object.keys(reasons).find((name) => name.startsWith('budget:'));
  return reason ? reason.slice('budget:'.length) : null;
}

/** The manifest of a run as the ledger sees it now (a running run gets a provisional one). */
export function manifestOf(
  meta: RunMeta,
  details: {
    reasons?: Record<string, number>;
    failuresKeys?: readonly string[];
    quality?: QualityReport | null;
    removed?: number;
    removalsInferred?: boolean;
  } = {},
): RunManifest {
  const counts = meta.counters;
  const reasons = details.reasons ?? {};
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
    items: {
      written: counts.items,
      invalid: counts.invalidItems,
      duplicates: counts.duplicateItems,
      onUnchangedPages: counts.unchangedItems,
    },
    changes: {
      new: counts.newItems,
      changed: counts.changedItems,
      removed: details.removed ?? 0,
      removalsInferred: details.removalsInferred ?? false,
    },
    bytes: { wire: counts.wireBytes, body: counts.bodyBytes },
    pagesPerSecond: durationMs && durationMs > 0 ? Math.round((fetched / durationMs) * 1000 * 10) / 10 : null,
    reasons,
    notFollowed: meta.notFollowed ?? {},
    budgetExhausted: budgetOf({ ...meta.notFollowed, ...reasons }),
    quality: details.quality ?? null,
    requests: Object.fromEntries(Object.entries(meta.requests).map(([name, value]) => [name, Math.round(value * 100) / 100])),
    estimatedCostUsd: costOf(meta.requests, fetched),
    failuresKey: details.failuresKeys?.[0] ?? null,
    failuresKeys: details.failuresKeys ?? [],
    reparse: meta.reparse ?? null,
  };
}

function round(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}

function costOf(requests: Readonly<Record<string, number>>, pages: number): RunManifest['estimatedCostUsd'] {
  const { total, byService } = estimateCost(requests);
  return {
    total: round(total),
    byService: Object.fromEntries(Object.entries(byService).map(([service, value]) => [service, round(value)])),
    perMillionPages: pages > 0 ? Math.round((total / pages) * 1e6 * 100) / 100 : null,
  };
}

/** The final state a complete run deserves. */
export function finalState(
  meta: RunMeta,
  reasons: Record<string, number>,
  quality: QualityReport | null,
): Exclude<RunState, 'running'> {
  const { parsed, unchanged, failed } = meta.counters;
  if (failed > 0 && parsed + unchanged === 0) return 'failed';
  if (quality && quality.problems.length > 0) return 'degraded';
  return failed > 0 || budgetOf(reasons) !== null ? 'partial' : 'succeeded';
}

/** Writes the provisional manifest of a run that just started. */
export async function writeRunningManifest(context: PipelineContext, meta: RunMeta): Promise<void> {
  await context.store.put(layout.manifest(meta.job, meta.runId), JSON.stringify(manifestOf(meta), null, 2), {
    contentType: 'application/json',
  });
}

const BASELINE = 'baseline';

function jobKey(job: string): string {
  return `job#${job}`;
}

/** The quality baseline of a job: the last good run's item counts and fill rates per template. */
export interface QualityBaseline {
  readonly runId: string;
  readonly startedAt: number;
  readonly items: number;
  readonly templates: Readonly<Record<string, { readonly items: number; readonly fillRates: Readonly<Record<string, number>> }>>;
}

/** The last good run of a job (the quality baseline): not failed, degraded or cut by a budget. */
export async function lastGoodRun(context: PipelineContext, job: string): Promise<QualityBaseline | undefined> {
  const item = await context.state.get(jobKey(job), BASELINE);
  if (!item) return undefined;
  return {
    runId: String(item.runId),
    startedAt: Number(item.startedAt ?? 0),
    items: Number(item.items ?? 0),
    // Baselines from before per-template quality have no `templates`: only their item count is compared.
    templates: JSON.parse(String(item.templates ?? '{}')) as QualityBaseline['templates'],
  };
}

const percent = (share: number) => Math.round(share * 100);

/** Compares this run's items and fill rates with the baseline run's, template by template. */
export function assessQuality(job: Job, meta: RunMeta, baseline: QualityReport['baseline']): QualityReport {
  const { maxFillRateDrop, minItemRatio, minItemsForFillRates } = job.quality;
  const templates: Record<string, TemplateQuality> = {};
  for (const [name, template] of Object.entries(job.templates)) {
    const counts = meta.templates[name] ?? { extracted: 0, items: 0, fill: {} };
    const fillRates: Record<string, number> = {};
    if (counts.extracted > 0) {
      for (const field of Object.keys(template.fields)) {
        fillRates[field] = Math.round(((counts.fill[field] ?? 0) / counts.extracted) * 1000) / 1000;
      }
    }
    templates[name] = { items: counts.items, extracted: counts.extracted, fillRates };
  }
  const items = meta.counters.items + meta.counters.unchangedItems;
  const extracted = Object.values(templates).reduce((sum, template) => sum + template.extracted, 0);
  const problems: string[] = [];
  const below = (runId: string) => `below ${percent(minItemRatio)}% of run ${runId}`;
  const baselineTemplates = Object.entries(baseline?.templates ?? {});
  if (baseline && baselineTemplates.length === 0 && baseline.items > 0 && items < baseline.items * minItemRatio) {
    problems.push(`item count fell from ${baseline.items} to ${items} (${below(baseline.runId)})`);
  }
  for (const [name, before] of baseline ? baselineTemplates : []) {
    const now = templates[name];
    if (!baseline || !now) continue;
    if (before.items > 0 && now.items < before.items * minItemRatio) {
      problems.push(`template "${name}": item count fell from ${before.items} to ${now.items} (${below(baseline.runId)})`);
    }
    if (now.extracted < minItemsForFillRates) continue;
    for (const [field, rate] of Object.entries(before.fillRates)) {
      const after = now.fillRates[field] ?? 0;
      if (rate - after > maxFillRateDrop) {
        problems.push(
          `template "${name}", field "${field}": fill rate fell from ${percent(rate)}% to ${percent(after)}% (more than ${percent(maxFillRateDrop)} points below run ${baseline.runId})`,
        );
      }
    }
  }
  return { items, extracted, templates, baseline, problems };
}

/** The baseline a good run leaves: its counts, with fill rates only for templates that extracted enough items to judge. */
function nextBaseline(job: Job, meta: RunMeta, quality: QualityReport): QualityBaseline {
  const templates: Record<string, { items: number; fillRates: Readonly<Record<string, number>> }> = {};
  for (const [name, now] of Object.entries(quality.templates)) {
    const fillRates =
      now.extracted >= job.quality.minItemsForFillRates ? now.fillRates : (quality.baseline?.templates[name]?.fillRates ?? {});
    templates[name] = { items: now.items, fillRates };
  }
  return { runId: meta.runId, startedAt: meta.startedAt, items: quality.items, templates };
}

/** A line of a run's failures file (`runs/<job>/<runId>/failures.ndjson`): a URL that failed or was skipped. */
export interface FailureLine {
  readonly url: string;
  readonly state: 'failed' | 'skipped';
  readonly reason: string;
  readonly message: string | null;
  readonly depth: number;
}

/** What a run's URL entries say once every one is terminal. */
interface RunSurvey {
  /** URL entries counted (every accepted URL). */
  readonly entries: number;
  readonly terminal: Readonly<Record<TerminalState, number>>;
  /** Failed and skipped URLs per reason. */
  readonly reasons: Record<string, number>;
  /** The parts of the failures file written: a line per failed or skipped URL. */
  readonly failuresKeys: readonly string[];
  /** A URL failed for a reason that says nothing about its page's existence (network, 5xx...). */
  readonly transientFailures: boolean;
}

/**
 * Reads every URL entry of a run once, in a stream: counts states and reasons, writes the failures file (a line per
 * failed or skipped URL, in parts of `settings.failuresPartLines`), and adds the item keys of parsed and unchanged
 * pages to `present`. `undefined` as soon as a URL is found pending (parts already written are rewritten by the
 * finalization that completes: entries are read in key order, so every finisher writes the same parts).
 */
async function surveyRun(
  context: PipelineContext,
  job: string,
  runId: string,
  present: PresentKeys,
  checkpoint: () => void,
): Promise<RunSurvey | undefined> {
  const terminal: Record<TerminalState, number> = { parsed: 0, unchanged: 0, skipped: 0, failed: 0 };
  const reasons: Record<string, number> = {};
  const failuresKeys: string[] = [];
  const failures = new Batches<string>(context.settings.failuresPartLines, async (lines, part) => {
    const key = layout.failures(job, runId, part);
    await context.store.put(key, `${lines.join('\n')}\n`, { contentType: 'application/x-ndjson' });
    failuresKeys.push(key);
  });
  let transientFailures = false;
  let entries = 0;
  for await (const entry of context.ledger.urls(job, runId)) {
    checkpoint();
    // The counters can lag but never run ahead (see ledger.ts): the entries decide, and the manifest counts them.
    if (entry.status === 'accepted') return undefined;
    entries++;
    terminal[entry.status]++;
    if (entry.status === 'parsed' || entry.status === 'unchanged') {
      await present.add(
        entry.keysRef === undefined ? (entry.keys ?? []) : (await readPageLists(context.store, entry.keysRef)).keys,
      );
      continue;
    }
    if (entry.status === 'failed' && !GONE_REASONS.has(entry.reason ?? '')) transientFailures = true;
    const reason = entry.reason ?? 'unknown';
    reasons[reason] = (reasons[reason] ?? 0) + 1;
    const line: FailureLine = { url: entry.url, state: entry.status, reason, message: entry.message ?? null, depth: entry.depth };
    await failures.push(JSON.stringify(line));
  }
  await present.close();
  await failures.flush();
  return { entries, terminal, reasons, failuresKeys, transientFailures };
}

/** Makes a good run the job's quality baseline. */
async function recordBaseline(context: PipelineContext, job: string, baseline: QualityBaseline): Promise<void> {
  await context.state.write({
    pk: jobKey(job),
    sk: BASELINE,
    set: {
      runId: baseline.runId,
      startedAt: baseline.startedAt,
      items: baseline.items,
      templates: JSON.stringify(baseline.templates),
    },
  });
}

/** The announcement of a finished run ({@link RunEvents}): its outcome and change summary, from its manifest. */
export function runFinishedEvent(manifest: RunManifest): RunFinishedEvent {
  return {
    job: manifest.job,
    runId: manifest.runId,
    state: manifest.state,
    startedAt: manifest.startedAt,
    finishedAt: manifest.finishedAt,
    urls: manifest.urls,
    items: manifest.items,
    changes: manifest.changes,
    budgetExhausted: manifest.budgetExhausted,
    qualityProblems: manifest.quality?.problems ?? [],
    estimatedCostUsd: manifest.estimatedCostUsd.total,
    manifestKey: layout.manifest(manifest.job, manifest.runId),
  };
}

/** Logs and counts a run this call finished (once, however many finishers raced). */
function reportFinished(context: PipelineContext, manifest: RunManifest, quality: QualityReport): void {
  const { job, runId, state } = manifest;
  context.log.info('run finished', { job, runId, state, urls: manifest.urls, items: manifest.items, changes: manifest.changes });
  if (state === 'failed') context.metrics.count(METRICS.runsFailed);
  if (state === 'stalled') context.metrics.count(METRICS.runsStalled);
  if (state === 'degraded') {
    context.metrics.count(METRICS.runsDegraded);
    context.log.warn('run degraded', { job, runId, problems: quality.problems });
  }
}

/** Options of {@link finalizeIfComplete}. */
export interface FinalizeOptions {
  /** The watchdog ended the run's pending URLs (failed, `stalled`): the run ends `stalled` whatever it achieved. */
  readonly stalled?: boolean;
  /**
   * Look at the URL entries even though the counters do not add up (they lag after a crash between a URL's move
   * and its object's counters): the watchdog's check of a quiet run. @default false
   */
  readonly verify?: boolean;
  /**
   * Called before each URL entry of the survey and each item of the settlement: a throw stops the finalization there
   * (an invocation near its deadline) and leaves the run unfinished for a later call. @default never stops
   */
  readonly checkpoint?: () => void;
}

/**
 * Finishes the run when every accepted URL is terminal: writes the failures file, infers removed items, assesses
 * quality against the baseline, writes the manifest, then marks the run finished. Safe to call from any stage at
 * any time and more than once: it does nothing while work is pending or once the run is finished, and concurrent
 * finishers write the same content.
 */
export async function finalizeIfComplete(
  context: PipelineContext,
  job: string,
  runId: string,
  options: FinalizeOptions = {},
): Promise<RunManifest | undefined> {
  const counted = await context.ledger.getRun(job, runId);
  if (counted?.state !== 'running') return undefined;
  if (!options.verify && !options.stalled && terminalCount(counted) < counted.counters.accepted) return undefined;
  const attempt = newId(context.clock, context.random);
  const scratch = layout.finalizeScratchFolder(job, runId, attempt);
  const present = new PresentKeys(
    context.store,
    // Scratch of this attempt alone: concurrent finishers each keep their own.
    (bucket, sequence) => layout.finalizeScratch(job, runId, attempt, `k${bucket}-${sequence}`),
    context.settings.finalizeMemoryKeys,
  );
  try {
    return await finishSurveyed(context, job, runId, counted, present, options);
  } finally {
    // Whether the attempt finished the run, found work pending, stopped or failed: a later attempt has its own.
    await context.store.discard?.(scratch);
  }
}

/** {@link finalizeIfComplete} once its scratch is set up: surveys the run and finishes it if nothing is pending. */
async function finishSurveyed(
  context: PipelineContext,
  job: string,
  runId: string,
  counted: RunMeta,
  present: PresentKeys,
  options: FinalizeOptions,
): Promise<RunManifest | undefined> {
  const definition = context.jobs.get(job);
  const survey = await surveyRun(context, job, runId, present, options.checkpoint ?? (() => {}));
  if (!survey) return undefined;
  const { reasons, failuresKeys, transientFailures } = survey;
  const meta: RunMeta = { ...counted, counters: { ...counted.counters, ...survey.terminal, accepted: survey.entries } };

  const last = await lastGoodRun(context, job);
  const baseline = last ? { runId: last.runId, items: last.items, templates: last.templates } : null;
  const quality = assessQuality(definition, meta, baseline);
  // A reparse moves the job's current state only when asked to stand as the latest run.
  const movesCurrentState = meta.reparse === undefined || meta.reparse.asLatest;
  // A budget-cut run did not look everywhere, a degraded one cannot be trusted to have seen what it looked at, and a
  // reparse saw only the pages its source run archived (not those that were unchanged then).
  const removalsInferred =
    meta.reparse === undefined &&
    budgetOf(reasons) === null &&
    quality.problems.length === 0 &&
    meta.counters.parsed + meta.counters.unchanged > 0;
  const dt = partitionDate(meta.startedAt);
  const { removed } = movesCurrentState
    ? await settleItems(
        context,
        { job, runId, dt },
        removalsInferred ? { present, transientFailures } : undefined,
        options.checkpoint,
      )
    : { removed: 0 };
  const now = context.clock.now();
  const state = options.stalled ? 'stalled' : finalState(meta, reasons, quality);
  const manifest = manifestOf({ ...meta, state, finishedAt: now }, { reasons, failuresKeys, quality, removed, removalsInferred });
  await context.store.put(layout.manifest(job, runId), JSON.stringify(manifest, null, 2), { contentType: 'application/json' });
  // A degraded, failed or budget-cut run is no baseline: the next run is compared with the last good one.
  if ((state === 'succeeded' || state === 'partial') && budgetOf(reasons) === null && movesCurrentState) {
    await recordBaseline(context, job, nextBaseline(definition, meta, quality));
  }
  // Announced before the run is marked finished: if announcing fails, the message is retried and announces again
  // (at least once; a concurrent finisher may announce twice).
  await context.events.runFinished(runFinishedEvent(manifest));
  if (await context.ledger.finish(job, runId, state, now)) reportFinished(context, manifest, quality);
  return manifest;
}
