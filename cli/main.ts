import { readFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { describeError } from '../shared/errors.js';
import { extractPage } from '../shared/extract/page.js';
import { decodeDocument } from '../shared/fetch/charset.js';
import { UndiciHttpClient } from '../shared/fetch/http.js';
import type { SsrfPolicy } from '../shared/fetch/ssrf.js';
import { JobValidationError } from '../shared/job/errors.js';
import { loadJobDirectory } from '../shared/job/load.js';
import { FileSystemObjectStore } from '../shared/local/object-store.js';
import type { RunManifest } from '../shared/pipeline/finalize.js';
import type { ObjectStore } from '../shared/ports.js';
import {
  currentRows,
  latestFinishedRun,
  listManifests,
  parseCondition,
  queryRows,
  type Row,
  readManifest,
  readSnapshot,
  runChanges,
  runRows,
} from '../shared/query.js';
import { hostOf } from '../shared/url.js';
import { type CloudServices, defaultCloudServices, redrive, remoteStore, STAGES, type Stage, startCloudRun } from './cloud.js';
import { type CliIo, EXIT, environment, loadJob, reportOutcome, runLocally, seconds, UsageError } from './common.js';
import { runDemo } from './demo.js';
import { FORMATS, type Format, writeRows } from './format.js';
import { commandSql, SQL_HELP } from './sql.js';

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

const COMMAND_HELP: Record<string, string> = {
  run: `Usage: scrapeline run <job> [--start-url <url>]... [--run-id <id> | --resume <id>] [--allow-address <ip>]... [--verbose]

Runs the job with the local runtime: fetch, parse and post-processing run concurrently over embedded queues.
  --start-url <url>  replace the job's start URLs for this run (repeatable)
  --run-id <id>      choose the run id (default: time-based)
  --resume <id>      finish a run whose process died (killed, crashed): nothing is lost or written twice
  --allow-address <ip|cidr>
                     let the SSRF guard through to this address (repeatable; also SCRAPELINE_ALLOW_ADDRESSES).
                     The guard refuses loopback, private, link-local and similar addresses by default.
  --verbose          print the pipeline's log to stderr (always written to <data-dir>/logs/)`,
  query: `Usage: scrapeline query <job> [--run <id>] [--where <cond>]... [--fields a,b] [--format table|json|ndjson|csv] [--limit N]

Streams the current state of every item (latest value per key across runs; removed items left out), or the
items one run wrote with --run <id> (--run latest: the latest finished run).
  --where <cond>     field=value, field!=value, field>N, field>=N, field<N, field<=N, field~text (repeatable, all must hold)
  --fields <list>    comma-separated fields to print, in order
  --format <fmt>     table (default; limited to 50 rows unless --limit), json, ndjson, csv
  --limit <n>        rows at most`,
  changes: `Usage: scrapeline changes <job> [--run <id>] [--type new,changed,removed] [--format table|json|ndjson|csv] [--limit N]

Shows what a run found changed (default: the latest finished run): new items, changed items with a field-level
diff, and removed items (inferred only from runs not cut by a budget and not degraded).`,
  runs: `Usage: scrapeline runs <job> [--format table|json]

Lists the job's runs from their manifests, oldest first.`,
  extract: `Usage: scrapeline extract <job> (--url <url> | --file <path>) [--template <name>] [--base-url <url>]

Applies a template to one page and prints the items (with any problems) and the links the follow rules select.
  --template <name>  template to apply (default: the job's only template, or its start template)
  --base-url <url>   URL the file is treated as coming from (default: the job's first start URL)`,
  validate: `Usage: scrapeline validate [--jobs <dir>]

Validates every job file; prints each problem as <file>: <path>: <message>. Exit code 2 when any job is invalid.`,
  redrive: `Usage: scrapeline redrive [job] --stack NAME [--stage fetch|parse|postprocess]...

Moves dead letters (messages that failed maxReceiveCount times) back to the queues they came from, so they are
processed again once the cause is fixed. With a job, only that job's messages move.`,
  sql: SQL_HELP,
  reparse: `Usage: scrapeline reparse <job> --run <id> [--verbose]

Extracts every page archived by run <id> (raw/<job>/<id>/*.warc.gz) again with the job's current templates, as a
new run, without fetching anything: the way to apply a fixed selector or a new field to pages already scraped.`,
  demo: `Usage: scrapeline demo [--port <port>] [--books <n>]

Serves the sample bookstore on 127.0.0.1 (port 8321 by default), runs the books job through the whole local
pipeline, prints the run summary and a sample query.`,
};

/** Options of the commands that read results: from a deployed stack's bucket, or a bucket by name. */
const REMOTE_OPTIONS = {
  stack: { type: 'string' },
  bucket: { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

const COMMON_OPTIONS = {
  jobs: { type: 'string' },
  'data-dir': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

function parse<T extends ParseArgsConfig['options']>(args: string[], options: T) {
  try {
    return parseArgs({ args, options: { ...COMMON_OPTIONS, ...options }, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(describeError(error));
  }
}

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

async function commandRun(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, {
    ...REMOTE_OPTIONS,
    'start-url': { type: 'string', multiple: true },
    'run-id': { type: 'string' },
    resume: { type: 'string' },
    verbose: { type: 'boolean' },
    'allow-address': { type: 'string', multiple: true },
  });
  if (values.help) return help(io, 'run');
  if (values.resume && (values['start-url'] || values['run-id'])) {
    throw new UsageError('run: --resume continues a run as it was started; it takes no --start-url or --run-id');
  }
  const { jobsDir, dataDir } = paths(values, io);
  if (values.bucket !== undefined) throw new UsageError('run: a run starts on a stack (--stack NAME), not a bucket');
  if (values.stack !== undefined) {
    const name = jobArgument(positionals, 'run');
    const runId = await startCloudRun(services, values.stack, name, values['start-url']);
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

async function commandQuery(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, {
    ...REMOTE_OPTIONS,
    run: { type: 'string' },
    where: { type: 'string', multiple: true },
    fields: { type: 'string' },
    format: { type: 'string' },
    limit: { type: 'string' },
  });
  if (values.help) return help(io, 'query');
  const { dataDir } = paths(values, io);
  const job = jobArgument(positionals, 'query');
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
  const limit = parseLimit(values.limit, format);
  const store = (await remoteStore(services, values)) ?? localStore(dataDir);
  let source: AsyncIterable<Row>;
  let described: string;
  if (values.run === undefined) {
    const snapshot = await readSnapshot(store, job);
    if (!snapshot) {
      io.stderr.write(`job ${job} has no finished run yet: scrapeline run ${job}\n`);
      return EXIT.error;
    }
    source = currentRows(store, snapshot);
    described = `the current state of ${snapshot.items} item(s), as of run ${snapshot.runId}`;
  } else {
    const manifest = values.run === 'latest' ? await latestFinishedRun(store, job) : await readManifest(store, job, values.run);
    if (!manifest) {
      io.stderr.write(
        values.run === 'latest' ? `job ${job} has no finished run yet\n` : `no run "${values.run}" of job ${job}\n`,
      );
      return EXIT.error;
    }
    source = runRows(store, manifest);
    described = `run ${manifest.runId} (${manifest.state})`;
  }
  const rows = queryRows(source, { where, ...(fields ? { fields } : {}), ...(limit !== undefined ? { limit } : {}) });
  const count = await writeRows(rows, format, io.stdout, fields);
  if (format === 'table') io.stderr.write(`${count} row(s) from ${described}\n`);
  return EXIT.ok;
}

async function commandChanges(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, {
    ...REMOTE_OPTIONS,
    run: { type: 'string' },
    format: { type: 'string' },
    type: { type: 'string' },
    limit: { type: 'string' },
  });
  if (values.help) return help(io, 'changes');
  const { dataDir } = paths(values, io);
  const job = jobArgument(positionals, 'changes');
  const format = parseFormat(values.format);
  const wanted = values.type?.split(',').map((type) => type.trim());
  if (wanted?.some((type) => !['new', 'changed', 'removed'].includes(type))) {
    throw new UsageError(`--type takes new, changed and removed, got "${values.type}"`);
  }
  const store = (await remoteStore(services, values)) ?? localStore(dataDir);
  const manifest = values.run === undefined ? await latestFinishedRun(store, job) : await readManifest(store, job, values.run);
  if (!manifest) {
    io.stderr.write(values.run === undefined ? `job ${job} has no finished run yet\n` : `no run "${values.run}" of job ${job}\n`);
    return EXIT.error;
  }
  async function* rows(): AsyncIterable<Row> {
    for await (const change of runChanges(store, manifest as RunManifest)) {
      if (wanted && !wanted.includes(String(change.type))) continue;
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
  const count = await writeRows(queryRows(rows(), limit === undefined ? {} : { limit }), format, io.stdout);
  const { changes } = manifest;
  io.stderr.write(
    `run ${manifest.runId} (${manifest.state}): ${changes.new} new, ${changes.changed} changed, ${changes.removed} removed${changes.removalsInferred ? '' : ' (removals not inferred: the run was cut by a budget or degraded)'}; ${count} shown\n`,
  );
  return EXIT.ok;
}

async function commandRuns(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, { ...REMOTE_OPTIONS, format: { type: 'string' } });
  if (values.help) return help(io, 'runs');
  const { dataDir } = paths(values, io);
  const job = jobArgument(positionals, 'runs');
  const format = parseFormat(values.format, ['table', 'json', 'ndjson']);
  const store = (await remoteStore(services, values)) ?? localStore(dataDir);
  async function* rows() {
    for await (const manifest of listManifests(store, job)) {
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

async function commandExtract(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, {
    url: { type: 'string' },
    file: { type: 'string' },
    template: { type: 'string' },
    'base-url': { type: 'string' },
    'allow-address': { type: 'string', multiple: true },
  });
  if (values.help) return help(io, 'extract');
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
  if (values.url !== undefined) {
    const http = new UndiciHttpClient({ ssrf: ssrfPolicy(values['allow-address'], io) });
    try {
      const page = await http.fetchPage(values.url, {
        timeoutMs: job.fetch.timeoutMs,
        maxBytes: job.fetch.maxBytes,
        maxRedirects: job.fetch.maxRedirects,
        userAgent: job.politeness.userAgent,
      });
      html = decodeDocument(page.body, page.headers['content-type']).text;
      url = page.url;
      finalUrl = page.finalUrl;
    } finally {
      await http.close();
    }
  } else {
    const file = values.file ?? '';
    html = decodeDocument(await readFile(file), undefined).text;
    url = values['base-url'] ?? job.start.urls[0] ?? `file://${resolve(file)}`;
    finalUrl = url;
  }
  const hosts = job.fetch.allowedHosts ?? [...job.start.urls.map(hostOf), ...(url.startsWith('http') ? [hostOf(url)] : [])];
  const extraction = await extractPage(html, job, { url, finalUrl, template, hosts });
  io.stdout.write(
    `${JSON.stringify({ url: finalUrl, template: template ?? null, items: extraction.items, links: extraction.links }, null, 2)}\n`,
  );
  const problems = extraction.items.reduce((sum, item) => sum + item.problems.length, 0);
  io.stderr.write(`${extraction.items.length} item(s), ${problems} problem(s), ${extraction.links.length} link(s) to follow\n`);
  return EXIT.ok;
}

async function commandValidate(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, {});
  if (values.help) return help(io, 'validate');
  if (positionals.length > 0) throw new UsageError(`validate: unexpected arguments: ${positionals.join(' ')}`);
  const { jobsDir } = paths(values, io);
  const loaded = await loadJobDirectory(jobsDir);
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

async function commandDemo(args: string[], io: CliIo): Promise<number> {
  const { values } = parse(args, { port: { type: 'string' }, books: { type: 'string' } });
  if (values.help) return help(io, 'demo');
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
  await commandQuery(
    [
      'books',
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
    io,
  );
  io.stdout.write(`\nNext: scrapeline runs books, scrapeline query books --format csv > books.csv (data in ${dataDir}/)\n`);
  return code;
}

async function commandReparse(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, { run: { type: 'string' }, verbose: { type: 'boolean' } });
  if (values.help) return help(io, 'reparse');
  const { jobsDir, dataDir } = paths(values, io);
  const job = await loadJob(jobsDir, jobArgument(positionals, 'reparse'));
  if (values.run === undefined) throw new UsageError('reparse: which run? (--run ID; scrapeline runs <job> lists them)');
  const { outcome } = await runLocally(io, job, dataDir, { reparse: values.run, verbose: values.verbose ?? false });
  return reportOutcome(io, outcome, dataDir);
}

async function commandRedrive(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, { stack: { type: 'string' }, stage: { type: 'string', multiple: true } });
  if (values.help) return help(io, 'redrive');
  if (values.stack === undefined)
    throw new UsageError('redrive: which stack? (--stack NAME); local runs resume with run --resume');
  const [job, ...extra] = positionals;
  if (extra.length > 0) throw new UsageError(`redrive: unexpected arguments: ${extra.join(' ')}`);
  const stages = values.stage?.map((stage) => {
    if (!(STAGES as readonly string[]).includes(stage))
      throw new UsageError(`--stage must be one of ${STAGES.join(', ')}, got "${stage}"`);
    return stage as Stage;
  });
  const moved = await redrive(services, values.stack, { ...(job ? { job } : {}), ...(stages ? { stages } : {}) });
  const total = Object.values(moved).reduce((sum, count) => sum + count, 0);
  io.stdout.write(`Moved ${total} dead letter(s) back: ${STAGES.map((stage) => `${stage} ${moved[stage]}`).join(', ')}\n`);
  return EXIT.ok;
}

function help(io: CliIo, command?: string): number {
  io.stdout.write(`${command ? (COMMAND_HELP[command] ?? HELP) : HELP}\n`);
  return EXIT.ok;
}

const COMMANDS: Record<string, (args: string[], io: CliIo) => Promise<number>> = {
  run: commandRun,
  query: commandQuery,
  runs: commandRuns,
  changes: commandChanges,
  redrive: commandRedrive,
  reparse: commandReparse,
  sql: (args, io) => commandSql(args, io),
  extract: commandExtract,
  validate: commandValidate,
  demo: commandDemo,
};

/** AWS clients of this invocation (tests inject clients pointed at local peers). */
let services: CloudServices = defaultCloudServices();

/** Runs the CLI; returns the exit code. */
export async function main(argv: readonly string[], io: CliIo, cloud: CloudServices = defaultCloudServices()): Promise<number> {
  services = cloud;
  const [command, ...args] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    return help(io, args[0]);
  }
  const run = COMMANDS[command];
  if (!run) {
    io.stderr.write(`unknown command "${command}"\n\n${HELP}\n`);
    return EXIT.usage;
  }
  try {
    return await run(args, io);
  } catch (error) {
    if (error instanceof UsageError || error instanceof JobValidationError) {
      io.stderr.write(`${error.message}\n`);
      return EXIT.usage;
    }
    io.stderr.write(`error: ${describeError(error)}\n`);
    return EXIT.error;
  }
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
