import { readdir, readFile, writeFile } from 'node:fs/promises';
import { extname, join, relative } from 'node:path';
import { isJobFileName, loadJobFile } from './load.js';

export type { BundledJob } from './bundled.js';

/** The validated job as JSON: defaults applied, code extractors left out (they travel in the job's module). */
function jobJson(job: unknown): string {
  return JSON.stringify(job, (_key, value: unknown) => (typeof value === 'function' ? undefined : value));
}

/**
 * Writes the module that bundles every job of `jobsDir` into the Lambda functions. Each job is validated here, at
 * synth, and embedded as JSON with its defaults applied, so that neither the job schema (zod) nor the YAML parser
 * travels in a bundle; TypeScript jobs are imported too, so that code extractors travel with them. The CDK app
 * regenerates it on every synth; a test keeps the committed copy current.
 *
 * @throws {JobValidationError} when a job is invalid
 * @returns the module's text
 */
export async function renderJobsModule(jobsDir: string, moduleFile: string, cwd = process.cwd()): Promise<string> {
  const entries = (await readdir(jobsDir, { withFileTypes: true }))
    .filter((entry) => entry.isFile() && isJobFileName(entry.name))
    .map((entry) => entry.name)
    .sort();
  const imports: string[] = [];
  const items: string[] = [];
  for (const [index, name] of entries.entries()) {
    const file = join(jobsDir, name);
    const source = relative(cwd, file);
    const extension = extname(name);
    const job = jobJson(await loadJobFile(file, cwd));
    if (extension === '.yaml' || extension === '.yml' || extension === '.json') {
      items.push(`  { source: ${JSON.stringify(source)}, job: ${job} },`);
    } else {
      const specifier = relative(join(moduleFile, '..'), file).replace(/\.(m?)ts$/, '.$1js');
      imports.push(`import job${index} from '${specifier.startsWith('.') ? specifier : `./${specifier}`}';`);
      items.push(`  { source: ${JSON.stringify(source)}, job: ${job}, input: job${index} },`);
    }
  }
  return [
    '// Generated from jobs/ by the CDK app (shared/job/bundle.ts): do not edit.',
    "import type { BundledJob } from '../../shared/job/bundled.js';",
    ...imports,
    '',
    'export const bundledJobs: readonly BundledJob[] = [',
    ...items,
    '];',
    '',
  ].join('\n');
}

/** Regenerates the bundled jobs module; returns whether its content changed. */
export async function writeJobsModule(jobsDir: string, moduleFile: string, cwd = process.cwd()): Promise<boolean> {
  const text = await renderJobsModule(jobsDir, moduleFile, cwd);
  const current = await readFile(moduleFile, 'utf8').catch(() => undefined);
  if (current === text) return false;
  await writeFile(moduleFile, text);
  return true;
}
