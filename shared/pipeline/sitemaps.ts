import { ScrapelineError } from '../errors.js';
import type { FetchedPage } from '../fetch/http.js';
import { extendSitemapChain, modifiedSince, parseSitemap } from '../fetch/sitemap.js';
import type { Job } from '../job/schema.js';
import { hostOf, urlId } from '../url.js';
import type { PipelineContext } from './context.js';
import { lastGoodRun } from './finalize.js';
import { countNotFollowed, enqueueFetches, followLinks, type LinkOffer, offerUrls } from './links.js';
import type { FetchTask, PageRecord } from './messages.js';
import { robotsPolicy } from './robots.js';

/**
 * The sitemaps a run starts from: the job's own and, when asked, those its start hosts' robots.txt names.
 * Returned normalised and without duplicates.
 */
export async function sitemapSeeds(
  context: PipelineContext,
  job: Job,
  runId: string,
  startUrls: readonly string[],
): Promise<string[]> {
  const seeds = new Set(job.start.sitemaps);
  if (job.start.sitemapsFromRobots) {
    const origins = new Map(startUrls.map((url) => [new URL(url).origin, url]));
    for (const url of origins.values()) {
      for (const sitemap of (await robotsPolicy(context, job, runId, url)).sitemaps) seeds.add(sitemap);
    }
  }
  return [...seeds];
}

/** Accepts sitemaps into the run (as URLs of their own) and enqueues their fetches. */
export async function acceptSitemaps(
  context: PipelineContext,
  from: { job: string; runId: string; url: string; depth: number; hosts: readonly string[]; chain: readonly string[] },
  sitemaps: readonly string[],
): Promise<void> {
  const parent = from.chain.length === 0 ? 'seed' : urlId(from.url);
  const offers: LinkOffer[] = [];
  for (const url of sitemaps) {
    try {
      offers.push({ url, depth: from.depth, template: undefined, parent, sitemapChain: extendSitemapChain(from.chain, url) });
    } catch (error) {
      context.log.warn('sitemap not followed', { url, runId: from.runId, job: from.job, error: (error as Error).message });
    }
  }
  const cap = context.jobs.get(from.job).limits.maxSitemaps;
  const granted = await context.ledger.takeQuota(from.job, from.runId, 'sitemaps', offers.length, cap);
  await countNotFollowed(context, from, { 'cap:maxSitemaps': offers.length - granted });
  await enqueueFetches(context, await offerUrls(context, from, offers.slice(0, granted)));
}

/**
 * Reads a fetched sitemap: an index leads to its sitemaps, a urlset to its pages (on the run's hosts, and, when the
 * job asks, only those modified since the last good run), all accepted before the sitemap's record (`sitemap`, made
 * terminal `parsed` by post-processing) is written. A sitemap that cannot be read gets a `failed` record with the
 * reason.
 */
export async function processSitemap(context: PipelineContext, task: FetchTask, page: FetchedPage): Promise<PageRecord> {
  const job = context.jobs.get(task.job);
  const chain = task.sitemapChain ?? [task.url];
  let reason: string | undefined;
  let message: string | undefined;
  if (page.status < 200 || page.status >= 300) {
    reason = `http-${page.status}`;
    message = `HTTP ${page.status} from sitemap ${task.url}`;
  } else {
    try {
      const sitemap = parseSitemap(page.body, page.finalUrl);
      if (sitemap.kind === 'index') {
        // An index leads only to sitemaps on the run's hosts (`fetch.allowedHosts`), as links do.
        const onHosts = sitemap.sitemaps.filter((entry) => task.hosts.includes(hostOf(entry.loc)));
        for (const entry of sitemap.sitemaps.filter((candidate) => !onHosts.includes(candidate)).slice(0, 10)) {
          context.log.info('sitemap on another host not followed', { url: entry.loc, runId: task.runId, job: task.job });
        }
        await acceptSitemaps(
          context,
          { ...task, chain },
          onHosts.map((entry) => entry.loc),
        );
      } else {
        const since = job.start.onlyModifiedSinceLastRun ? (await lastGoodRun(context, task.job))?.startedAt : undefined;
        const links = sitemap.urls
          .filter((entry) => task.hosts.includes(hostOf(entry.loc)) && modifiedSince(entry, since))
          .map((entry) => ({ url: entry.loc, template: job.start.sitemapTemplate }));
        const cap = job.limits.maxSitemapEntries;
        const granted = await context.ledger.takeQuota(task.job, task.runId, 'sitemapEntries', links.length, cap);
        await followLinks(context, { ...task, depth: task.depth }, links.slice(0, granted), {
          'cap:maxSitemapEntries': links.length - granted,
        });
      }
    } catch (error) {
      if (!(error instanceof ScrapelineError) || error.retryable) throw error;
      reason = error.reason;
      message = error.message;
    }
  }
  const counters = { wireBytes: page.wireBytes, bodyBytes: page.body.byteLength, fetchMs: page.durationMs };
  return reason === undefined
    ? { status: 'sitemap', url: task.url, depth: task.depth, ...counters }
    : { status: 'failed', url: task.url, depth: task.depth, reason, message: message ?? reason, ...counters };
}
