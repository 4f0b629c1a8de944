import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { App, type AppProps, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { LogLevel } from '../functions/commons/config.js';
import { writeJobsModule } from '../shared/job/bundle.js';
import { JobValidationError } from '../shared/job/errors.js';
import { AggregateJobError, loadJobs } from '../shared/job/load.js';
import { PROJECT_ROOT } from './paths.js';
import { ScrapelineStack } from './stack.js';

/** Options of {@link createApp}. */
export interface CreateAppOptions {
  /** Folder of the job files. @default '<project>/jobs' */
  readonly jobsDir?: string;
  /** Generated module bundling the jobs into the functions. @default '<project>/functions/commons/jobs.generated.ts' */
  readonly jobsModule?: string;
  /** Folder the job sources are named relative to (in errors and in the generated module). @default the project root */
  readonly cwd?: string;
  /** Props of the `App` (tests pass `outdir` and a context that skips bundling). @default none */
  readonly appProps?: AppProps;
  /** Run the AwsSolutions checks of cdk-nag at synth. @default true */
  readonly nag?: boolean;
}

/**
 * Loads and validates every job, regenerates the jobs module the functions bundle, and builds the app: one
 * {@link ScrapelineStack} checked by cdk-nag. Context: `stackName` (default `Scrapeline`), `logLevel`,
 * `alarmTopicArn` (an SNS topic the alarms notify).
 *
 * @throws {AggregateJobError} naming every invalid job file with the path of each problem
 */
export async function createApp(options: CreateAppOptions = {}): Promise<{ app: App; stack: ScrapelineStack }> {
  const cwd = options.cwd ?? PROJECT_ROOT;
  const jobsDir = options.jobsDir ?? join(PROJECT_ROOT, 'jobs');
  const jobs = await loadJobs(jobsDir, cwd);
  await writeJobsModule(jobsDir, options.jobsModule ?? join(PROJECT_ROOT, 'functions/commons/jobs.generated.ts'), cwd);

  const app = new App(options.appProps);
  if (options.nag ?? true) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const context = (key: string): string | undefined => {
    const value: unknown = app.node.tryGetContext(key);
    return typeof value === 'string' && value !== '' ? value : undefined;
  };
  const stackName = context('stackName') ?? 'Scrapeline';
  const stack = new ScrapelineStack(app, stackName, {
    jobs,
    description: 'Scrapeline: serverless web-scraping pipeline (fetch, parse, post-process)',
    logLevel: context('logLevel') as LogLevel | undefined,
    alarmTopicArn: context('alarmTopicArn'),
  });
  return { app, stack };
}

/** Writes `message` to standard error (tests pass their own). */
export type ErrorWriter = (message: string) => void;

/**
 * Entry point of `cdk synth`: builds and synthesizes the app. An invalid job is a user error, reported by its file
 * and path without a stack trace.
 *
 * @returns the exit code: 0, or 1 when a job is invalid
 */
export async function main(
  options: CreateAppOptions = {},
  writeError: ErrorWriter = (m) => process.stderr.write(m),
): Promise<number> {
  try {
    const { app } = await createApp(options);
    app.synth();
    return 0;
  } catch (error) {
    if (error instanceof AggregateJobError || error instanceof JobValidationError) {
      writeError(`Invalid jobs, nothing synthesized:\n${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await main();
}
