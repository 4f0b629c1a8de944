import { readFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { describeError } from '../shared/errors.js';
import { extractPage } from '../shared/extract/page.js';
import { decodeDocument } from '../shared/fetch/charset.js';
import type { SsrfPolicy } from '../shared/fetch/ssrf.js';
import { loadJobDirectory } from '../shared/job/load.js';
import { type Job, runIdProblem, startUrlProblem } from '../shared/job/schema.js';
import { FileSystemObjectStore } from '../shared/local/object-store.js';
import { previewFetch } from '../shared/local/preview.js';
import { localSecretSource } from '../shared/local/secrets.js';
import type { RunManifest } from '../shared/pipeline/finalize.js';
import type { ObjectStore } from '../shared/ports.js';
import {
  changeColumns,
  currentRows,
  flattenChange,
  latestFinishedRun,
  listManifests,
  parseCondition,
  queryRows,
  type Row,
  readManifest,
  readSnapshot,
  rowColumns,
  runChanges,
  runRows,
  unknownFieldsProblem,
} from '../shared/query.js';
import { isQueueStage, QUEUE_STAGES } from '../shared/stages.js';
import { hostOf } from '../shared/url.js';
import type { CloudServices } from './cloud.js';
import { type CliCommand, type CommandContext, defineCommand, lazyCommand, type ParsedArgs, runCommand } from './command.js';
import { CHANGES, DEMO, EXTRACT, QUERY, REDRIVE, REPARSE, RUN, RUNS, SQL, VALIDATE } from './commands.js';
import { type CliIo, EXIT, environment, loadJob, reportOutcome, runLocally, seconds, UsageError } from './common.js';
import { runDemo } from './demo.js';
import { FORMATS, type Format, writeRows } from './format.js';
import { CLI_JOB_LOADING } from './typescript-jobs.js';

const HELP = `scrapeline: scrape the web on a schedule, locally or on AWS.

Usage: scrapeline <command> [options]

Commands:
  run <job>          run a job now with the local runtime (live progress, then a summary)
  query <job>        print the current state of every item, or one run's items (--run)
  runs <job>         list a job's runs and their state
  changes <job>      what changed in a run: new, changed (with field diffs) and removed items
  extract <job>      preview a template on one page (--url or --file)
  validate           check every job in the jobs folder
  redrive [job]      move a deployed stack's dead letters back to their queues (--stack NAME)
  sql "<query>"      run SQL in Athena over a deployed stack's tables (--stack NAME)
  reparse <job>      extract an archived run again, without fetching (--run ID)
  demo               serve the sample bookstore on 127.0.0.1 and scrape it end to end

Against a deployed stack: run, query, runs and changes take --stack NAME (outputs read through CloudFormation)
or --bucket NAME (query, runs, changes); credentials and region come from the usual AWS configuration.

Common options:
  --jobs <dir>       jobs folder (default: jobs, or SCRAPELINE_JOBS_DIR)
  --data-dir <dir>   local data folder (default: .scrapeline, or SCRAPELINE_DATA_DIR)
  -h, --help         help for a command

Exit codes: 0 ok, 1 error, 2 usage or invalid job, 3 run partial, 4 run failed, 5 run stalled.`;

interface Paths {
  readonly jobsDir: string;
  readonly dataDir: string;
}

function paths(values: { jobs?: string | boolean; 'data-dir'?: string | boolean }, io: CliIo): Paths {
  const env = environment.parse(io.env);
  return {
    jobsDir: typeof values.jobs === 'string' ? values.jobs : env.SCRAPELINE_JOBS_DIR,
    dataDir: typeof values['data-dir'] === 'string' ? values['data-dir'] : env.SCRAPELINE_DATA_DIR,
  };
}

function jobArgument(positionals: string[], command: string): string {
  const [name, ...extra] = positionals;
  if (!name) throw new UsageError(`${command}: which job? (scrapeline ${command} <job>)`);
  if (extra.length > 0) throw new UsageError(`${command}: unexpected arguments: ${extra.join(' ')}`);
  return name;
}

async function commandRun({ values, positionals }: ParsedArgs<typeof RUN.options>, context: CommandContext): Promise<number> {
  const { io, cloud } = context;
  if (values.resume && (values['start-url'] || values['run-id'])) {
    throw new UsageError('run: --resume continues a run as it was started; it takes no --start-url or --run-id');
  }
  const problems = [
    ...[values['run-id'], values.resume].filter((id) => id !== undefined).map(runIdProblem),
    ...(values['start-url'] ?? []).map(startUrlProblem),
  ].filter((problem) => problem !== undefined);
  if (problems.length > 0) throw new UsageError(`run: ${problems.join('\nrun: ')}`);
  const { jobsDir, dataDir } = paths(values, io);
  if (values.stack !== undefined) {
    const name = jobArgument(positionals, 'run');
    const { startCloudRun } = await import('./cloud.js');
    const runId = await startCloudRun(await cloud(), values.stack, name, values['start-url']);
    io.stdout.write(
      `Started run ${runId} of ${name} on stack ${values.stack}.\nWatch it: scrapeline runs ${name} --stack ${values.stack}\n`,
    );
    return EXIT.ok;
  }
  const job = await loadJob(jobsDir, jobArgument(positionals, 'run'));
  const { outcome } = await runLocally(io, job, dataDir, {
    ...(values['start-url'] ? { startUrls: values['start-url'] } : {}),
    ...(values['run-id'] ? { runId: values['run-id'] } : {}),
    ...(values.resume ? { resume: values.resume } : {}),
    verbose: values.verbose ?? false,
    ssrf: ssrfPolicy(values['allow-address'], io),
  });
  return reportOutcome(io, outcome, dataDir);
}

function localStore(dataDir: string): ObjectStore {
  return new FileSystemObjectStore({ root: join(dataDir, 'store') });
}

/** `--limit`, defaulting to 50 rows for tables (which hold what they print) and no limit otherwise. */
function parseLimit(value: string | undefined, format: Format): number | undefined {
  if (value === undefined) return format === 'table' ? 50 : undefined;
  const limit = Number(value);
  if (!Number.isInteger(limit) || limit < 0) throw new UsageError(`--limit must be a whole number, got "${value}"`);
  return limit;
}

/** The SSRF guard's allow-list from `--allow-address` and `SCRAPELINE_ALLOW_ADDRESSES`; the guard is always on. */
function ssrfPolicy(flags: string[] | undefined, io: CliIo): SsrfPolicy {
  const allow = [...environment.parse(io.env).SCRAPELINE_ALLOW_ADDRESSES, ...(flags ?? [])];
  return allow.length > 0 ? { allow } : {};
}

function parseFormat(value: string | undefined, allowed: readonly Format[] = FORMATS): Format {
  const format = (value ?? 'table') as Format;
  if (!allowed.includes(format)) throw new UsageError(`--format must be one of ${allowed.join(', ')}, got "${value}"`);
  return format;
}

/**
 * The job a reading command (query, changes, runs) names, from the job definitions, local and cloud alike: an
 * unknown job is a usage error naming the jobs there are, not an empty result.
 */
async function knownJob(jobsDir: string, positionals: string[], command: string): Promise<Job> {
  return loadJob(jobsDir, jobArgument(positionals, command));
}

/** Says on stderr which fields rows had that CSV or table output left out (rows of runs with older templates). */
function noteUnlisted(io: CliIo, unlisted: ReadonlySet<string>): void {
  if (unlisted.size === 0) return;
  io.stderr.write(
    `note: some rows have fields the job's templates no longer declare, left out here: ${[...unlisted].join(', ')} (--format ndjson shows them)\n`,
  );
}

/** Why a run wrote no rows when it is because its pages were unchanged (their items stay in the current state). */
function unchangedRunNote(manifest: RunManifest): string | undefined {
  const { urls, items } = manifest;
  if (items.written > 0 || urls.unchanged === 0) return undefined;
  const pages =
    urls.unchanged === urls.accepted
      ? `all ${urls.unchanged} pages were unchanged`
      : `${urls.unchanged} of ${urls.accepted} pages were unchanged`;
  return `run ${manifest.runId} wrote no rows: ${pages} (an unchanged page is not parsed again; ${items.onUnchangedPages} item(s) on them); the current state is \`scrapeline query ${manifest.job}\``;
}

async function commandQuery({ values, positionals }: ParsedArgs<typeof QUERY.options>, context: CommandContext): Promise<number> {
  const { io, cloud } = context;
  const { jobsDir, dataDir } = paths(values, io);
  const job = await knownJob(jobsDir, positionals, 'query');
  const format = parseFormat(values.format);
  const where = (values.where ?? []).map((expression) => {
    try {
      return parseCondition(expression);
    } catch (error) {
      throw new UsageError(describeError(error));
    }
  });
  const fields = values.fields
    ?.split(',')
    .map((field) => field.trim())
    .filter(Boolean);
  const view = values.run === undefined ? 'current' : 'run';
  const columns = rowColumns(job, view);
  const problem =
    unknownFieldsProblem(
      '--where',
      where.map((condition) => condition.field),
      columns,
    ) ?? unknownFieldsProblem('--fields', fields ?? [], columns);
  if (problem) throw new UsageError(problem);
  const limit = parseLimit(values.limit, format);
  const store = (await remoteStore(cloud, values)) ?? localStore(dataDir);
  let source: AsyncIterable<Row>;
  let described: string;
  let note: string | undefined;
  if (values.run === undefined) {
    const snapshot = await readSnapshot(store, job.name);
    if (!snapshot) {
      io.stderr.write(`job ${job.name} has no finished run yet: scrapeline run ${job.name}\n`);
      return EXIT.error;
    }
    source = currentRows(store, snapshot);
    described = `the current state of ${snapshot.items} item(s), as of run ${snapshot.runId}`;
  } else {
    const manifest =
      values.run === 'latest' ? await latestFinishedRun(store, job.name) : await readManifest(store, job.name, values.run);
    if (!manifest) {
      io.stderr.write(
        values.run === 'latest' ? `job ${job.name} has no finished run yet\n` : `no run "${values.run}" of job ${job.name}\n`,
      );
      return EXIT.error;
    }
    source = runRows(store, manifest);
    described = `run ${manifest.runId} (${manifest.state})`;
    note = unchangedRunNote(manifest);
  }
  const rows = queryRows(source, { where, ...(fields ? { fields } : {}), ...(limit !== undefined ? { limit } : {}) });
  const unlisted = new Set<string>();
  const count = await writeRows(rows, format, io.stdout, fields ?? columns, fields ? undefined : unlisted);
  noteUnlisted(io, unlisted);
  if (format === 'table') io.stderr.write(`${count} row(s) from ${described}\n`);
  if (note) io.stderr.write(`${note}\n`);
  return EXIT.ok;
}

async function commandChanges(
  { values, positionals }: ParsedArgs<typeof CHANGES.options>,
  context: CommandContext,
): Promise<number> {
  const { io, cloud } = context;
  const { jobsDir, dataDir } = paths(values, io);
  const job = await knownJob(jobsDir, positionals, 'changes');
  const format = parseFormat(values.format);
  const wanted = values.type?.split(',').map((type) => type.trim());
  if (wanted?.some((type) => !['new', 'changed', 'removed'].includes(type))) {
    throw new UsageError(`--type takes new, changed and removed, got "${values.type}"`);
  }
  const store = (await remoteStore(cloud, values)) ?? localStore(dataDir);
  const manifest =
    values.run === undefined ? await latestFinishedRun(store, job.name) : await readManifest(store, job.name, values.run);
  if (!manifest) {
    io.stderr.write(
      values.run === undefined ? `job ${job.name} has no finished run yet\n` : `no run "${values.run}" of job ${job.name}\n`,
    );
    return EXIT.error;
  }
  async function* rows(): AsyncIterable<Row> {
    for await (const change of runChanges(store, manifest as RunManifest)) {
      if (wanted && !wanted.includes(String(change.type))) continue;
      if (format === 'csv') {
        yield flattenChange(change);
        continue;
      }
      if (format !== 'table') {
        yield change;
        continue;
      }
      const diff = change.diff as Record<string, { before: unknown; after: unknown }> | undefined;
      const data = change.data as Record<string, unknown> | undefined;
      yield {
        type: change.type,
        key: change.key,
        what: diff
          ? Object.entries(diff)
              .map(([field, { before, after }]) => `${field}: ${JSON.stringify(before)} → ${JSON.stringify(after)}`)
              .join('; ')
          : JSON.stringify(data).slice(0, 120),
      };
    }
  }
  const limit = parseLimit(values.limit, format);
  const columns = format === 'csv' ? changeColumns(job) : format === 'table' ? ['type', 'key', 'what'] : undefined;
  const unlisted = new Set<string>();
  const count = await writeRows(queryRows(rows(), limit === undefined ? {} : { limit }), format, io.stdout, columns, unlisted);
  noteUnlisted(io, unlisted);
  const { changes } = manifest;
  io.stderr.write(
    `run ${manifest.runId} (${manifest.state}): ${changes.new} new, ${changes.changed} changed, ${changes.removed} removed${changes.removalsInferred ? '' : ' (removals not inferred: the run was cut by a budget or degraded)'}; ${count} shown\n`,
  );
  return EXIT.ok;
}

async function commandRuns({ values, positionals }: ParsedArgs<typeof RUNS.options>, context: CommandContext): Promise<number> {
  const { io, cloud } = context;
  const { jobsDir, dataDir } = paths(values, io);
  const job = (await knownJob(jobsDir, positionals, 'runs')).name;
  const format = parseFormat(values.format, ['table', 'json', 'ndjson']);
  const store = (await remoteStore(cloud, values)) ?? localStore(dataDir);
  async function* rows() {
    // Oldest first by start time: a run id chosen with --run-id need not sort like the time-based ones.
    const manifests: RunManifest[] = [];
    for await (const manifest of listManifests(store, job)) manifests.push(manifest);
    manifests.sort((a, b) => Date.parse(a.startedAt) - Date.parse(b.startedAt));
    for (const manifest of manifests) {
      yield {
        runId: manifest.runId,
        state: manifest.state,
        startedAt: manifest.startedAt,
        duration: seconds(manifest.durationMs),
        accepted: manifest.urls.accepted,
        parsed: manifest.urls.parsed,
        unchanged: manifest.urls.unchanged,
        skipped: manifest.urls.skipped,
        failed: manifest.urls.failed,
        items: manifest.items.written,
      };
    }
  }
  const count = await writeRows(rows(), format, io.stdout);
  if (count === 0) io.stderr.write(`job ${job} has no runs in ${dataDir}\n`);
  return EXIT.ok;
}

async function commandExtract(
  { values, positionals }: ParsedArgs<typeof EXTRACT.options>,
  context: CommandContext,
): Promise<number> {
  const { io } = context;
  const { jobsDir } = paths(values, io);
  const job = await loadJob(jobsDir, jobArgument(positionals, 'extract'));
  if ((values.url === undefined) === (values.file === undefined))
    throw new UsageError('extract: give exactly one of --url and --file');
  const names = Object.keys(job.templates);
  const template = values.template ?? (names.length === 1 ? names[0] : job.start.template);
  if (template !== undefined && !names.includes(template)) {
    throw new UsageError(`extract: job ${job.name} has no template "${template}" (templates: ${names.join(', ') || 'none'})`);
  }
  let html: string;
  let url: string;
  let finalUrl: string;
  let contentType: string | undefined;
  if (values.url !== undefined) {
    // As the run would request it: request options, secrets, proxies and a login session (shared/local/preview.ts).
    const page = await previewFetch(job, values.url, template, {
      ssrf: ssrfPolicy(values['allow-address'], io),
      secrets: localSecretSource(io.env, paths(values, io).dataDir),
    });
    html = decodeDocument(page.body, page.headers['content-type']).text;
    contentType = page.headers['content-type'];
    url = page.url;
    finalUrl = page.finalUrl;
  } else {
    const file = values.file ?? '';
    html = decodeDocument(await readFile(file), undefined).text;
    url = values['base-url'] ?? job.start.urls[0] ?? `file://${resolve(file)}`;
    finalUrl = url;
  }
  const hosts = job.fetch.allowedHosts ?? [...job.start.urls.map(hostOf), ...(url.startsWith('http') ? [hostOf(url)] : [])];
  const extraction = await extractPage(html, job, { url, finalUrl, template, hosts, contentType });
  io.stdout.write(
    `${JSON.stringify({ url: finalUrl, template: template ?? null, items: extraction.items, links: extraction.links }, null, 2)}\n`,
  );
  const problems = extraction.items.reduce((sum, item) => sum + item.problems.length, 0);
  io.stderr.write(`${extraction.items.length} item(s), ${problems} problem(s), ${extraction.links.length} link(s) to follow\n`);
  return EXIT.ok;
}

async function commandValidate(
  { values, positionals }: ParsedArgs<typeof VALIDATE.options>,
  context: CommandContext,
): Promise<number> {
  const { io } = context;
  if (positionals.length > 0) throw new UsageError(`validate: unexpected arguments: ${positionals.join(' ')}`);
  const { jobsDir } = paths(values, io);
  const loaded = await loadJobDirectory(jobsDir, undefined, CLI_JOB_LOADING);
  let invalid = 0;
  for (const entry of loaded) {
    if ('error' in entry) {
      invalid++;
      io.stderr.write(`${entry.error.message}\n`);
    } else {
      const schedule = entry.job.schedule ? `, schedule ${entry.job.schedule}` : ', no schedule';
      io.stdout.write(`ok  ${relative(process.cwd(), entry.file)}: job ${entry.job.name}${schedule}\n`);
    }
  }
  if (loaded.length === 0) io.stderr.write(`no job files in ${jobsDir}\n`);
  io.stdout.write(`${loaded.length - invalid} valid, ${invalid} invalid\n`);
  return invalid > 0 ? EXIT.usage : EXIT.ok;
}

async function commandDemo({ values }: ParsedArgs<typeof DEMO.options>, context: CommandContext): Promise<number> {
  const { io } = context;
  const { jobsDir, dataDir } = paths(values, io);
  const port = Number(values.port ?? 8321);
  const books = Number(values.books ?? 1000);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError(`--port must be a port number, got "${values.port}"`);
  if (!Number.isInteger(books) || books < 1)
    throw new UsageError(`--books must be a positive whole number, got "${values.books}"`);
  const code = await runDemo(io, { jobsDir, dataDir, port, books });
  if (code !== EXIT.ok) return code;
  io.stdout.write(
    '\nA sample query: the five best-rated books under £20\n$ scrapeline query books --where "price<20" --where "rating>=4" --fields title,price,rating,stock --limit 5\n',
  );
  await COMMANDS.query?.run(
    [
      'books',
      '--jobs',
      jobsDir,
      '--data-dir',
      dataDir,
      '--where',
      'price<20',
      '--where',
      'rating>=4',
      '--fields',
      'title,price,rating,stock',
      '--limit',
      '5',
    ],
    context,
  );
  io.stdout.write(`\nNext: scrapeline runs books, scrapeline query books --format csv > books.csv (data in ${dataDir}/)\n`);
  return code;
}

async function commandReparse(
  { values, positionals }: ParsedArgs<typeof REPARSE.options>,
  context: CommandContext,
): Promise<number> {
  const { io } = context;
  const { jobsDir, dataDir } = paths(values, io);
  const job = await loadJob(jobsDir, jobArgument(positionals, 'reparse'));
  if (values.run === undefined) throw new UsageError('reparse: which run? (--run ID; scrapeline runs <job> lists them)');
  const { outcome } = await runLocally(io, job, dataDir, {
    reparse: { sourceRunId: values.run, asLatest: values['as-latest'] ?? false },
    verbose: values.verbose ?? false,
  });
  return reportOutcome(io, outcome, dataDir);
}

async function commandRedrive(
  { values, positionals }: ParsedArgs<typeof REDRIVE.options>,
  context: CommandContext,
): Promise<number> {
  const { io, cloud } = context;
  if (values.stack === undefined)
    throw new UsageError('redrive: which stack? (--stack NAME); local runs resume with run --resume');
  const [job, ...extra] = positionals;
  if (extra.length > 0) throw new UsageError(`redrive: unexpected arguments: ${extra.join(' ')}`);
  const stages = values.stage?.map((stage) => {
    if (!isQueueStage(stage)) throw new UsageError(`--stage must be one of ${QUEUE_STAGES.join(', ')}, got "${stage}"`);
    return stage;
  });
  const { redrive } = await import('./cloud.js');
  const moved = await redrive(await cloud(), values.stack, { ...(job ? { job } : {}), ...(stages ? { stages } : {}) });
  const total = Object.values(moved).reduce((sum, count) => sum + count, 0);
  io.stdout.write(`Moved ${total} dead letter(s) back: ${QUEUE_STAGES.map((stage) => `${stage} ${moved[stage]}`).join(', ')}\n`);
  return EXIT.ok;
}

function help(io: CliIo, command?: string): number {
  io.stdout.write(`${(command === undefined ? undefined : COMMANDS[command]?.help) ?? HELP}\n`);
  return EXIT.ok;
}

/** Every command: its options, the help written from them, and what it does. */
const COMMANDS: Readonly<Record<string, CliCommand>> = {
  run: defineCommand('run', RUN, commandRun),
  query: defineCommand('query', QUERY, commandQuery),
  runs: defineCommand('runs', RUNS, commandRuns),
  changes: defineCommand('changes', CHANGES, commandChanges),
  redrive: defineCommand('redrive', REDRIVE, commandRedrive),
  reparse: defineCommand('reparse', REPARSE, commandReparse),
  // Loaded when run: its Athena, Glue and CloudFormation clients would weigh on every other command.
  sql: lazyCommand(SQL, async () => (await import('./sql.js')).sqlCommand()),
  extract: defineCommand('extract', EXTRACT, commandExtract),
  validate: defineCommand('validate', VALIDATE, commandValidate),
  demo: defineCommand('demo', DEMO, commandDemo),
};

/**
 * The bucket's object store when the options name a stack or a bucket, else `undefined` (a local command: the AWS SDK
 * is not loaded).
 */
async function remoteStore(
  cloud: CommandContext['cloud'],
  options: { readonly stack?: string | undefined; readonly bucket?: string | undefined },
): Promise<ObjectStore | undefined> {
  if (options.stack === undefined && options.bucket === undefined) return undefined;
  const { remoteStore: storeOf } = await import('./cloud.js');
  return storeOf(await cloud(), options);
}

/**
 * Runs the CLI; returns the exit code.
 *
 * @param services AWS clients for commands against a deployed stack (tests inject clients pointed at local peers).
 * @default the SDK's usual configuration, loaded when a command first needs it
 */
export async function main(argv: readonly string[], io: CliIo, services?: CloudServices): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    return help(io, args[0]);
  }
  const command = COMMANDS[name];
  if (!command) {
    io.stderr.write(`unknown command "${name}"\n\n${HELP}\n`);
    return EXIT.usage;
  }
  let loaded = services;
  const cloud = async () => {
    loaded ??= (await import('./cloud.js')).defaultCloudServices();
    return loaded;
  };
  return runCommand(command, args, { io, cloud });
}

/** The process's standard streams and environment. */
export const processIo: CliIo = {
  stdout: { write: (text) => process.stdout.write(text) },
  stderr: { write: (text) => process.stderr.write(text) },
  interactive: process.stderr.isTTY === true,
  env: process.env,
};

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('/cli/main.ts')) {
  process.exitCode = await main(process.argv.slice(2), processIo);
}
