import type { JobInput } from './schema.js';

/**
 * Types a TypeScript job. Validation happens when the job is loaded (CLI, `cdk synth`), where the file name is known
 * and every problem of the file can be reported at once. Kept apart from the loader (shared/job/load.ts, which
 * imports the YAML parser and the schema): a job module bundled into the Lambda functions imports only this, and the
 * functions take their jobs as validated at synth (shared/job/bundled.ts), so neither yaml nor zod is bundled
 * (test/cdk/bundle.test.ts checks it).
 *
 * @example
 * export default defineJob({ name: 'books', start: { urls: ['https://shop.example/'] }, templates: {} });
 */
export function defineJob(job: JobInput): JobInput {
  return job;
}
