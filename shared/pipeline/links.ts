import { type BudgetReason, budgetReason } from '../failure-reasons.js';
import type { Job } from '../job/schema.js';
import { urlId } from '../url.js';
import type { PipelineContext } from './context.js';
import type { FetchTask } from './messages.js';
import { estimateCost } from './metering.js';

/** The time or cost budget a run has used up, if any (the page budget is enforced by the ledger itself). */
async function exhaustedBudget(
  context: PipelineContext,
  from: LinkSource,
  job: Job,
): Promise<{ reason: BudgetReason; message: string } | undefined> {
  const { maxDurationMinutes, maxCostUsd } = job.limits;
  if (maxDurationMinutes === undefined && maxCostUsd === undefined) return undefined;
  const meta = await context.ledger.getRun(from.job, from.runId);
  if (!meta) return undefined;
  const minutes = (context.clock.now() - meta.startedAt) / 60_000;
  if (maxDurationMinutes !== undefined && minutes >= maxDurationMinutes) {
    return { reason: budgetReason('maxDuration'), message: `the run is older than its budget of ${maxDurationMinutes} minutes` };
  }
  const cost = estimateCost(meta.requests).total;
  if (maxCostUsd !== undefined && cost >= maxCostUsd) {
    return { reason: budgetReason('maxCost'), message: `the run's estimated cost reached its budget of ${maxCostUsd} USD` };
  }
  return undefined;
}

/**
 * Counts links that are not followed and not recorded one by one (past a cap), per reason, in the run's
 * `notFollowed` counters (one counter write; a page parsed twice counts twice).
 */
export async function countNotFollowed(
  context: PipelineContext,
  run: { readonly job: string; readonly runId: string },
  counts: Readonly<Record<string, number>>,
): Promise<void> {
  const add = Object.fromEntries(
    Object.entries(counts)
      .filter(([, count]) => count > 0)
      .map(([reason, count]) => [`nf:${reason}`, count]),
  );
  await context.ledger.addCounters(run.job, run.runId, add);
}

/** Sends fetch tasks to the fetch queue in order. */
export async function enqueueFetches(context: PipelineContext, tasks: readonly FetchTask[]): Promise<void> {
  if (tasks.length === 0) return;
  await context.fetchQueue.send(tasks.map((task) => ({ body: JSON.stringify(task) })));
}

/** The run links are offered to. */
export interface RunRef {
  readonly job: string;
  readonly runId: string;
  readonly hosts: readonly string[];
}

/** A link as offered: where it leads, from which page, at which depth. */
export interface LinkOffer {
  readonly url: string;
  readonly depth: number;
  readonly template: string | undefined;
  readonly parent: string;
  readonly sitemapChain?: string[];
}

/**
 * The fetch task of a link accepted into a run: its first attempt. A part of a large sitemap carries its entries
 * (`sitemapPart`).
 */
export function fetchTaskOf(run: RunRef, link: LinkOffer, sitemapPart?: FetchTask['sitemapPart']): FetchTask {
  return {
    type: 'fetch',
    job: run.job,
    runId: run.runId,
    url: link.url,
    depth: link.depth,
    ...(link.template === undefined ? {} : { template: link.template }),
    attempt: 0,
    hosts: [...run.hosts],
    ...(link.sitemapChain ? { sitemapChain: link.sitemapChain } : {}),
    ...(sitemapPart ? { sitemapPart } : {}),
  };
}

/**
 * Offers URLs to a run: accepts them (within the page budget) and returns the fetch tasks to enqueue for those that
 * are new, or pending from an earlier delivery of the same parent.
 */
export async function offerUrls(context: PipelineContext, run: RunRef, links: readonly LinkOffer[]): Promise<FetchTask[]> {
  const outcomes = await context.ledger.acceptMany(
    run.job,
    run.runId,
    links.map(({ sitemapChain, ...entry }) => ({ ...entry, ...(sitemapChain ? { sitemap: true } : {}) })),
    { maxPages: context.jobs.get(run.job).limits.maxPages, now: context.clock.now() },
  );
  return links.flatMap((link, index) =>
    outcomes[index] === 'accepted' || outcomes[index] === 'pending' ? [fetchTaskOf(run, link)] : [],
  );
}

/** The page links are followed from. */
export interface LinkSource extends RunRef {
  readonly url: string;
  readonly depth: number;
}

/**
 * Offers a page's links to the run (within `maxDepth` and the page budget) and enqueues the fetches of those
 * accepted. Must complete before the page itself is marked terminal, so the run cannot look complete while they
 * are pending. A redelivered page re-enqueues the links it accepted before that are still pending.
 */
export async function followLinks(
  context: PipelineContext,
  from: LinkSource,
  links: readonly { readonly url: string; readonly template: string | undefined }[],
  notFollowed: Readonly<Record<string, number>> = {},
): Promise<number> {
  const job = context.jobs.get(from.job);
  const depth = from.depth + 1;
  if (depth > job.limits.maxDepth) return 0;
  await countNotFollowed(context, from, notFollowed);
  if (links.length === 0) return 0;
  const parent = urlId(from.url);
  const offers = links.map((link) => ({ url: link.url, depth, template: link.template, parent }));
  const exhausted = await exhaustedBudget(context, from, job);
  if (exhausted) {
    await context.ledger.skipMany(from.job, from.runId, offers, exhausted.reason, exhausted.message, context.clock.now());
    return 0;
  }
  const tasks = await offerUrls(context, from, offers);
  await enqueueFetches(context, tasks);
  return tasks.length;
}
