import { readdir, readFile, writeFile } from 'node:fs/promises';
import { extname, join, relative } from 'node:path';
import { parse } from 'yaml';
import { isJobFileName } from './load.js';

/** One job as bundled into the Lambda functions: where it came from and what the file produced (validated at cold start). */
export interface BundledJob {
  readonly source: string;
  readonly input: unknown;
}

/**
 * Writes the module that bundles every job of `jobsDir` into the Lambda functions: TypeScript jobs are imported
 * (so code extractors travel with them), YAML and JSON jobs are embedded as data. The CDK app regenerates it on
 * every synth; a test keeps the committed copy current.
 *
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
    if (extension === '.yaml' || extension === '.yml' || extension === '.json') {
      const text = await readFile(file, 'utf8');
      const input = extension === '.json' ? JSON.parse(text) : parse(text);
      items.push(`  { source: ${JSON.stringify(source)}, input: ${JSON.stringify(input)} },`);
    } else {
      const specifier = relative(join(moduleFile, '..'), file).replace(/\.(m?)ts$/, '.$1js');
      imports.push(`import job${index} from '${specifier.startsWith('.') ? specifier : `./${specifier}`}';`);
      items.push(`  { source: ${JSON.stringify(source)}, input: job${index} },`);
    }
  }
  return [
    '// Generated from jobs/ by the CDK app (shared/job/bundle.ts): do not edit.',
    "import type { BundledJob } from '../../shared/job/bundle.js';",
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
