import { sha256Digest, WarcBatch } from '../archive/warc.js';
import { groupBy } from '../collections.js';
import { DeadlineError, describeError, RetryableError, type ScrapelineError } from '../errors.js';
import type { FailureReason } from '../failure-reasons.js';
import { httpStatusError, parseRetryAfter } from '../fetch/errors.js';
import type { FetchedPage } from '../fetch/http.js';
import { type PageRequest, withQuery } from '../fetch/request.js';
import { SITEMAP_MAX_BYTES } from '../fetch/sitemap-xml.js';
import type { Job } from '../job/schema.js';
import { layout } from '../layout.js';
import { hostOf } from '../url.js';
import { newId, type PipelineContext } from './context.js';
import { templateCounter, templateCounters } from './ledger.js';
import { followLinks } from './links.js';
import { type FetchTask, type PageRecord, type ParseTask, runOf } from './messages.js';
import type { PageMemory } from './pages.js';
import { type RunPageRecord, writePageRecords } from './parse.js';
import { PolitenessDeferral, SLOT_LEAD_MS } from './politeness.js';
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
export async function fetchTask(
  context: PipelineContext,
  task: FetchTask,
  options: {
    /** Asked before each chunk of a sitemap part: whether to stop and hand the rest back. @default never */
    readonly stopping?: () => boolean;
  } = {},
): Promise<FetchOutcome> {
  const job = context.jobs.get(task.job);
  // A redelivered task whose URL is terminal is dropped; one the look misses is fetched again and dropped by its move.
  const entry = await context.ledger.peekUrl(task.job, task.runId, task.url);
  if (entry && entry.status !== 'accepted') return { kind: 'done' };
  // A part of a large sitemap: its entries are offered, nothing is fetched.
  if (task.sitemapPart) {
    const offered = await processSitemapPart(context, task, options.stopping);
    if ('record' in offered) return { kind: 'done', ended: { task, record: offered.record } };
    const error = new DeadlineError(
      `the invocation is near its deadline: the entries of ${task.url} not offered yet are handed back`,
    );
    return { kind: 'retry-later', task: offered.rest, delayMs: 0, error };
  }
  const planned = await planFetch(context, job, task);
  if ('settled' in planned) return planned.settled;
  const plan = planned.plan;
  let attempt = task.attempt;
  for (;;) {
    const booked = await bookHost(context, plan, attempt);
    if ('settled' in booked) return booked.settled;
    let error: ScrapelineError;
    try {
      return await fetchOnce(context, plan, attempt);
    } catch (caught) {
      error = asScrapelineError(caught);
    } finally {
      booked.release();
    }
    const next = await afterFailedAttempt(context, plan, attempt, error);
    if ('settled' in next) return next.settled;
    attempt++;
    await context.clock.sleep(next.waitMs);
  }
}

/** A step of {@link fetchTask} that ended the task: how it ended. */
type Settled = { readonly settled: FetchOutcome };

/** What every attempt at a task uses, decided once before the first. */
interface FetchPlan {
  readonly job: Job;
  readonly task: FetchTask;
  readonly host: string;
  /** The task is a sitemap's: a resource of the site, fetched plainly, not checked against robots.txt rules. */
  readonly sitemap: boolean;
  readonly request: PageRequest;
  /** The URL as requested, with the job's query parameters. */
  readonly requestUrl: string;
  /** Retries of a failed fetch: none unless the request may be sent again. */
  readonly retries: number;
  /** The job's minimum delay between requests to the host, raised to robots.txt's crawl delay. */
  readonly minDelayMs: number;
  /** What the last run saw of the page (its validators and hash); none for a sitemap. */
  readonly memory: PageMemory | undefined;
}

/**
 * Decides how a task is fetched: the request (the job's options, or a plain one for a sitemap), robots.txt's
 * verdict and delay, and the page's memory. A task can end here: options that cannot be had, robots.txt
 * disallowing the URL or staying unreachable.
 */
async function planFetch(context: PipelineContext, job: Job, task: FetchTask): Promise<{ readonly plan: FetchPlan } | Settled> {
  const sitemap = task.sitemapChain !== undefined;
  const requested = await requestOf(context, job, task, sitemap);
  if ('settled' in requested) return requested;
  const { request } = requested;
  // robots.txt judges the URL as fetched, with the job's query parameters.
  const requestUrl = withQuery(task.url, request.query);
  const robots = await robotsVerdict(context, job, task, requestUrl, sitemap);
  if ('settled' in robots) return robots;
  const memory = sitemap ? undefined : await context.pages.get(task.job, task.url);
  const retries = request.retryable ? job.fetch.retries : 0;
  const host = hostOf(task.url);
  return { plan: { job, task, host, sitemap, request, requestUrl, retries, minDelayMs: robots.minDelayMs, memory } };
}

/**
 * The job's request options (a sitemap is a resource of the site, fetched plainly); a body is sent once unless
 * idempotent. A secret that cannot be read (missing, not granted) fails the page; throttling is thrown, so that the
 * task comes back with the message.
 */
async function requestOf(
  context: PipelineContext,
  job: Job,
  task: FetchTask,
  sitemap: boolean,
): Promise<{ readonly request: PageRequest } | Settled> {
  try {
    return { request: sitemap ? await plainRequest(context, job, task.runId) : await jobRequest(context, job, task) };
  } catch (caught) {
    const error = asScrapelineError(caught);
    if (error.retryable) throw error;
    context.log.warn('request options unavailable', { url: task.url, runId: task.runId, job: task.job, reason: error.reason });
    return { settled: ended(task, 'failed', error.reason, error.message) };
  }
}

/**
 * Applies robots.txt, when the job respects it: the delay between requests to the host (the job's, raised to the
 * crawl delay), or the task's end. A URL the rules disallow is skipped (a sitemap is not checked: robots.txt sends
 * crawlers there); a robots.txt that cannot be reached is tried again later, and fails the URL once the job's
 * retries are used up.
 */
async function robotsVerdict(
  context: PipelineContext,
  job: Job,
  task: FetchTask,
  requestUrl: string,
  sitemap: boolean,
): Promise<{ readonly minDelayMs: number } | Settled> {
  const minDelayMs = job.politeness.minDelayMs;
  if (job.politeness.robotsTxt !== 'respect') return { minDelayMs };
  const policy = await robotsPolicy(context, job, task.runId, task.url);
  if (policy.status === 'unreachable') {
    const host = hostOf(task.url);
    if (task.attempt < job.fetch.retries) {
      const error = new RetryableError(`robots.txt of ${host} is unreachable`, 'robots-unreachable');
      const delayMs = context.settings.robotsRetryMs * 2 ** task.attempt;
      return { settled: { kind: 'retry-later', task: { ...task, attempt: task.attempt + 1 }, delayMs, error } };
    }
    // Not a choice made by policy but the host failing us: a run that could reach nothing ends failed.
    const message = `robots.txt of ${host} stayed unreachable (network error, 5xx or 429) after ${job.fetch.retries} retries; RFC 9309 disallows the host until it answers`;
    return { settled: ended(task, 'failed', 'robots-unreachable', message) };
  }
  if (!sitemap && !policy.isAllowed(requestUrl)) {
    return { settled: ended(task, 'skipped', 'robots', `disallowed by ${policy.origin}/robots.txt`) };
  }
  return { minDelayMs: policy.crawlDelayMs === undefined ? minDelayMs : Math.max(minDelayMs, policy.crawlDelayMs) };
}

/**
 * Books a slot with the host's politeness gate, through the run's (metered) state store: the run pays for its
 * politeness. A task the gate hands back goes to the queue: at once when handed back untouched (an invocation's
 * deadline), later each time when the host is too busy, so that many tasks queued for a slow host do not come
 * back all at once, again and again.
 */
async function bookHost(
  context: PipelineContext,
  plan: FetchPlan,
  attempt: number,
): Promise<{ readonly release: () => void } | Settled> {
  const { job, task } = plan;
  try {
    const limits = { concurrency: job.politeness.perHostConcurrency, minDelayMs: plan.minDelayMs };
    const call = { state: context.state, ...(task.slotAt === undefined ? {} : { slotAt: task.slotAt }) };
    return { release: await context.hosts.acquire(plan.host, limits, call) };
  } catch (caught) {
    if (!(caught instanceof PolitenessDeferral)) throw caught;
    const { slotAt: _passed, ...unslotted } = task;
    if (caught.delayMs === 0) return { settled: { kind: 'retry-later', task: { ...task, attempt }, delayMs: 0, error: caught } };
    const deferrals = (task.deferrals ?? 0) + 1;
    // A start booked for the task: it goes back carrying it, sent to arrive just before it (`dispatchFetched`).
    if (caught.slotAt !== undefined) {
      const slotted = { ...unslotted, attempt, deferrals, slotAt: caught.slotAt };
      return { settled: { kind: 'retry-later', task: slotted, delayMs: caught.delayMs, error: caught } };
    }
    const delayMs = deferralDelayMs(caught.delayMs, deferrals, context.random);
    return { settled: { kind: 'retry-later', task: { ...unslotted, attempt, deferrals }, delayMs, error: caught } };
  }
}

/**
 * One attempt, its host slot booked: fetches the URL (with a login session, a page that shows logged out
 * refreshes the session and is fetched again) and judges the answer. A sitemap is read, unless it answered 5xx
 * with retries left (thrown, to be retried); a page unchanged since the last run ends `unchanged`; any other page
 * is `fetched`. Throws what failed.
 */
async function fetchOnce(context: PipelineContext, plan: FetchPlan, attempt: number): Promise<FetchOutcome> {
  const { job, task, sitemap, memory } = plan;
  const page = await fetchInSession(context, job, task, plan.request, (sent) =>
    context.http.fetchPage(plan.requestUrl, {
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
  if (sitemap) throw httpStatusError(page.status, task.url, parseRetryAfter(page.headers['retry-after'], context.clock.now()));
  if (memory && (page.status === 304 || sha256Digest(page.body) === memory.hash)) {
    return { kind: 'done', ended: { task, record: await unchangedRecord(context, task, memory, page) } };
  }
  return { kind: 'fetched', task: { ...task, attempt }, page };
}

/**
 * The retry-or-fail decision after a failed attempt. The URL fails when the error is not retryable, its retries
 * are used up, or the host's `Retry-After` is beyond the limit. Otherwise it is tried again after a backoff (at
 * least the `Retry-After`): waited in process when short (`waitMs`), from the queue when long (`retry-later`).
 * A 429 or 503 slows the whole host down.
 */
async function afterFailedAttempt(
  context: PipelineContext,
  plan: FetchPlan,
  attempt: number,
  error: ScrapelineError,
): Promise<{ readonly waitMs: number } | Settled> {
  const { task } = plan;
  const attributes = { url: task.url, runId: task.runId, job: task.job, attempt, reason: error.reason };
  if (!error.retryable || attempt >= plan.retries) {
    context.log.warn('fetch failed', { ...attributes, error: error.message });
    return { settled: ended(task, 'failed', error.reason, error.message) };
  }
  const retryAfterMs = 'retryAfterMs' in error ? (error as RetryableError).retryAfterMs : undefined;
  if (retryAfterMs !== undefined && retryAfterMs > context.settings.maxRetryAfterMs) {
    const message = `${error.message}; Retry-After of ${Math.round(retryAfterMs / 1000)} s is beyond the limit`;
    return { settled: ended(task, 'failed', error.reason, message) };
  }
  const delayMs = Math.max(retryAfterMs ?? 0, backoffMs(attempt, context.settings.retryBaseMs, context.random));
  if (error.reason === 'http-429' || error.reason === 'http-503') {
    // The host asked everyone to slow down, not just this request.
    await context.hosts.slowDown(plan.host, context.clock.now() + delayMs, { state: context.state });
  }
  context.log.debug('fetch retry', { ...attributes, delayMs });
  if (delayMs > context.settings.inlineRetryMaxMs) {
    return { settled: { kind: 'retry-later', task: { ...task, attempt: attempt + 1 }, delayMs, error } };
  }
  return { waitMs: delayMs };
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
 * The SQS delay of a task to retry later: its own delay, or for a task carrying a booked start (`slotAt`), from the time it is
 * sent, so that it is visible {@link SLOT_LEAD_MS} before its start (whole seconds, rounded down: early, not late).
 */
export function delaySecondsOf(slotAt: number | undefined, delayMs: number, now: number): number {
  if (slotAt !== undefined && slotAt > now) return Math.min(900, Math.max(0, Math.floor((slotAt - now - SLOT_LEAD_MS) / 1000)));
  return Math.min(900, Math.ceil(delayMs / 1000));
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
    const now = context.clock.now();
    await context.fetchQueue.send(
      later.map(({ task, delayMs }) => ({ body: JSON.stringify(task), delaySeconds: delaySecondsOf(task.slotAt, delayMs, now) })),
    );
  }
}
