import type { FetchedPage } from '../fetch/http.js';
import { UndiciHttpClient } from '../fetch/http.js';
import { withQuery } from '../fetch/request.js';
import type { SsrfPolicy } from '../fetch/ssrf.js';
import type { Job } from '../job/schema.js';
import { createContext, jobRegistry } from '../pipeline/context.js';
import { InProcessHostGate } from '../pipeline/politeness.js';
import { jobRequest } from '../pipeline/requests.js';
import { SecretResolver } from '../pipeline/secret-resolver.js';
import type { SecretSource } from '../pipeline/secrets.js';
import { fetchInSession } from '../pipeline/sessions.js';
import { type Log, type ObjectStore, type Queue, silentLog, systemClock } from '../ports.js';
import { EmbeddedStateStore } from './state.js';

/** Options of {@link previewFetch}. */
export interface PreviewFetchOptions {
  readonly ssrf: SsrfPolicy;
  /** Where the job's secrets are read (`localSecretSource`). */
  readonly secrets: SecretSource;
  /** @default silent */
  readonly log?: Log;
}

/** A port a preview does not use: using it is a bug. */
function unused(name: string): never {
  throw new Error(`a preview fetch does not use the ${name}`);
}

const noQueue: Queue = { send: async () => unused('queues') };
const noStore: ObjectStore = {
  put: async () => unused('object store'),
  get: async () => unused('object store'),
  getRange: async () => unused('object store'),
  getStream: async () => unused('object store'),
  list: () => unused('object store'),
};

/**
 * Fetches one page of a job as a run would request it (`scrapeline extract --url`): with the request options of the
 * template it is previewed with, the secrets they name, the job's proxies, and the cookies of a login made for the
 * preview (refreshed if the page shows logged out). Nothing is written: the preview's state lives in memory.
 *
 * @param template the template the page is previewed with (its follow rule's request options apply)
 */
export async function previewFetch(
  job: Job,
  url: string,
  template: string | undefined,
  options: PreviewFetchOptions,
): Promise<FetchedPage> {
  const http = new UndiciHttpClient({ ssrf: options.ssrf });
  const state = new EmbeddedStateStore();
  const context = createContext({
    jobs: jobRegistry([job]),
    store: noStore,
    state,
    fetchQueue: noQueue,
    parseQueue: noQueue,
    http,
    hosts: new InProcessHostGate(systemClock),
    clock: systemClock,
    log: options.log ?? silentLog,
    secrets: new SecretResolver(options.secrets, { clock: systemClock }),
  });
  try {
    // As the run would request a page of this template: through a follow rule's options when one leads to it.
    const page = { runId: 'preview', url, template, depth: job.follow.some((rule) => rule.template === template) ? 1 : 0 };
    const request = await jobRequest(context, job, page);
    return await fetchInSession(context, job, page, request, (sent) =>
      context.http.fetchPage(withQuery(url, sent.query), {
        request: sent,
        timeoutMs: job.fetch.timeoutMs,
        maxBytes: job.fetch.maxBytes,
        maxRedirects: job.fetch.maxRedirects,
        userAgent: job.politeness.userAgent,
      }),
    );
  } finally {
    await http.close();
    state.close?.();
  }
}
