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
): Promise<{ reason: string; message: string } | undefined> {
  const { maxDurationMinutes, maxCostUsd } = job.limits;
  if (maxDurationMinutes === undefined && maxCostUsd === undefined) return undefined;
  const meta = await context.ledger.getRun(from.job, from.runId);
  if (!meta) return undefined;
  const minutes = (context.clock.now() - meta.startedAt) / 60_000;
  if (maxDurationMinutes !== undefined && minutes >= maxDurationMinutes) {
    return { reason: 'budget:maxDuration', message: `the run is older than its budget of ${maxDurationMinutes} minutes` };
  }
  const cost = estimateCost(meta.requests).total;
  if (maxCostUsd !== undefined && cost >= maxCostUsd) {
    return { reason: 'budget:maxCost', message: `the run's estimated cost reached its budget of ${maxCostUsd} USD` };
  }
  return undefined;
}

/** Sends fetch tasks to the fetch queue in order. */
export async function enqueueFetches(context: PipelineContext, tasks: readonly FetchTask[]): Promise<void> {
  if (tasks.length === 0) return;
  await context.fetchQueue.send(tasks.map((task) => ({ body: JSON.stringify(task) })));
}

/**
 * Offers one URL to a run: accepts it (within the page budget) and returns the fetch task to enqueue when it is new,
 * or pending from an earlier delivery of the same parent; `undefined` when there is nothing to fetch.
 */
export async function offerUrl(
  context: PipelineContext,
  run: { readonly job: string; readonly runId: string; readonly hosts: readonly string[] },
  link: { url: string; depth: number; template: string | undefined; parent: string; sitemapChain?: string[] },
): Promise<FetchTask | undefined> {
  const { sitemapChain, ...entry } = link;
  const outcome = await context.ledger.accept(
    run.job,
    run.runId,
    { ...entry, ...(sitemapChain ? { sitemap: true } : {}) },
    context.jobs.get(run.job).limits.maxPages,
    context.clock.now(),
  );
  if (outcome !== 'accepted' && outcome !== 'pending') return undefined;
  return {
    type: 'fetch',
    job: run.job,
    runId: run.runId,
    url: link.url,
    depth: link.depth,
    ...(link.template === undefined ? {} : { template: link.template }),
    attempt: 0,
    hosts: [...run.hosts],
    ...(sitemapChain ? { sitemapChain } : {}),
  };
}

/** The page links are followed from. */
export interface LinkSource {
  readonly job: string;
  readonly runId: string;
  readonly url: string;
  readonly depth: number;
  readonly hosts: readonly string[];
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
): Promise<number> {
  const job = context.jobs.get(from.job);
  const depth = from.depth + 1;
  if (depth > job.limits.maxDepth || links.length === 0) return 0;
  const parent = urlId(from.url);
  const now = context.clock.now();
  const exhausted = await exhaustedBudget(context, from, job);
  const tasks: FetchTask[] = [];
  for (const link of links) {
    if (exhausted) {
      await context.ledger.skip(
        from.job,
        from.runId,
        { url: link.url, depth, template: link.template, parent },
        exhausted.reason,
        exhausted.message,
        now,
      );
      continue;
    }
    const task = await offerUrl(
      context,
      { job: from.job, runId: from.runId, hosts: from.hosts },
      { url: link.url, depth, template: link.template, parent },
    );
    if (task) tasks.push(task);
  }
  await enqueueFetches(context, tasks);
  return tasks.length;
}
