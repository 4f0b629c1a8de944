import { InvalidInputError } from '../errors.js';
import { JOB_NAME_PATTERN } from '../job/name.js';
import {
  array,
  boolean,
  count,
  discriminatedUnion,
  type Guard,
  type Infer,
  literal,
  looseObject,
  nullable,
  number,
  oneOf,
  optional,
  record,
  strictObject,
  string,
  tuple,
  union,
  unknown,
  variant,
  withDefault,
} from './guards.js';

// The shapes are checked with hand-written guards (./guards.ts), not a schema library: the Lambda functions check
// every message they receive, and a schema library would cost each of them hundreds of KB and tens of ms of init.

const jobName = string({ pattern: JOB_NAME_PATTERN });
const runId = string({ pattern: /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/ });
/** ISO 8601 date and time with a UTC offset or `Z`, e.g. `2026-12-01T06:00:00Z`. */
const ISO_DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/;
const isoDatetime = string({
  refine: (value) => (ISO_DATETIME.test(value) && !Number.isNaN(Date.parse(value)) ? undefined : 'invalid ISO datetime'),
});

const startRunShape = {
  job: jobName,
  /** Chosen by the sender; derived from the queue message when absent, so a redelivered start is the same run. */
  runId: optional(runId),
  /** When a schedule fired (ISO 8601): the run id derives from it, so a retried delivery starts the same run. */
  scheduledAt: optional(isoDatetime),
  /** Replaces the job's start URLs for this run (demo and tests serving the site on a random port). */
  startUrls: optional(array(string(), { min: 1 })),
};

/** Starts a run of a job (from the schedule, `scrapeline run`, or a test). Sent to the fetch queue. */
export const startRunMessage = variant('type', 'start-run', startRunShape);

const fetchTaskShape = {
  job: jobName,
  runId,
  url: string(),
  depth: count(),
  template: optional(string()),
  /** Attempts made so far (retries re-enqueue with attempt + 1). */
  attempt: withDefault(count(), 0),
  /** Times the politeness gate handed the task back (each hand-back waits longer). @default 0 */
  deferrals: optional(count()),
  /**
   * A start the politeness gate booked for this task (epoch ms) when it handed it back: the task is sent to arrive
   * shortly before it and starts then without booking again. @default none
   */
  slotAt: optional(count()),
  /** Hosts links may lead to in this run. */
  hosts: array(string(), { min: 1 }),
  /** The sitemaps that led here, when this URL is a sitemap (a page has none). */
  sitemapChain: optional(array(string())),
  /**
   * A part of a large sitemap's entries (`url` is then `<sitemap>#part=<n>`): nothing is fetched, the entries are
   * offered to the run as the sitemap's links. A sitemap of tens of thousands of URLs is accepted part by part,
   * each in a task of its own, rather than in the one invocation that fetched it.
   */
  sitemapPart: optional(strictObject({ entries: array(string(), { min: 1 }), template: optional(string()) })),
};

/** Fetch one URL of a run. */
export const fetchTaskMessage = variant('type', 'fetch', fetchTaskShape);

/** Parse one archived page. Points at the archived response; the page itself never travels in a message. */
export const parseTaskMessage = variant('type', 'parse', {
  job: jobName,
  runId,
  url: string(),
  depth: count(),
  template: optional(string()),
  hosts: array(string(), { min: 1 }),
  raw: strictObject({ key: string(), offset: count(), length: number({ int: true, positive: true }) }),
  /** Follow the page's links. A reparse of an archived run does not: it must not fetch. @default true */
  follow: withDefault(boolean(), true),
});

export const fetchQueueMessage = discriminatedUnion('type', [startRunMessage, fetchTaskMessage]);

/** S3 event notification, as S3 delivers it to SQS (or the test event S3 sends when notifications are set up). */
export const s3NotificationMessage = union(
  looseObject({
    Records: array(looseObject({ eventName: string(), s3: looseObject({ object: looseObject({ key: string() }) }) })),
  }),
  looseObject({ Event: literal('s3:TestEvent') }),
);

/** The run a task belongs to, as one string (`<job>/<runId>`): to group a batch's work by run. */
export function runOf(task: { readonly job: string; readonly runId: string }): string {
  return `${task.job}/${task.runId}`;
}

/** What a start message may hold (`type` aside): optional keys may be absent. */
export type StartRunMessage = Infer<typeof startRunMessage>;
export type FetchTask = Infer<typeof fetchTaskMessage>;
export type FetchQueueMessage = Infer<typeof fetchQueueMessage>;
export type ParseTask = Infer<typeof parseTaskMessage>;

/**
 * Parses JSON text with a guard, naming the problem in a non-retryable error that starts with `what` (e.g.
 * `fetch task: depth: expected a count`).
 */
export function parseJson<T>(schema: Guard<T>, text: string, what: string): T {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new InvalidInputError(`${what}: not JSON`, error);
  }
  const result = schema.safeParse(json);
  if (!result.success) {
    const detail = result.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ');
    throw new InvalidInputError(`${what}: ${detail}`);
  }
  return result.data;
}

/** Parses a queue message body with a guard, naming the problem in a non-retryable error. */
export function parseMessage<T>(schema: Guard<T>, body: string, what: string): T {
  return parseJson(schema, body, what);
}

const pageCounters = {
  wireBytes: number({ min: 0 }),
  bodyBytes: number({ min: 0 }),
  fetchMs: number({ min: 0 }),
};

/** A page that ended with a reason instead of items. */
function endedPage<S extends 'failed' | 'skipped'>(status: S) {
  return variant('status', status, { url: string(), depth: count(), reason: string(), message: string(), ...pageCounters });
}

/** One page's outcome in a records object (one NDJSON line). */
export const pageRecordSchema = discriminatedUnion('status', [
  variant('status', 'parsed', {
    url: string(),
    finalUrl: string(),
    depth: count(),
    template: nullable(string()),
    fetchedAt: string(),
    items: array(
      strictObject({
        key: nullable(string()),
        data: record(unknown()),
        problems: array(strictObject({ field: string(), message: string() })),
      }),
    ),
    /** Links followed from the page: `[url, template]`. */
    links: array(tuple(string(), nullable(string()))),
    etag: nullable(string()),
    lastModified: nullable(string()),
    /** `sha256:<hex>` of the body. */
    hash: string(),
    ...pageCounters,
  }),
  endedPage('failed'),
  /** Ended by the fetcher without a parse: robots.txt disallowed it. */
  endedPage('skipped'),
  /** Unchanged since the last run (304 or the same body): it counts with what it yielded when last parsed. */
  variant('status', 'unchanged', {
    url: string(),
    depth: count(),
    reason: oneOf(['not-modified', 'same-content']),
    /** Ids of the item keys the page held when last parsed; `null` when its memory predates keys. */
    keys: nullable(array(string())),
    /** Run counters the page adds: its items and template yields as remembered. */
    add: record(number()),
    ...pageCounters,
  }),
  /** A sitemap read to its end: its URLs were offered to the run. */
  variant('status', 'sitemap', { url: string(), depth: count(), ...pageCounters }),
]);
export type PageRecord = Infer<typeof pageRecordSchema>;
