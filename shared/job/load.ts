import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, extname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { describeError } from '../errors.js';
import { type JobProblem, JobValidationError } from './errors.js';
import { referenceIssues } from './references.js';
import { type Job, jobSchema } from './schema.js';
import { selectorProblems } from './selectors.js';

/** Largest job file read: a job is a few KB; a file of many MB is a mistake or an attack (YAML expands it). */
export const MAX_JOB_FILE_BYTES = 1024 * 1024;

/** How long a job module may take to load (its top-level code) before it counts as broken. */
export const JOB_LOAD_TIMEOUT_MS = 10_000;

/** Options of {@link loadJobFile} and {@link loadJobDirectory}. */
export interface LoadJobOptions {
  /** Deadline for loading one job module. @default {@link JOB_LOAD_TIMEOUT_MS} */
  readonly timeoutMs?: number;
  /**
   * Called before a TypeScript job file (`.ts`, `.mts`) is imported, to make sure a loader for it is registered (the
   * compiled CLI registers tsx on first use). @default none: the process must already load TypeScript.
   */
  readonly typeScriptLoader?: () => Promise<void>;
}

/** File endings read as jobs, in `jobs/`. */
export const JOB_FILE_EXTENSIONS = ['.ts', '.mts', '.js', '.mjs', '.yaml', '.yml', '.json'] as const;

export { defineJob } from './define.js';

/** Files of a jobs folder that belong to its project, not jobs: a jobs folder may be a package of its own. */
const PROJECT_FILES = new Set(['package.json', 'package-lock.json', 'tsconfig.json', 'jsconfig.json', 'biome.json']);

/** Whether a file of a jobs folder, by its name, is read as a job (declaration, test and `_` files are not). */
export function isJobFileName(name: string): boolean {
  return (
    (JOB_FILE_EXTENSIONS as readonly string[]).includes(extname(name)) &&
    !PROJECT_FILES.has(name) &&
    !name.endsWith('.d.ts') &&
    !name.startsWith('_') &&
    !name.includes('.test.')
  );
}

/** Renders a zod issue path the way users write it: `follow[0].template`, `templates.product.fields.price`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

function describeValue(values: readonly unknown[]): string {
  return values.map((value) => JSON.stringify(value)).join(', ');
}

/** "expected string, number or boolean, received array": every type a union accepts, when the value has none. */
function unionTypeMessage(branches: readonly (readonly z.core.$ZodIssue[])[]): string {
  const expected: string[] = [];
  let received: string | undefined;
  for (const branch of branches) {
    for (const inner of branch) {
      if (inner.code !== 'invalid_type' || inner.path.length > 0) continue;
      if (!expected.includes(inner.expected)) expected.push(inner.expected);
      received ??= /received (\w+)/.exec(inner.message)?.[1];
    }
  }
  const types = expected.length > 1 ? `${expected.slice(0, -1).join(', ')} or ${expected.at(-1)}` : (expected[0] ?? 'a value');
  return received === undefined ? `expected ${types}` : `expected ${types}, received ${received}`;
}

/** Turns zod issues into problems a person can act on. A union reports only its most relevant branch. */
function toProblems(issues: readonly z.core.$ZodIssue[], base: readonly PropertyKey[] = []): JobProblem[] {
  const problems: JobProblem[] = [];
  for (const issue of issues) {
    const path = [...base, ...issue.path];
    switch (issue.code) {
      case 'invalid_union': {
        // A field is "selector string | object": the object branch says what is actually wrong with an object.
        const branches = issue.errors.filter(
          (branch) => !branch.some((inner) => inner.code === 'invalid_type' && inner.path.length === 0),
        );
        const chosen = branches[0];
        if (chosen) problems.push(...toProblems(chosen, path));
        else problems.push({ path: formatPath(path), message: unionTypeMessage(issue.errors) });
        break;
      }
      case 'unrecognized_keys':
        for (const key of issue.keys) problems.push({ path: formatPath([...path, key]), message: 'unknown key' });
        break;
      case 'invalid_value':
        problems.push({ path: formatPath(path), message: `expected one of ${describeValue(issue.values)}` });
        break;
      case 'invalid_type':
        problems.push({
          path: formatPath(path),
          message: issue.message.includes('received undefined')
            ? `required (${issue.expected})`
            : issue.message.replace(/^Invalid input: /, ''),
        });
        break;
      case 'invalid_key':
        problems.push({
          path: formatPath(path),
          message: `invalid name: ${issue.issues.map((inner) => inner.message).join('; ')}`,
        });
        break;
      default:
        problems.push({ path: formatPath(path), message: issue.message.replace(/^Invalid input: /, '') });
    }
  }
  return problems;
}

/**
 * Validates a job definition and applies its defaults.
 *
 * @param input what the job file produced (parsed YAML/JSON or the TypeScript default export)
 * @param source the file, named in every error
 * @throws {JobValidationError} listing every problem found, each with its path
 */
export function parseJob(input: unknown, source: string): Job {
  const result = jobSchema.safeParse(input);
  if (result.success) {
    const problems = selectorProblems(result.data);
    if (problems.length > 0) throw new JobValidationError(source, problems);
    return result.data;
  }
  // The schema skips its cross-checks once a part has a type error: run them (and compile the selectors) on the
  // raw input, where the parts they read are well-formed, so that one run reports every problem of the file.
  const problems = toProblems(result.error.issues);
  const seen = new Set(problems.map((problem) => `${problem.path}\n${problem.message}`));
  const more = [
    ...referenceIssues(input).map((issue) => ({ path: formatPath(issue.path), message: issue.message })),
    ...selectorProblems(input),
  ];
  for (const problem of more) {
    const id = `${problem.path}\n${problem.message}`;
    if (seen.has(id)) continue;
    seen.add(id);
    problems.push(problem);
  }
  throw new JobValidationError(source, problems);
}

/** Imports a job module, giving up after `timeoutMs` (a top-level await that never settles would hang the CLI). */
async function importWithin(file: string, timeoutMs: number): Promise<{ default?: unknown }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    // Referenced: the process waits for the module or the deadline, whichever comes first.
    timer = setTimeout(
      () => reject(new Error(`did not finish loading within ${timeoutMs} ms (a top-level await that never settles?)`)),
      timeoutMs,
    );
  });
  try {
    return (await Promise.race([import(pathToFileURL(resolve(file)).href), timeout])) as { default?: unknown };
  } finally {
    clearTimeout(timer);
  }
}

async function readJobInput(file: string, source: string, options: LoadJobOptions): Promise<unknown> {
  const extension = extname(file);
  const { size } = await stat(file);
  if (size > MAX_JOB_FILE_BYTES) {
    throw new JobValidationError(source, [
      { path: '(file)', message: `is ${size} bytes: a job file may have at most ${MAX_JOB_FILE_BYTES} bytes` },
    ]);
  }
  if (extension === '.yaml' || extension === '.yml') {
    const lineCounter = new LineCounter();
    const document = parseDocument(await readFile(file, 'utf8'), { lineCounter, prettyErrors: false, uniqueKeys: true });
    if (document.errors.length > 0) {
      throw new JobValidationError(
        source,
        document.errors.map((error) => ({
          path: `line ${lineCounter.linePos(error.pos[0]).line}`,
          message: error.message.replace(/\s*\n\s*/g, ' ').trim(),
        })),
      );
    }
    try {
      // Aliases expand on conversion: the yaml package refuses one that would grow the document past its limit.
      return document.toJS({ maxAliasCount: 100 });
    } catch (error) {
      throw new JobValidationError(source, [{ path: '(file)', message: (error as Error).message }]);
    }
  }
  if (extension === '.json') {
    try {
      return JSON.parse(await readFile(file, 'utf8'));
    } catch (error) {
      throw new JobValidationError(source, [{ path: '(file)', message: (error as Error).message }]);
    }
  }
  let module: { default?: unknown };
  try {
    if (extension === '.ts' || extension === '.mts') await options.typeScriptLoader?.();
    module = await importWithin(file, options.timeoutMs ?? JOB_LOAD_TIMEOUT_MS);
  } catch (error) {
    const message = (error as Error).message;
    // A .ts/.js file outside an ES module package is loaded as CommonJS, which cannot import the ESM scrapeline.
    const hint = /require\(\) ES Module|Cannot use import statement|require is not defined/.test(message)
      ? ' (a job is an ES module: name it .mts/.mjs, or add "type": "module" to the package.json of its folder)'
      : '';
    throw new JobValidationError(source, [{ path: '(module)', message: `cannot be loaded: ${message}${hint}` }]);
  }
  if (module.default === undefined) {
    throw new JobValidationError(source, [
      { path: '(module)', message: 'has no default export: export default defineJob({...})' },
    ]);
  }
  return module.default;
}

/** Reads and validates one job file (YAML, JSON, or a TypeScript/JavaScript module exporting `defineJob(...)`). */
export async function loadJobFile(file: string, cwd = process.cwd(), options: LoadJobOptions = {}): Promise<Job> {
  const source = relative(cwd, resolve(file)) || basename(file);
  const job = parseJob(await readJobInput(file, source, options), source);
  return job;
}

/** A job file and what came of loading it. */
export type LoadedJobFile = { file: string; job: Job } | { file: string; error: JobValidationError };

/** Loads every job file in a folder, reporting each file's problems instead of stopping at the first file. */
export async function loadJobDirectory(dir: string, cwd = process.cwd(), options: LoadJobOptions = {}): Promise<LoadedJobFile[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const files = entries
    .filter((entry) => entry.isFile() && isJobFileName(entry.name))
    .map((entry) => join(dir, entry.name))
    .sort();
  const loaded: LoadedJobFile[] = [];
  for (const file of files) {
    try {
      loaded.push({ file, job: await loadJobFile(file, cwd, options) });
    } catch (error) {
      // Whatever went wrong with one file is that file's problem: the other jobs still load.
      const problem =
        error instanceof JobValidationError
          ? error
          : new JobValidationError(relative(cwd, file), [{ path: '(file)', message: describeError(error) }]);
      loaded.push({ file, error: problem });
    }
  }
  const byName = new Map<string, string>();
  for (const [index, entry] of loaded.entries()) {
    if (!('job' in entry)) continue;
    const first = byName.get(entry.job.name);
    if (first) {
      loaded[index] = {
        file: entry.file,
        error: new JobValidationError(relative(cwd, entry.file), [
          { path: 'name', message: `"${entry.job.name}" is already the name of ${relative(cwd, first)}` },
        ]),
      };
    } else {
      byName.set(entry.job.name, entry.file);
    }
  }
  return loaded;
}

/** Loads every job of a folder; throws one error naming every invalid file's problems. */
export async function loadJobs(dir: string, cwd = process.cwd()): Promise<Job[]> {
  const loaded = await loadJobDirectory(dir, cwd);
  const errors = loaded.flatMap((entry) => ('error' in entry ? [entry.error] : []));
  if (errors.length > 0) throw new AggregateJobError(errors);
  return loaded.flatMap((entry) => ('job' in entry ? [entry.job] : []));
}

/** Several job files are invalid; the message lists them all. */
export class AggregateJobError extends Error {
  override readonly name = 'AggregateJobError';
  constructor(readonly errors: readonly JobValidationError[]) {
    super(errors.map((error) => error.message).join('\n'));
  }
}
