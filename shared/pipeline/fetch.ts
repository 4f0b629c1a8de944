import { sha256Digest, WarcBatch } from '../archive/warc.js';
import { groupBy } from '../collections.js';
import { describeError, RetryableError, type ScrapelineError } from '../errors.js';
import type { FailureReason } from '../failure-reasons.js';
import { httpStatusError, parseRetryAfter } from '../fetch/errors.js';
import type { FetchedPage } from '../fetch/http.js';
import { type PageRequest, withQuery } from '../fetch/request.js';
import { SITEMAP_MAX_BYTES } from '../fetch/sitemap-xml.js';
import { layout } from '../layout.js';
import { hostOf } from '../url.js';
import { newId, type PipelineContext } from './context.js';
import { templateCounter, templateCounters } from './ledger.js';
import { followLinks } from './links.js';
import { type FetchTask, type PageRecord, type ParseTask, runOf } from './messages.js';
import type { PageMemory } from './pages.js';
import { type RunPageRecord, writePageRecords } from './parse.js';
import { PolitenessDeferral } from './politeness.js';
import { jobRequest, plainRequest } from './requests.js';
import { robotsPolicy } from './robots.js';
import { fetchInSession } from './sessions.js';
import { processSitemap, processSitemapPart } from './sitemaps.js';

/** What fetching one task came to. */
export type FetchOutcome =
  /** Fetched: archive it and hand it to the parser. */
  | { readonly kind: 'fetched'; readonly task: FetchTask; readonly page: FetchedPage }
  /** Try again later: the task goes back to the fetch queue with a delay. */
  | { readonly kind: 'retry-later'; readonly task: FetchTask; readonly delayMs: number; readonly error: ScrapelineError }
  /**
   * Nothing to parse: the URL ended here (`record`, made terminal by post-processing like every page), or it was
   * terminal already (a redelivery).
   */
  | { readonly kind: 'done'; readonly ended?: RunPageRecord };

function asScrapelineError(error: unknown): ScrapelineError {
  if (error && typeof error === 'object' && 'retryable' in error && 'reason' in error) return error as ScrapelineError;
  return new RetryableError(`unexpected error: ${describeError(error)}`, 'internal', { cause: error });
}

/**
 * How long a task the politeness gate handed back waits before it competes again: the gate's own estimate, and at
 * least 1 s doubled per earlier hand-back (up to the SQS maximum of 15 min), spread by ±25 % so that the tasks of a
 * busy host come back one by one rather than together.
 */
export function deferralDelayMs(gateDelayMs: number, deferrals: number, random: () => number): number {
  const floor = Math.min(900_000, 1000 * 2 ** Math.min(deferrals - 1, 10));
  return Math.min(900_000, Math.round(Math.max(gateDelayMs, floor) * (0.75 + random() / 2)));
}

/** Exponential backoff with jitter: base·2^attempt, scaled by a random factor in [0.5, 1). */
export function backoffMs(attempt: number, baseMs: number, random: () => number): number {
  return Math.round(baseMs * 2 ** attempt * (0.5 + random() / 2));
}

/**
 * Fetches one URL of a run, politely and with retries. Short backoffs wait in process; long ones (a big
 * `Retry-After`) come back as `retry-later` so that no function sleeps for minutes. A URL whose retries are
 * used up, or whose error is not retryable, ends as `failed` with the error's reason.
 */
export async function fetchTask(context: PipelineContext, task: FetchTask): Promise<FetchOutcome> {
  const job = context.jobs.get(task.job);
  // A redelivered task whose URL is terminal is dropped; one the look misses is fetched again and dropped by its move.
  const entry = await context.ledger.peekUrl(task.job, task.runId, task.url);
  if (entry && entry.status !== 'accepted') return { kind: 'done' };
  // A part of a large sitemap: its entries are offered, nothing is fetched.
  if (task.sitemapPart) return { kind: 'done', ended: { task, record: await processSitemapPart(context, task) } };
  const host = hostOf(task.url);
  const sitemap = task.sitemapChain !== undefined;
  // The job's request options (a sitemap is a resource of the site, fetched plainly); a body is sent once unless idempotent.
  let request: PageRequest;
  try {
    request = sitemap ? await plainRequest(context, job, task.runId) : await jobRequest(context, job, task);
  } catch (caught) {
    // A secret that cannot be read (missing, not granted) fails the page; throttling comes back with the message.
    const error = asScrapelineError(caught);
    if (error.retryable) throw error;
    context.log.warn('request options unavailable', { url: task.url, runId: task.runId, job: task.job, reason: error.reason });
    return ended(task, 'failed', error.reason, error.message);
  }
  // robots.txt judges the URL as fetched, with the job's query parameters.
  const requestUrl = withQuery(task.url, request.query);
  const retries = request.retryable ? job.fetch.retries : 0;
  let minDelayMs = job.politeness.minDelayMs;
  if (job.politeness.robotsTxt === 'respect') {
    const policy = await robotsPolicy(context, job, task.runId, task.url);
    if (policy.status === 'unreachable') {
      if (task.attempt < job.fetch.retries) {
        const error = new RetryableError(`robots.txt of ${host} is unreachable`, 'robots-unreachable');
        return {
          kind: 'retry-later',
          task: { ...task, attempt: task.attempt + 1 },
          delayMs: context.settings.robotsRetryMs * 2 ** task.attempt,
          error,
        };
      }
      // Not a choice made by policy but the host failing us: a run that could reach nothing ends failed.
      return ended(
        task,
        'failed',
        'robots-unreachable',
        `robots.txt of ${host} stayed unreachable (network error, 5xx or 429) after ${job.fetch.retries} retries; RFC 9309 disallows the host until it answers`,
      );
    }
    // Sitemaps are where robots.txt sends crawlers: only their pages are checked against the rules.
    if (!sitemap && !policy.isAllowed(requestUrl)) {
      return ended(task, 'skipped', 'robots', `disallowed by ${policy.origin}/robots.txt`);
    }
    if (policy.crawlDelayMs !== undefined) minDelayMs = Math.max(minDelayMs, policy.crawlDelayMs);
  }
  const memory = sitemap ? undefined : await context.pages.get(task.job, task.url);
  let attempt = task.attempt;
  for (;;) {
    let error: ScrapelineError;
    let release: () => void;
    try {
      // Bookings go through the run's (metered) state store: the run pays for its politeness.
      release = await context.hosts.acquire(
        host,
        { concurrency: job.politeness.perHostConcurrency, minDelayMs },
        { state: context.state },
      );
    } catch (caught) {
      if (!(caught instanceof PolitenessDeferral)) throw caught;
      // A task handed back untouched (an invocation's deadline) comes back at once; one the host is too busy for
      // waits longer each time, so that many tasks queued for a slow host do not come back all at once, again and again.
      if (caught.delayMs === 0) return { kind: 'retry-later', task: { ...task, attempt }, delayMs: 0, error: caught };
      const deferrals = (task.deferrals ?? 0) + 1;
      const delayMs = deferralDelayMs(caught.delayMs, deferrals, context.random);
      return { kind: 'retry-later', task: { ...task, attempt, deferrals }, delayMs, error: caught };
    }
    try {
      // With a login session, a page that shows logged out refreshes the session and is fetched again.
      const page = await fetchInSession(context, job, task, request, (sent) =>
        context.http.fetchPage(requestUrl, {
          request: sent,
          timeoutMs: job.fetch.timeoutMs,
          maxBytes: sitemap ? SITEMAP_MAX_BYTES : job.fetch.maxBytes,
          maxRedirects: job.fetch.maxRedirects,
          userAgent: job.politeness.userAgent,
          ...(sitemap ? { resource: true } : {}),
          ...(memory ? { validators: { etag: memory.etag, lastModified: memory.lastModified } } : {}),
        }),
      );
      if (sitemap && (page.status < 500 || attempt >= job.fetch.retries)) {
        return { kind: 'done', ended: { task, record: await processSitemap(context, task, page) } };
      }
      if (sitemap)
        throw httpStatusError(page.status, task.url, parseRetryAfter(page.headers['retry-after'], context.clock.now()));
      if (memory && (page.status === 304 || sha256Digest(page.body) === memory.hash)) {
        return { kind: 'done', ended: { task, record: await unchangedRecord(context, task, memory, page) } };
      }
      return { kind: 'fetched', task: { ...task, attempt }, page };
    } catch (caught) {
      error = asScrapelineError(caught);
    } finally {
      release();
    }
    const attributes = { url: task.url, runId: task.runId, job: task.job, attempt, reason: error.reason };
    if (!error.retryable || attempt >= retries) {
      context.log.warn('fetch failed', { ...attributes, error: error.message });
      return ended(task, 'failed', error.reason, error.message);
    }
    const retryAfterMs = 'retryAfterMs' in error ? (error as RetryableError).retryAfterMs : undefined;
    if (retryAfterMs !== undefined && retryAfterMs > context.settings.maxRetryAfterMs) {
      const message = `${error.message}; Retry-After of ${Math.round(retryAfterMs / 1000)} s is beyond the limit`;
      return ended(task, 'failed', error.reason, message);
    }
    const delayMs = Math.max(retryAfterMs ?? 0, backoffMs(attempt, context.settings.retryBaseMs, context.random));
    if (error.reason === 'http-429' || error.reason === 'http-503') {
      // The host asked everyone to slow down, not just this request.
      await context.hosts.slowDown(host, context.clock.now() + delayMs, { state: context.state });
    }
    attempt++;
    context.log.debug('fetch retry', { ...attributes, delayMs });
    if (delayMs > context.settings.inlineRetryMaxMs) {
      return { kind: 'retry-later', task: { ...task, attempt }, delayMs, error };
    }
    await context.clock.sleep(delayMs);
  }
}

/**
 * A page that has not changed since the last run (304, or the same body hash) is not parsed: its links from last
 * time are followed again, and it ends `unchanged`, counting with what it yielded when last parsed and still holding
 * the item keys it held then.
 */
async function unchangedRecord(
  context: PipelineContext,
  task: FetchTask,
  memory: PageMemory,
  page: FetchedPage,
): Promise<PageRecord> {
  await followLinks(context, task, memory.links);
  // Memories from before yields were kept know only their item count (and the task its template).
  const template = memory.template ?? task.template;
  const yielded =
    template === undefined
      ? {}
      : memory.keys === undefined
        ? { [templateCounter.items(template)]: memory.items }
        : templateCounters(template, memory);
  return {
    status: 'unchanged',
    url: task.url,
    depth: task.depth,
    reason: page.status === 304 ? 'not-modified' : 'same-content',
    keys: memory.keys ? [...memory.keys] : null,
    add: { unchangedItems: memory.items, ...yielded },
    wireBytes: page.wireBytes,
    bodyBytes: 0,
    fetchMs: page.durationMs,
  };
}

/** A URL that ends in the fetcher as failed or skipped, with its reason (made terminal by post-processing). */
function ended(task: FetchTask, status: 'failed' | 'skipped', reason: FailureReason, message: string): FetchOutcome {
  const recorded: string = reason;
  return {
    kind: 'done',
    ended: {
      task,
      record: { status, url: task.url, depth: task.depth, reason: recorded, message, wireBytes: 0, bodyBytes: 0, fetchMs: 0 },
    },
  };
}

/**
 * Archives fetched pages as one WARC object per run and enqueues one parse task per page pointing at its
 * response record; pages that ended without a parse go to post-processing in one records object per run. Tasks to
 * retry later go back to the fetch queue with their delay.
 */
export async function dispatchFetched(context: PipelineContext, outcomes: readonly FetchOutcome[]): Promise<void> {
  const later: Extract<FetchOutcome, { kind: 'retry-later' }>[] = [];
  const ended: RunPageRecord[] = [];
  const fetchedPages: Extract<FetchOutcome, { kind: 'fetched' }>[] = [];
  for (const outcome of outcomes) {
    if (outcome.kind === 'retry-later') later.push(outcome);
    if (outcome.kind === 'done' && outcome.ended) ended.push(outcome.ended);
    if (outcome.kind === 'fetched') fetchedPages.push(outcome);
  }
  for (const fetched of groupBy(fetchedPages, (outcome) => runOf(outcome.task)).values()) {
    const first = fetched[0];
    if (!first) continue;
    const key = layout.raw(first.task.job, first.task.runId, newId(context.clock, context.random));
    const batch = new WarcBatch();
    const tasks: ParseTask[] = fetched.map(({ task, page }) => {
      const range = batch.add({
        targetUri: page.finalUrl,
        date: new Date(page.startedAt),
        status: page.status,
        responseHeaders: page.headers,
        body: page.body,
        // What was sent, credentials and secrets redacted.
        requestHeaders: { ...page.requestHeaders, 'User-Agent': context.jobs.get(task.job).politeness.userAgent },
        extensions: {
          'Requested-URI': task.url,
          Depth: String(task.depth),
          ...(task.template === undefined ? {} : { Template: task.template }),
          'Wire-Bytes': String(page.wireBytes),
          'Fetch-Ms': String(page.durationMs),
        },
      });
      return {
        type: 'parse',
        follow: true,
        job: task.job,
        runId: task.runId,
        url: task.url,
        depth: task.depth,
        template: task.template,
        hosts: task.hosts,
        raw: { key, offset: range.offset, length: range.length },
      };
    });
    await context.store.put(key, batch.toBuffer(), { contentType: 'application/warc' });
    await context.parseQueue.send(tasks.map((task) => ({ body: JSON.stringify(task) })));
  }
  await writePageRecords(context, ended);
  if (later.length > 0) {
    await context.fetchQueue.send(
      later.map(({ task, delayMs }) => ({ body: JSON.stringify(task), delaySeconds: Math.min(900, Math.ceil(delayMs / 1000)) })),
    );
  }
}
