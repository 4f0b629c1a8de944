import { ScrapelineError } from '../errors.js';
import {
  deserialiseRobots,
  type RobotsFetchResult,
  type RobotsPolicy,
  robotsPolicyFor,
  robotsUrlFor,
  serialiseRobots,
} from '../fetch/robots-txt.js';
import type { Job } from '../job/schema.js';
import type { PipelineContext } from './context.js';
import { runKey } from './ledger.js';
import { plainRequest } from './requests.js';

/** robots.txt is read up to 512 KiB and a larger one parsed up to there (RFC 9309 §2.5: at least 500 KiB). */
const ROBOTS_MAX_BYTES = 512 * 1024;

/** Fetches a robots.txt and maps the outcome as RFC 9309 §2.3.1 needs it. */
async function fetchRobots(context: PipelineContext, robotsUrl: string, job: Job, runId: string): Promise<RobotsFetchResult> {
  try {
    const page = await context.http.fetchPage(robotsUrl, {
      // Through the job's proxies, like its pages.
      request: await plainRequest(context, job, runId),
      timeoutMs: job.fetch.timeoutMs,
      maxBytes: ROBOTS_MAX_BYTES,
      maxRedirects: 5,
      userAgent: job.politeness.userAgent,
      resource: true,
      truncate: true,
    });
    if (page.status >= 200 && page.status < 300) return { kind: 'ok', status: page.status, body: page.body.toString('utf8') };
    return { kind: 'status', status: page.status };
  } catch (error) {
    if (error instanceof ScrapelineError && error.reason === 'too-many-redirects') return { kind: 'status', status: 310 };
    // The host cannot be fetched at all from here (SSRF guard, bad redirect...): the page fetch will fail on its own.
    if (error instanceof ScrapelineError && !error.retryable) return { kind: 'status', status: 400 };
    return { kind: 'unreachable', reason: error instanceof ScrapelineError ? error.reason : 'network' };
  }
}

/**
 * The robots.txt policy of a URL's origin for a run: fetched once per origin per run and cached in the state store
 * (so every fetcher of the fleet sees the same policy), and memoised in process. An unreachable robots.txt
 * disallows everything and is fetched again after `settings.robotsRetryMs`.
 */
export async function robotsPolicy(context: PipelineContext, job: Job, runId: string, url: string): Promise<RobotsPolicy> {
  const robotsUrl = robotsUrlFor(url);
  const memoKey = `robots:${job.name}/${runId}/${robotsUrl}`;
  const memo = context.memo.get(memoKey) as Promise<{ policy: RobotsPolicy; at: number }> | undefined;
  const now = context.clock.now();
  if (memo) {
    const { policy, at } = await memo;
    if (policy.status !== 'unreachable' || now - at < context.settings.robotsRetryMs) return policy;
  }
  // One lookup per origin in flight per process: concurrent fetches of a host wait for the same robots.txt.
  const lookup = loadPolicy(context, job, runId, robotsUrl, now);
  context.memo.set(memoKey, lookup);
  try {
    return (await lookup).policy;
  } catch (error) {
    context.memo.delete(memoKey);
    throw error;
  }
}

async function loadPolicy(
  context: PipelineContext,
  job: Job,
  runId: string,
  robotsUrl: string,
  now: number,
): Promise<{ policy: RobotsPolicy; at: number }> {
  const pk = runKey(job.name, runId);
  const sk = `robots#${robotsUrl}`;
  const cached = await context.state.get(pk, sk);
  if (cached && typeof cached.policy === 'string') {
    const policy = deserialiseRobots(cached.policy);
    const at = Number(cached.at ?? 0);
    if (policy.status !== 'unreachable' || now - at < context.settings.robotsRetryMs) return { policy, at };
  }
  const result = await fetchRobots(context, robotsUrl, job, runId);
  const policy = robotsPolicyFor(result, robotsUrl, job.politeness.userAgent);
  await context.state.write({ pk, sk, set: { policy: serialiseRobots(policy), at: now } });
  if (policy.status === 'unreachable') {
    context.log.warn('robots.txt unreachable: the host is disallowed for now', { robotsUrl, runId, job: job.name, result });
  }
  return { policy, at: now };
}
