import { NonRetryableError, RetryableError, ScrapelineError } from '../errors.js';
import { decodeDocument } from '../fetch/charset.js';
import { formBody, loginForm, readForms } from '../fetch/forms.js';
import type { FetchedPage } from '../fetch/http.js';
import type { PageRequest, RequestBody } from '../fetch/request.js';
import type { Job, SessionSpec } from '../job/schema.js';
import { secretRefsOf, secretValue } from '../job/secrets.js';
import type { StateItem } from '../ports.js';
import { stateKeys } from '../state-keys.js';
import type { PipelineContext } from './context.js';
import { plainRequest } from './requests.js';
import { robotsPolicy } from './robots.js';

/**
 * Logins: a run's session is made once, by the first fetcher that needs it, and shared with every fetcher of the run
 * through the state store (item `session` of the run: its cookies and generation, or why the login failed). A page
 * showing the logged-out condition has the session refreshed (a new generation; one login however many fetchers
 * noticed) and is fetched again once.
 */

/** A run's session: the cookies its login set, for the pages on the login page's host. */
export interface RunSession {
  /** Counts the logins of the run: a page fetched with an older one that shows logged out asks for a new one. */
  readonly generation: number;
  readonly host: string;
  readonly cookies: Readonly<Record<string, string>>;
}

/** The login failed for a reason another attempt will meet too: the run's pages fail with it, none is requested. */
export class LoginFailedError extends NonRetryableError {
  override readonly name = 'LoginFailedError';
  constructor(message: string) {
    super(message, 'login-failed');
  }
}

/** A page still shows the logged-out condition right after a fresh login. */
export class LoggedOutError extends NonRetryableError {
  override readonly name = 'LoggedOutError';
  constructor(url: string) {
    super(`${url} shows the logged-out condition even with fresh sessions`, 'logged-out');
  }
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Sessions a page is fetched with after it showed logged out, before it fails (`logged-out`). */
const MAX_REFRESHES = 3;
/** How often a fetcher waiting for another's login looks again. */
const POLL_MS = 250;

/** The host whose pages carry the session's cookies: the login page's (cookies are per host, whatever the port). */
export function sessionHost(job: Job): string | undefined {
  return job.session === undefined ? undefined : new URL(job.session.login.url).hostname;
}

/** The request with the session's cookies added (over the job's cookies of the same name). */
export function withSession(request: PageRequest, session: RunSession): PageRequest {
  const cookies = new Map<string, string>();
  for (const pair of (request.headers.cookie ?? '').split(';')) {
    const at = pair.indexOf('=');
    if (at > 0) cookies.set(pair.slice(0, at).trim(), pair.slice(at + 1).trim());
  }
  for (const [name, value] of Object.entries(session.cookies)) cookies.set(name, value);
  const cookie = [...cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  return { ...request, headers: { ...request.headers, cookie }, session: session.generation };
}

/** Whether a fetch's outcome (a page, or the error of a status) shows the logged-out condition. */
export function showsLoggedOut(spec: SessionSpec, outcome: { page: FetchedPage } | { error: unknown }): boolean {
  const { loggedOut } = spec;
  if ('error' in outcome) {
    const reason = outcome.error instanceof ScrapelineError ? outcome.error.reason : '';
    const status = Number(/^http-(\d{3})$/.exec(reason)?.[1]);
    return loggedOut.status?.includes(status) ?? false;
  }
  const { page } = outcome;
  if (loggedOut.status?.includes(page.status)) return true;
  if (loggedOut.urlPattern !== undefined && new RegExp(loggedOut.urlPattern).test(page.finalUrl)) return true;
  if (loggedOut.pattern !== undefined && page.body.length > 0) {
    return new RegExp(loggedOut.pattern).test(decodeDocument(page.body, page.headers['content-type']).text);
  }
  return false;
}

function sessionOf(item: StateItem | undefined): RunSession | undefined {
  if (item?.status !== 'ok' || typeof item.cookies !== 'string' || typeof item.host !== 'string') return undefined;
  return { generation: Number(item.generation), host: item.host, cookies: JSON.parse(item.cookies) as Record<string, string> };
}

/**
 * The run's session: from this process's memo, the state store, or a login made now (or by another fetcher,
 * waited for). `stale` names a generation a page showed logged out with: a session of that generation is replaced.
 *
 * @param inSlot the caller holds a politeness slot of the login's host (a page being fetched): the login's
 *   requests are spaced by the job's delay within it instead of waiting for slots of their own
 * @throws {LoginFailedError} when the run's login failed (now or before)
 */
export async function runSession(
  context: PipelineContext,
  job: Job,
  runId: string,
  options: { readonly stale?: number; readonly inSlot?: boolean } = {},
): Promise<RunSession> {
  const memoKey = `session:${job.name}/${runId}`;
  const memo = context.memo.get(memoKey) as RunSession | undefined;
  if (memo && memo.generation !== options.stale) return memo;
  const pk = stateKeys.run(job.name, runId);
  const sk = stateKeys.session;
  // A login takes a few requests; one that has not finished in this long was abandoned (a fetcher that died).
  const leaseMs = job.fetch.timeoutMs * 4 * (job.fetch.retries + 1) + 5000;
  for (;;) {
    const item = await context.state.get(pk, sk);
    if (item?.status === 'failed') throw new LoginFailedError(String(item.message));
    const stored = sessionOf(item);
    if (stored && stored.generation !== options.stale) {
      for (const value of Object.values(stored.cookies)) context.secrets.redactor.add(value);
      context.memo.set(memoKey, stored);
      return stored;
    }
    const now = context.clock.now();
    if (item?.status === 'pending' && now - Number(item.at) < leaseMs) {
      await context.clock.sleep(POLL_MS);
      continue;
    }
    const generation = Number(item?.generation ?? 0) + 1;
    const claimed = await context.state.write({
      pk,
      sk,
      set: { status: 'pending', at: now, generation },
      condition: item === undefined ? { kind: 'absent' } : { kind: 'equals', attribute: 'at', value: item.at ?? null },
    });
    // Another fetcher claimed it first: wait for its login.
    if (claimed === undefined) continue;
    let cookies: Record<string, string>;
    try {
      cookies = await loginWithRetries(context, job, runId, options.inSlot ?? false);
    } catch (error) {
      if (error instanceof ScrapelineError && !error.retryable) {
        const message = error instanceof LoginFailedError ? error.message : `login failed: ${error.message}`;
        await context.state.write({ pk, sk, set: { status: 'failed', at: now, generation, message } });
        context.log.error('login failed: the run cannot go on', { job: job.name, runId, reason: error.reason, error: message });
        throw new LoginFailedError(message);
      }
      // Worth another try later: the claim is given up for whoever comes next.
      await context.state.write({ pk, sk, set: { status: 'pending', at: 0, generation: generation - 1 } });
      throw error;
    }
    for (const value of Object.values(cookies)) context.secrets.redactor.add(value);
    const session: RunSession = { generation, host: sessionHost(job) as string, cookies };
    await context.state.write({
      pk,
      sk,
      set: { status: 'ok', at: context.clock.now(), generation, host: session.host, cookies: JSON.stringify(cookies) },
    });
    context.log.info('logged in', { job: job.name, runId, generation, cookies: Object.keys(cookies) });
    context.memo.set(memoKey, session);
    return session;
  }
}

async function loginWithRetries(
  context: PipelineContext,
  job: Job,
  runId: string,
  inSlot: boolean,
): Promise<Record<string, string>> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await login(context, job, runId, inSlot);
    } catch (error) {
      if (!(error instanceof ScrapelineError) || !error.retryable || attempt >= job.fetch.retries) throw error;
      const delayMs = context.settings.retryBaseMs * 2 ** attempt;
      context.log.warn('login attempt failed, retrying', { job: job.name, runId, attempt, reason: error.reason, delayMs });
      await context.clock.sleep(delayMs);
    }
  }
}

/** Keeps the cookies `Set-Cookie` headers set (or remove: an expiry in the past, `Max-Age=0`). */
function absorbCookies(jar: Map<string, string>, setCookies: readonly string[] | undefined, now: number): void {
  for (const header of setCookies ?? []) {
    const [pair = '', ...attributes] = header.split(';');
    const at = pair.indexOf('=');
    if (at <= 0) continue;
    const name = pair.slice(0, at).trim();
    const expired = attributes.some((attribute) => {
      const [key = '', value = ''] = attribute.split('=').map((part) => part.trim());
      if (key.toLowerCase() === 'max-age') return Number(value) <= 0;
      if (key.toLowerCase() === 'expires') return Date.parse(value) <= now;
      return false;
    });
    if (expired) jar.delete(name);
    else jar.set(name, pair.slice(at + 1).trim());
  }
}

/** One login: the form page, the form submitted with the job's fields, redirects followed, success checked. */
async function login(context: PipelineContext, job: Job, runId: string, inSlot: boolean): Promise<Record<string, string>> {
  const spec = job.session as SessionSpec;
  const base = await plainRequest(context, job, runId);
  const refs = secretRefsOf(spec.login.fields);
  const secrets = refs.length === 0 ? new Map<string, string>() : await context.secrets.values(refs);
  const values = Object.fromEntries(
    Object.entries(spec.login.fields).map(([name, value]) => [name, secretValue(value, secrets)]),
  );
  const jar = new Map<string, string>();
  let first = true;

  const allowed = async (url: string) => {
    if (job.politeness.robotsTxt !== 'respect') return;
    const policy = await robotsPolicy(context, job, runId, url);
    if (policy.status === 'unreachable') {
      throw new RetryableError(`robots.txt of ${new URL(url).host} is unreachable: the login waits`, 'robots-unreachable');
    }
    if (!policy.isAllowed(url))
      throw new LoginFailedError(`robots.txt of ${policy.origin} disallows the login request to ${url}`);
  };
  // Politely: a slot of the host like any page, or (inside a page's slot) the job's delay between requests.
  const send = async (url: string, method: 'GET' | 'POST', body: RequestBody | undefined): Promise<FetchedPage> => {
    await allowed(url);
    let release: (() => void) | undefined;
    if (!inSlot) {
      release = await context.hosts.acquire(
        new URL(url).host,
        { concurrency: job.politeness.perHostConcurrency, minDelayMs: job.politeness.minDelayMs },
        { state: context.state },
      );
    } else if (!first) await context.clock.sleep(job.politeness.minDelayMs);
    first = false;
    try {
      const cookie = [...jar].map(([name, value]) => `${name}=${value}`).join('; ');
      const request: PageRequest = {
        ...base,
        method,
        headers: cookie === '' ? {} : { cookie },
        ...(body === undefined ? {} : { body }),
        retryable: false,
      };
      const page = await context.http.fetchPage(url, {
        request,
        timeoutMs: job.fetch.timeoutMs,
        maxBytes: job.fetch.maxBytes,
        maxRedirects: job.fetch.maxRedirects,
        userAgent: job.politeness.userAgent,
        resource: true,
        returnRedirects: true,
      });
      absorbCookies(jar, page.setCookies, context.clock.now());
      return page;
    } finally {
      release?.();
    }
  };
  // Redirects followed here, so that the cookies each one sets go with the next request.
  const follow = async (url: string, method: 'GET' | 'POST', body?: RequestBody): Promise<FetchedPage> => {
    let page = await send(url, method, body);
    for (let hops = 0; REDIRECTS.has(page.status); hops++) {
      const location = page.headers.location;
      if (location === undefined || hops >= job.fetch.maxRedirects) {
        throw new LoginFailedError(`the login's redirects from ${url} did not end (HTTP ${page.status} at ${page.finalUrl})`);
      }
      const next = new URL(location, page.finalUrl).href;
      const get = page.status === 303 || ((page.status === 301 || page.status === 302) && method !== 'GET');
      if (get) {
        method = 'GET';
        body = undefined;
      }
      page = await send(next, method, body);
    }
    if (page.status >= 500 || page.status === 429) {
      throw new RetryableError(`the login request to ${page.finalUrl} answered HTTP ${page.status}`, `http-${page.status}`);
    }
    return page;
  };

  const formPage = await follow(spec.login.url, 'GET');
  if (formPage.status >= 400) throw new LoginFailedError(`the login page ${formPage.finalUrl} answered HTTP ${formPage.status}`);
  const form = loginForm(readForms(decodeDocument(formPage.body, formPage.headers['content-type']).text), spec.login.form);
  if (form === undefined) {
    const wanted = spec.login.form === undefined ? 'a form with a password field' : `a form with id or name "${spec.login.form}"`;
    throw new LoginFailedError(`the login page ${formPage.finalUrl} has no ${wanted}`);
  }
  const action = new URL(form.action || formPage.finalUrl, formPage.finalUrl);
  const encoded = formBody(form, values);
  let result: FetchedPage;
  if (form.method === 'POST') {
    result = await follow(action.href, 'POST', { contentType: 'application/x-www-form-urlencoded', text: encoded });
  } else {
    action.search = encoded;
    result = await follow(action.href, 'GET');
  }
  const { success } = spec;
  const problems: string[] = [];
  if (success.cookie !== undefined && !jar.has(success.cookie)) problems.push(`no cookie "${success.cookie}" was set`);
  if (success.urlPattern !== undefined && !new RegExp(success.urlPattern).test(result.finalUrl)) {
    problems.push(`the URL ${result.finalUrl} does not match "${success.urlPattern}"`);
  }
  if (success.pattern !== undefined) {
    const text = decodeDocument(result.body, result.headers['content-type']).text;
    if (!new RegExp(success.pattern).test(text)) problems.push(`the page does not match "${success.pattern}"`);
  }
  if (problems.length > 0) {
    throw new LoginFailedError(
      `the login did not succeed (the form was sent to ${action.origin}${action.pathname}, answer HTTP ${result.status} at ${result.finalUrl}): ${problems.join('; ')}`,
    );
  }
  return Object.fromEntries(jar);
}

/**
 * Fetches a page of a job with a session: when what comes back shows the logged-out condition, the session is
 * refreshed and the page fetched again with it (a few times at most). The caller holds the host's politeness slot.
 *
 * @throws {LoggedOutError} when the page shows logged out with a fresh session too
 */
export async function fetchInSession(
  context: PipelineContext,
  job: Job,
  page: { readonly url: string; readonly runId: string },
  request: PageRequest,
  fetch: (request: PageRequest) => Promise<FetchedPage>,
): Promise<FetchedPage> {
  const spec = job.session;
  if (spec === undefined || request.session === undefined) return fetch(request);
  const once = async (sent: PageRequest): Promise<FetchedPage | undefined> => {
    try {
      const page = await fetch(sent);
      return showsLoggedOut(spec, { page }) ? undefined : page;
    } catch (error) {
      if (showsLoggedOut(spec, { error })) return undefined;
      throw error;
    }
  };
  const { url, runId } = page;
  let sent = request;
  // A session other fetchers use may run out again before this page's turn: a few refreshes, then the page fails.
  for (let refresh = 0; refresh <= MAX_REFRESHES; refresh++) {
    const fetched = await once(sent);
    if (fetched) return fetched;
    if (refresh === MAX_REFRESHES) break;
    context.log.info('session logged out: refreshing it', { job: job.name, runId, url, generation: sent.session });
    sent = withSession(request, await runSession(context, job, runId, { stale: sent.session, inSlot: true }));
  }
  throw new LoggedOutError(url);
}
