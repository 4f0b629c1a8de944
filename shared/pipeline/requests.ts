import { createHash } from 'node:crypto';
import { type PageRequest, PLAIN_GET, pageRequest, pageRequestSpec } from '../fetch/request.js';
import type { Job } from '../job/schema.js';
import { type SecretRef, type SecretValues, secretRefsOf, secretValue } from '../job/secrets.js';
import type { PipelineContext } from './context.js';
import { SecretError } from './secrets.js';
import { runSession, sessionHost, withSession } from './sessions.js';

/**
 * The requests of a job, ready to send: its request options (the job's, its follow rule's) with the secrets they
 * name read through the context's resolver, the proxies to go through (in the order to try them), and the cookies of
 * the run's login session.
 */

/** Where a page is in its run: what its request depends on. */
export interface RequestPage {
  readonly runId: string;
  /** The page's URL: pages on the login page's host carry the run's session. @default no session */
  readonly url?: string;
  readonly template?: string | undefined;
  readonly depth: number;
}

/**
 * The request a page of a job is fetched with.
 *
 * @throws {SecretError} when a secret cannot be read (retryable or not), or a proxy secret is not a proxy URL
 * @throws {import('./sessions.js').LoginFailedError} when the run's login failed
 */
export async function jobRequest(context: PipelineContext, job: Job, page: RequestPage): Promise<PageRequest> {
  const spec = pageRequestSpec(job, page);
  const refs = secretRefsOf([spec, job.fetch.proxy]);
  const values = refs.length === 0 ? undefined : await context.secrets.values(refs);
  const request = withProxies(context, job, page.runId, pageRequest(job, page, values), values);
  // The login's cookies go to the login page's host only.
  if (page.url === undefined || sessionHost(job) !== new URL(page.url).hostname) return request;
  return withSession(request, await runSession(context, job, page.runId));
}

/** The plain GET of a job's resources (robots.txt, sitemaps): no request options, but the job's proxies. */
export async function plainRequest(context: PipelineContext, job: Job, runId: string): Promise<PageRequest> {
  if (job.fetch.proxy === undefined) return PLAIN_GET;
  const refs = secretRefsOf(job.fetch.proxy);
  const values = refs.length === 0 ? undefined : await context.secrets.values(refs);
  return withProxies(context, job, runId, PLAIN_GET, values);
}

function withProxies(
  context: PipelineContext,
  job: Job,
  runId: string,
  request: PageRequest,
  values: SecretValues | undefined,
): PageRequest {
  const proxy = job.fetch.proxy;
  if (proxy === undefined) return request;
  const urls = proxy.urls.map((url) => proxyUrl(url, values ?? new Map()));
  const first = proxy.rotate === 'session' ? sessionIndex(runId, urls.length) : nextIndex(context, job.name, urls.length);
  return { ...request, proxies: [...urls.slice(first), ...urls.slice(0, first)] };
}

function proxyUrl(value: string | SecretRef, values: SecretValues): string {
  const url = secretValue(value, values);
  if (typeof value === 'string') return url;
  if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) {
    throw new SecretError(`secret "${value.secret}" is not an http: or https: proxy URL`, 'secret-invalid', { retryable: false });
  }
  return url;
}

/** Every fetcher of a run picks the same proxy: by the run's id. */
function sessionIndex(runId: string, count: number): number {
  return createHash('sha256').update(runId).digest().readUInt32BE(0) % count;
}

/** Round robin per job and process. */
function nextIndex(context: PipelineContext, job: string, count: number): number {
  const key = `proxy-rotation:${job}`;
  const next = ((context.memo.get(key) as number | undefined) ?? 0) + 1;
  context.memo.set(key, next);
  return (next - 1) % count;
}
