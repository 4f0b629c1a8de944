import { z } from 'zod';
import { InvalidInputError } from '../errors.js';

const jobName = z.string().regex(/^[a-z0-9][a-z0-9-]{0,47}$/);
const runId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/);

/** Starts a run of a job (from the schedule, `scrapeline run`, or a test). Sent to the fetch queue. */
export const startRunMessage = z.strictObject({
  type: z.literal('start-run'),
  job: jobName,
  /** Chosen by the sender; derived from the queue message when absent, so a redelivered start is the same run. */
  runId: runId.optional(),
  /** When a schedule fired (ISO 8601): the run id derives from it, so a retried delivery starts the same run. */
  scheduledAt: z.iso.datetime({ offset: true }).optional(),
  /** Replaces the job's start URLs for this run (demo and tests serving the site on a random port). */
  startUrls: z.array(z.string()).min(1).optional(),
});

/** Fetch one URL of a run. */
export const fetchTaskMessage = z.strictObject({
  type: z.literal('fetch'),
  job: jobName,
  runId,
  url: z.string(),
  depth: z.number().int().nonnegative(),
  template: z.string().optional(),
  /** Attempts made so far (retries re-enqueue with attempt + 1). */
  attempt: z.number().int().nonnegative().default(0),
  /** Times the politeness gate handed the task back (each hand-back waits longer). @default 0 */
  deferrals: z.number().int().nonnegative().optional(),
  /** Hosts links may lead to in this run. */
  hosts: z.array(z.string()).min(1),
  /** The sitemaps that led here, when this URL is a sitemap (a page has none). */
  sitemapChain: z.array(z.string()).optional(),
});

/** Parse one archived page. Points at the archived response; the page itself never travels in a message. */
export const parseTaskMessage = z.strictObject({
  type: z.literal('parse'),
  job: jobName,
  runId,
  url: z.string(),
  depth: z.number().int().nonnegative(),
  template: z.string().optional(),
  hosts: z.array(z.string()).min(1),
  raw: z.strictObject({ key: z.string(), offset: z.number().int().nonnegative(), length: z.number().int().positive() }),
  /** Follow the page's links. A reparse of an archived run does not: it must not fetch. @default true */
  follow: z.boolean().default(true),
});

export const fetchQueueMessage = z.discriminatedUnion('type', [startRunMessage, fetchTaskMessage]);

export type StartRunMessage = z.infer<typeof startRunMessage>;
export type FetchTask = z.output<typeof fetchTaskMessage>;
export type FetchQueueMessage = z.output<typeof fetchQueueMessage>;
export type ParseTask = z.output<typeof parseTaskMessage>;

/** Parses a queue message body with a schema, naming the problem in a non-retryable error. */
export function parseMessage<T extends z.ZodType>(schema: T, body: string, what: string): z.output<T> {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (error) {
    throw new InvalidInputError(`${what}: body is not JSON`, error);
  }
  const result = schema.safeParse(json);
  if (!result.success) {
    const detail = result.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ');
    throw new InvalidInputError(`${what}: ${detail}`);
  }
  return result.data;
}

const pageCounters = {
  wireBytes: z.number().nonnegative(),
  bodyBytes: z.number().nonnegative(),
  fetchMs: z.number().nonnegative(),
};

/** A page that ended with a reason instead of items. */
function endedPage<S extends 'failed' | 'skipped'>(status: S) {
  return z.strictObject({
    status: z.literal(status),
    url: z.string(),
    depth: z.number().int().nonnegative(),
    reason: z.string(),
    message: z.string(),
    ...pageCounters,
  });
}

/** One page's outcome in a records object (one NDJSON line). */
export const pageRecordSchema = z.discriminatedUnion('status', [
  z.strictObject({
    status: z.literal('parsed'),
    url: z.string(),
    finalUrl: z.string(),
    depth: z.number().int().nonnegative(),
    template: z.string().nullable(),
    fetchedAt: z.string(),
    items: z.array(
      z.strictObject({
        key: z.string().nullable(),
        data: z.record(z.string(), z.unknown()),
        problems: z.array(z.strictObject({ field: z.string(), message: z.string() })),
      }),
    ),
    /** Links followed from the page: `[url, template]`. */
    links: z.array(z.tuple([z.string(), z.string().nullable()])),
    etag: z.string().nullable(),
    lastModified: z.string().nullable(),
    /** `sha256:<hex>` of the body. */
    hash: z.string(),
    ...pageCounters,
  }),
  endedPage('failed'),
  /** Ended by the fetcher without a parse: robots.txt disallowed it. */
  endedPage('skipped'),
  /** Unchanged since the last run (304 or the same body): it counts with what it yielded when last parsed. */
  z.strictObject({
    status: z.literal('unchanged'),
    url: z.string(),
    depth: z.number().int().nonnegative(),
    reason: z.enum(['not-modified', 'same-content']),
    /** Ids of the item keys the page held when last parsed; `null` when its memory predates keys. */
    keys: z.array(z.string()).nullable(),
    /** Run counters the page adds: its items and template yields as remembered. */
    add: z.record(z.string(), z.number()),
    ...pageCounters,
  }),
  /** A sitemap read to its end: its URLs were offered to the run. */
  z.strictObject({
    status: z.literal('sitemap'),
    url: z.string(),
    depth: z.number().int().nonnegative(),
    ...pageCounters,
  }),
]);
export type PageRecord = z.infer<typeof pageRecordSchema>;
