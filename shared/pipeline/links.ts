import type { Job } from '../job/schema.js';
import { urlId } from '../url.js';
import type { PipelineContext } from './context.js';
import type { FetchTask } from './messages.js';
import { estimateCost } from './metering.js';
import { enqueueFetches } from './start.js';

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
    const outcome = await context.ledger.accept(
      from.job,
      from.runId,
      { url: link.url, depth, template: link.template, parent },
      job.limits.maxPages,
      now,
    );
    if (outcome === 'accepted' || outcome === 'pending') {
      tasks.push({
        type: 'fetch',
        job: from.job,
        runId: from.runId,
        url: link.url,
        depth,
        template: link.template,
        attempt: 0,
        hosts: [...from.hosts],
      });
    }
  }
  await enqueueFetches(context, tasks);
  return tasks.length;
}
