import { jobReadsJson } from '../job/formats.js';
import type { Job, RequestSpec } from '../job/schema.js';
import { type MaybeSecret, type SecretValues, secretValue } from '../job/secrets.js';

/**
 * The request a page of a job is fetched with: the job's `fetch.request`, and for followed pages the `request` of
 * the follow rules leading to their template. A URL is accepted into a run once, with its template, whichever rule
 * found it, so the template decides (the job model requires the rules of one template to agree): the fetcher, a
 * redelivered task and a resumed run all derive the same request from what travels with the URL.
 */

/** HTTP methods a job may use. */
export type RequestMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** A request body, encoded. */
export interface RequestBody {
  readonly contentType: string;
  readonly text: string;
}

/** A page request, resolved: what the HTTP client sends. */
export interface PageRequest {
  readonly method: RequestMethod;
  /** Headers by lower-case name, the `cookie` header included; sent to the URL's origin only. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: RequestBody;
  /** Query parameters set on the URL, replacing parameters of the same name. */
  readonly query: readonly (readonly [string, string])[];
  /**
   * Whether a failed attempt may be sent again (`fetch.retries`): always without a body; with a body only when the
   * job marks it idempotent (a POST sent twice may order twice).
   */
  readonly retryable: boolean;
  /**
   * Content types read besides HTML and XML documents: `json` for a job that reads JSON (`application/json` and
   * `+json` types), `any` for a template whose `format` decides how its pages are read. @default HTML and XML only
   */
  readonly accept?: 'json' | 'any';
  /**
   * Names of headers whose values are secrets (or carry one, as `cookie`): archives show them redacted, like
   * `authorization`, `cookie` and `proxy-authorization` always. @default none
   */
  readonly secretHeaders?: readonly string[];
  /**
   * Proxy URLs to send the request through, credentials included, in the order to try them: the first is the one
   * chosen (`fetch.proxy.rotate`), the others take over when it is down or refuses the tunnel. @default direct
   */
  readonly proxies?: readonly string[];
  /** The generation of the run's login session whose cookies the request carries. @default none (no session) */
  readonly session?: number;
}

/** Headers archived as `[redacted]` whatever their value: they carry credentials. */
export const CREDENTIAL_HEADERS: readonly string[] = ['authorization', 'cookie', 'proxy-authorization'];

/** The headers of a request as they may be archived: credentials and secrets replaced by `[redacted]`. */
export function redactedHeaders(request: PageRequest): Record<string, string> {
  const hidden = new Set([...CREDENTIAL_HEADERS, ...(request.secretHeaders ?? [])]);
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) out[name] = hidden.has(name) ? '[redacted]' : value;
  return out;
}

/** A plain GET: what robots.txt, sitemaps and jobs without request options get. */
export const PLAIN_GET: PageRequest = { method: 'GET', headers: {}, query: [], retryable: true };

function lowerKeys<T>(record: Readonly<Record<string, T>> | undefined): Record<string, T> {
  const out: Record<string, T> = {};
  for (const [name, value] of Object.entries(record ?? {})) out[name.toLowerCase()] = value;
  return out;
}

/**
 * Request options of a follow rule over the job's: headers (by name, in any case), cookies and query parameters
 * merge, the rule's winning; method, body and `idempotent` are the rule's when it sets a method or a body.
 */
export function mergeRequestSpecs(base: RequestSpec | undefined, override: RequestSpec | undefined): RequestSpec | undefined {
  if (override === undefined) return base;
  if (base === undefined) return override;
  const ownsBody = override.method !== undefined || override.form !== undefined || override.json !== undefined;
  const body = ownsBody ? override : base;
  const idempotent = ownsBody ? override.idempotent : (override.idempotent ?? base.idempotent);
  return {
    headers: { ...lowerKeys(base.headers), ...lowerKeys(override.headers) },
    cookies: { ...base.cookies, ...override.cookies },
    query: { ...base.query, ...override.query },
    ...(body.method === undefined ? {} : { method: body.method }),
    ...(body.form === undefined ? {} : { form: body.form }),
    ...(body.json === undefined ? {} : { json: body.json }),
    ...(idempotent === undefined ? {} : { idempotent }),
  };
}

/**
 * Resolves request options as written into the request to send.
 *
 * @param secrets the values of the secrets the options name (read by the pipeline's secret resolver)
 * @throws {MissingSecretValueError} when a secret named is not among `secrets`
 */
export function resolveRequest(spec: RequestSpec | undefined, secrets: SecretValues = new Map()): PageRequest {
  if (spec === undefined) return PLAIN_GET;
  let body: RequestBody | undefined;
  if (spec.form !== undefined) {
    const form = new URLSearchParams();
    for (const [name, value] of Object.entries(spec.form)) form.append(name, String(value));
    body = { contentType: 'application/x-www-form-urlencoded', text: form.toString() };
  } else if (spec.json !== undefined) {
    body = { contentType: 'application/json', text: JSON.stringify(spec.json) };
  }
  const method = spec.method ?? (body === undefined ? 'GET' : 'POST');
  const headers: Record<string, string> = {};
  const secretHeaders: string[] = [];
  const read = (name: string, value: MaybeSecret): string => {
    if (typeof value !== 'string' && !secretHeaders.includes(name)) secretHeaders.push(name);
    return secretValue(value, secrets);
  };
  for (const [name, value] of Object.entries(lowerKeys(spec.headers))) headers[name] = read(name, value);
  const cookies = Object.entries(spec.cookies ?? {});
  if (cookies.length > 0) headers.cookie = cookies.map(([name, value]) => `${name}=${read('cookie', value)}`).join('; ');
  const sendsBody = body !== undefined || method !== 'GET';
  return {
    method,
    headers,
    ...(secretHeaders.length === 0 ? {} : { secretHeaders }),
    ...(body === undefined ? {} : { body }),
    query: Object.entries(spec.query ?? {}).map(([name, value]) => [name, String(value)] as const),
    retryable: !sendsBody || spec.idempotent === true,
  };
}

/** The request options of a page of a job, as written: the job's, and for followed pages those of its rule. */
export function pageRequestSpec(
  job: Job,
  page: { readonly template?: string | undefined; readonly depth: number },
): RequestSpec | undefined {
  const rule = page.depth === 0 ? undefined : job.follow.find((one) => one.template === page.template);
  return mergeRequestSpecs(job.fetch.request, rule?.request);
}

/**
 * The request for a page of a job.
 *
 * @param page the page's template and depth: start pages (depth 0) get the job's options; deeper pages also those
 *   of the follow rules leading to their template
 */
export function pageRequest(
  job: Job,
  page: { readonly template?: string | undefined; readonly depth: number },
  secrets: SecretValues = new Map(),
): PageRequest {
  const request = resolveRequest(pageRequestSpec(job, page), secrets);
  const template = page.template === undefined ? undefined : job.templates[page.template];
  if (template?.format !== undefined) return { ...request, accept: 'any' };
  return jobReadsJson(job) ? { ...request, accept: 'json' } : request;
}

/** The URL with the request's query parameters set (each replaces a parameter of the same name). */
export function withQuery(url: string, query: PageRequest['query']): string {
  if (query.length === 0) return url;
  const parsed = new URL(url);
  for (const [name, value] of query) parsed.searchParams.set(name, value);
  return parsed.href;
}
