import { type PageRequest, pageRequest, pageRequestSpec } from '../fetch/request.js';
import type { Job } from '../job/schema.js';
import { secretRefsOf } from '../job/secrets.js';
import type { PipelineContext } from './context.js';

/**
 * The request a page of a job is fetched with, ready to send: its request options (the job's, its follow rule's)
 * with the secrets they name read through the context's resolver.
 *
 * @throws {import('./secrets.js').SecretError} when a secret cannot be read (retryable or not)
 */
export async function jobRequest(
  context: PipelineContext,
  job: Job,
  page: { readonly template?: string | undefined; readonly depth: number },
): Promise<PageRequest> {
  const refs = secretRefsOf(pageRequestSpec(job, page));
  return pageRequest(job, page, refs.length === 0 ? undefined : await context.secrets.values(refs));
}
