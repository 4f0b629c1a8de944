import { JobValidationError } from './errors.js';
import type { CodeExtractor, Job } from './schema.js';

/**
 * One job as bundled into the Lambda functions (`functions/commons/jobs.generated.ts`): validated at synth and
 * embedded as JSON with its defaults applied, so that a function needs neither the job schema nor a YAML parser.
 */
export interface BundledJob {
  /** The job file, relative to the project (named in errors). */
  readonly source: string;
  /** The validated job as JSON: every default applied, code extractors left out. */
  readonly job: unknown;
  /** TypeScript jobs: the module's default export (`defineJob({...})`), where the code extractors come from. */
  readonly input?: unknown;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The code extractor a TypeScript job's module declares for a template, if any. */
function extractorOf(input: unknown, template: string): CodeExtractor | undefined {
  if (!isRecord(input) || !isRecord(input.templates)) return undefined;
  const declared = input.templates[template];
  const extractor = isRecord(declared) ? declared.extractor : undefined;
  return typeof extractor === 'function' ? (extractor as CodeExtractor) : undefined;
}

/**
 * Turns bundled jobs into jobs (at cold start, without validating them again: synth did): gives templates their
 * code extractors back from the job modules, and refuses two jobs with one name.
 *
 * @throws {JobValidationError} naming the job file, when an entry is not a validated job or repeats a name
 */
export function resolveBundledJobs(bundled: readonly BundledJob[]): Job[] {
  const sources = new Map<string, string>();
  return bundled.map(({ source, job, input }) => {
    if (!isRecord(job) || typeof job.name !== 'string' || !isRecord(job.templates) || !isRecord(job.limits)) {
      throw new JobValidationError(source, [
        { path: '(bundle)', message: 'is not a validated job: cdk synth regenerates functions/commons/jobs.generated.ts' },
      ]);
    }
    const first = sources.get(job.name);
    if (first) throw new JobValidationError(source, [{ path: 'name', message: `"${job.name}" is already the name of ${first}` }]);
    sources.set(job.name, source);
    const templates: Record<string, unknown> = {};
    for (const [name, template] of Object.entries(job.templates)) {
      const extractor = extractorOf(input, name);
      templates[name] = extractor === undefined ? template : { ...(template as object), extractor };
    }
    return { ...job, templates } as unknown as Job;
  });
}
