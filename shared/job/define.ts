import type { JobInput } from './schema.js';

/**
 * Types a TypeScript job. Validation happens when the job is loaded (CLI, `cdk synth`, cold start), where the file
 * name is known and every problem of the file can be reported at once. Kept apart from the loader so that jobs
 * bundled into Lambda functions do not pull in the YAML parser.
 *
 * @example
 * export default defineJob({ name: 'books', start: { urls: ['https://shop.example/'] }, templates: {} });
 */
export function defineJob(job: JobInput): JobInput {
  return job;
}
