import { ScrapelineError } from '../errors.js';
import { type FailureReason, httpReason } from '../failure-reasons.js';
import type { FetchedPage } from '../fetch/http.js';
import { extendSitemapChain, modifiedSince, parseSitemap } from '../fetch/sitemap-xml.js';
import type { Job } from '../job/schema.js';
import { hostOf, urlId } from '../url.js';
import type { PipelineContext } from './context.js';
import { lastGoodRun } from './finalize.js';
import { countNotFollowed, enqueueFetches, fetchTaskOf, followLinks, type LinkOffer, offerUrls } from './links.js';
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

/** Entries of a sitemap offered in the invocation that read it; a longer sitemap is offered in parts of this many. */
export const SITEMAP_PART_ENTRIES = 1_000;
/** Bytes of entry URLs in one part, so that its task stays a small SQS message (the limit is 256 KiB). */
const SITEMAP_PART_BYTES = 96 * 1024;

/** The URL standing for part `index` of a sitemap in the run (its ledger entry; never fetched). */
export function sitemapPartUrl(sitemapUrl: string, index: number): string {
  return `${sitemapUrl.split('#')[0]}#part=${index}`;
}

/** Splits entry URLs into parts of at most {@link SITEMAP_PART_ENTRIES} URLs and {@link SITEMAP_PART_BYTES} bytes. */
export function splitIntoParts(entries: readonly string[]): string[][] {
  const parts: string[][] = [];
  let part: string[] = [];
  let bytes = 0;
  for (const entry of entries) {
    const size = Buffer.byteLength(entry) + 3;
    if (part.length > 0 && (part.length >= SITEMAP_PART_ENTRIES || bytes + size > SITEMAP_PART_BYTES)) {
      parts.push(part);
      part = [];
      bytes = 0;
    }
    part.push(entry);
    bytes += size;
  }
  if (part.length > 0) parts.push(part);
  return parts;
}

/**
 * Accepts a large sitemap's entries in parts: each part is a URL of the run (`<sitemap>#part=<n>`, a sitemap
 * child of the sitemap) whose task carries the entries, so each part is offered by an invocation of its own, within
 * its time, and the run cannot complete before every part has been offered. Parts the page budget refuses count
 * their entries as not followed.
 */
async function acceptSitemapParts(
  context: PipelineContext,
  sitemap: FetchTask & { readonly chain: readonly string[] },
  entries: readonly string[],
): Promise<void> {
  const template = context.jobs.get(sitemap.job).start.sitemapTemplate;
  const parts = splitIntoParts(entries);
  const parent = urlId(sitemap.url);
  const offers = parts.map((_, index) => ({
    url: sitemapPartUrl(sitemap.url, index),
    depth: sitemap.depth,
    template: undefined,
    parent,
    sitemap: true,
  }));
  const outcomes = await context.ledger.acceptMany(sitemap.job, sitemap.runId, offers, {
    maxPages: context.jobs.get(sitemap.job).limits.maxPages,
    now: context.clock.now(),
  });
  // A part refused by the page budget takes its entries with it; a duplicate (a redelivered sitemap whose part is
  // done) offered them already.
  const lost = parts.reduce((sum, part, index) => sum + (outcomes[index] === 'over-budget' ? part.length : 0), 0);
  await countNotFollowed(context, sitemap, { 'budget:maxPages': lost });
  const tasks: FetchTask[] = [];
  for (const [index, offer] of offers.entries()) {
    const entries = parts[index];
    if (!entries || (outcomes[index] !== 'accepted' && outcomes[index] !== 'pending')) continue;
    const part = { entries, ...(template === undefined ? {} : { template }) };
    tasks.push(fetchTaskOf(sitemap, { ...offer, sitemapChain: [...sitemap.chain] }, part));
  }
  await enqueueFetches(context, tasks);
}

/**
 * Entries of a sitemap part offered at a time (one acceptance each): between two, a part near its invocation's
 * deadline stops and hands the rest back.
 */
export const SITEMAP_PART_CHUNK = 100;

/**
 * Offers one part of a large sitemap's entries to the run as the sitemap's links (depth and template as the
 * sitemap's own would be), {@link SITEMAP_PART_CHUNK} at a time. Nothing is fetched; the part ends `parsed` through
 * its `sitemap` record. When `stopping` says so before a chunk, the part stops and returns the rest of its entries
 * (all of them, before the first) as a task of the same part, to hand back to the fetch queue.
 */
export async function processSitemapPart(
  context: PipelineContext,
  task: FetchTask,
  stopping: () => boolean = () => false,
): Promise<{ readonly record: PageRecord } | { readonly rest: FetchTask }> {
  const part = task.sitemapPart;
  if (!part) throw new Error(`not a sitemap part: ${task.url}`);
  for (let start = 0; start < part.entries.length; start += SITEMAP_PART_CHUNK) {
    if (stopping()) return { rest: { ...task, sitemapPart: { ...part, entries: part.entries.slice(start) } } };
    await followLinks(
      context,
      task,
      part.entries.slice(start, start + SITEMAP_PART_CHUNK).map((url) => ({ url, template: part.template })),
    );
  }
  return { record: { status: 'sitemap', url: task.url, depth: task.depth, wireBytes: 0, bodyBytes: 0, fetchMs: 0 } };
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
  let reason: FailureReason | undefined;
  let message: string | undefined;
  if (page.status < 200 || page.status >= 300) {
    reason = httpReason(page.status);
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
        const notFollowed = { 'cap:maxSitemapEntries': links.length - granted };
        if (granted <= SITEMAP_PART_ENTRIES) await followLinks(context, task, links.slice(0, granted), notFollowed);
        else {
          await countNotFollowed(context, task, notFollowed);
          await acceptSitemapParts(
            context,
            { ...task, chain },
            links.slice(0, granted).map((link) => link.url),
          );
        }
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
