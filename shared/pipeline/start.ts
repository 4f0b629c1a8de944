import { createHash } from 'node:crypto';
import { InvalidInputError } from '../errors.js';
import type { Job } from '../job/schema.js';
import { hostOf, normaliseUrl } from '../url.js';
import type { PipelineContext } from './context.js';
import { finalizeIfComplete, writeRunningManifest } from './finalize.js';
import { enqueueFetches, offerUrls } from './links.js';
import type { StartRunMessage } from './messages.js';
import { acceptSitemaps, sitemapSeeds } from './sitemaps.js';

/** A run id: UTC start time to the second plus a short suffix, so ids sort by start time. */
export function runIdFor(startedAt: number, seed: string): string {
  const time = new Date(startedAt)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');
  return `${time}-${createHash('sha256').update(seed).digest('hex').slice(0, 6)}`;
}

/** The hosts links may lead to in a run: the job's allow-list, else the start URLs' hosts. */
export function runHosts(job: Job, startUrls: readonly string[]): string[] {
  return [...new Set(job.fetch.allowedHosts ?? startUrls.map(hostOf))];
}

/**
 * Starts a run: creates its ledger entry, accepts the start URLs and enqueues their fetches. Idempotent: a
 * redelivered start message (same message id, so the same run id) re-enqueues only what is still pending.
 *
 * @param messageId id of the queue message, from which the run id derives when the message has none
 * @param sentAt when the message was sent (epoch ms): the run's start time when the id is derived
 */
export async function startRun(
  context: PipelineContext,
  message: StartRunMessage,
  messageId: string,
  sentAt: number,
): Promise<{ runId: string; accepted: number }> {
  const job = context.jobs.get(message.job);
  const runId = message.runId ?? runIdFor(sentAt, messageId);
  const now = context.clock.now();
  // A run that exists already (a redelivered start, or a resume) keeps the start URLs it was started with.
  const existing = (await context.ledger.getRun(job.name, runId)) ? await context.ledger.getStart(job.name, runId) : undefined;
  const startUrls = existing?.seeds ?? message.startUrls ?? job.start.urls;
  const seeds: string[] = [];
  for (const raw of startUrls) {
    const normalised = normaliseUrl(raw);
    if (!normalised.ok) throw new InvalidInputError(`start URL "${raw}" of job ${job.name}: ${normalised.reason}`);
    if (!seeds.includes(normalised.url)) seeds.push(normalised.url);
  }
  let hosts = existing ? [...existing.hosts] : runHosts(job, [...startUrls, ...job.start.sitemaps]);
  if (!existing) {
    if (await context.ledger.createRun(job.name, runId, { hosts, seeds }, now)) {
      const meta = await context.ledger.getRun(job.name, runId);
      if (meta) await writeRunningManifest(context, meta);
      context.log.info('run started', { job: job.name, runId, seeds: seeds.length });
    }
    // A concurrent delivery of this start may have written the run's start first: the run goes by that one.
    const stored = await context.ledger.getStart(job.name, runId);
    if (stored) {
      hosts = [...stored.hosts];
      seeds.splice(0, seeds.length, ...stored.seeds);
    }
  }
  const tasks = await offerUrls(
    context,
    { job: job.name, runId, hosts },
    seeds.map((url) => ({ url, depth: 0, template: job.start.template, parent: 'seed' })),
  );
  await enqueueFetches(context, tasks);
  const sitemaps = await sitemapSeeds(context, job, runId, seeds);
  await acceptSitemaps(context, { job: job.name, runId, url: '', depth: 0, hosts, chain: [] }, sitemaps);
  // Every seed may have ended at once (over budget): then nothing else would finish the run.
  if (tasks.length === 0 && sitemaps.length === 0) await finalizeIfComplete(context, job.name, runId);
  return { runId, accepted: tasks.length };
}
