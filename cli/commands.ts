import type { CommandSpec } from './options.js';

/**
 * Every command's options and help, in one table per command: `parseArgs` reads the same table the help is written
 * from, so the help lists exactly the options a command accepts (test/cli.help.test.ts checks it).
 */

const jobs = {
  type: 'string',
  value: '<dir>',
  help: 'jobs folder (default: jobs, or SCRAPELINE_JOBS_DIR)',
} as const;
const dataDir = {
  type: 'string',
  value: '<dir>',
  help: 'local data folder (default: .scrapeline, or SCRAPELINE_DATA_DIR)',
} as const;
const help = { type: 'boolean', short: 'h', help: 'this help' } as const;
const stack = {
  type: 'string',
  value: '<name>',
  help: 'a deployed stack (outputs read through CloudFormation; your AWS credentials and region)',
} as const;
const bucket = { type: 'string', value: '<name>', help: "a deployed stack's bucket, by name" } as const;
const allowAddress = {
  type: 'string',
  multiple: true,
  value: '<ip|cidr>',
  help: 'let the SSRF guard through to this address (repeatable; also SCRAPELINE_ALLOW_ADDRESSES).\nThe guard refuses loopback, private, link-local and similar addresses by default:\n--allow-address 127.0.0.1 for a site on this machine.',
} as const;
const limit = { type: 'string', value: '<n>', help: 'rows at most (table: 50 unless given)' } as const;

export const RUN = {
  usage: 'Usage: scrapeline run <job> [options]',
  description:
    'Runs the job with the local runtime: fetch, parse and post-processing run concurrently over embedded queues.\nWith --stack, starts a run on a deployed stack instead (its fetch queue gets the start message).',
  options: {
    'start-url': {
      type: 'string',
      multiple: true,
      value: '<url>',
      help: "replace the job's start URLs for this run (repeatable)",
    },
    'run-id': { type: 'string', value: '<id>', help: 'choose the run id (default: time-based)' },
    resume: {
      type: 'string',
      value: '<id>',
      help: 'finish a run whose process died (killed, crashed): nothing is lost or written twice',
    },
    'allow-address': allowAddress,
    verbose: { type: 'boolean', help: "print the pipeline's log to stderr (always written to <data-dir>/logs/)" },
    stack,
    jobs,
    'data-dir': dataDir,
    help,
  },
} as const satisfies CommandSpec;

export const QUERY = {
  usage: 'Usage: scrapeline query <job> [options]',
  description: `Streams the current state of every item (latest value per key across runs; removed items left out), or the
items one run wrote with --run <id> (--run latest: the latest finished run). Columns are the fields of the job's
templates (all of them, in declaration order) and _key, _url, _changedIn (current state) or _key, _url, _runId,
_fetchedAt (one run). CSV cells that a spreadsheet would run as a formula are prefixed with '.`,
  options: {
    run: {
      type: 'string',
      value: '<id>',
      help: "one run's items instead of the current state (latest: the latest finished run)",
    },
    where: {
      type: 'string',
      multiple: true,
      value: '<cond>',
      help: 'field=value, field!=value, field>N, field>=N, field<N, field<=N, field~text\n(repeatable, all must hold)',
    },
    fields: { type: 'string', value: '<list>', help: 'comma-separated fields to print, in order' },
    format: { type: 'string', value: '<fmt>', help: 'table (default), json, ndjson, csv' },
    limit,
    stack,
    bucket,
    jobs,
    'data-dir': dataDir,
    help,
  },
} as const satisfies CommandSpec;

export const CHANGES = {
  usage: 'Usage: scrapeline changes <job> [options]',
  description: `Shows what a run found changed (default: the latest finished run): new items, changed items with a field-level
diff, and removed items (inferred only from runs not cut by a budget and not degraded). CSV columns: type, key,
runId, url, diff (JSON), then data.<field> for every field of the job's templates.`,
  options: {
    run: { type: 'string', value: '<id>', help: 'the run (default: the latest finished run)' },
    type: { type: 'string', value: '<list>', help: 'only these kinds: new, changed, removed (comma-separated)' },
    format: { type: 'string', value: '<fmt>', help: 'table (default), json, ndjson, csv' },
    limit,
    stack,
    bucket,
    jobs,
    'data-dir': dataDir,
    help,
  },
} as const satisfies CommandSpec;

export const RUNS = {
  usage: 'Usage: scrapeline runs <job> [options]',
  description: "Lists the job's runs from their manifests, oldest first.",
  options: {
    format: { type: 'string', value: '<fmt>', help: 'table (default), json, ndjson' },
    stack,
    bucket,
    jobs,
    'data-dir': dataDir,
    help,
  },
} as const satisfies CommandSpec;

export const EXTRACT = {
  usage: 'Usage: scrapeline extract <job> (--url <url> | --file <path>) [options]',
  description: 'Applies a template to one page and prints the items (with any problems) and the links the follow rules select.',
  options: {
    url: { type: 'string', value: '<url>', help: 'fetch this page (the SSRF guard applies: see --allow-address)' },
    file: { type: 'string', value: '<path>', help: 'read the page from a saved file instead' },
    template: {
      type: 'string',
      value: '<name>',
      help: "template to apply (default: the job's only template, or its start template)",
    },
    'base-url': {
      type: 'string',
      value: '<url>',
      help: "URL the file is treated as coming from (default: the job's first start URL)",
    },
    'allow-address': allowAddress,
    jobs,
    help,
  },
} as const satisfies CommandSpec;

export const VALIDATE = {
  usage: 'Usage: scrapeline validate [options]',
  description: 'Validates every job file; prints each problem as <file>: <path>: <message>. Exit code 2 when any job is invalid.',
  options: { jobs, help },
} as const satisfies CommandSpec;

export const REDRIVE = {
  usage: 'Usage: scrapeline redrive [job] --stack <name> [options]',
  description: `Moves dead letters (messages that failed maxReceiveCount times) back to the queues they came from, so they are
processed again once the cause is fixed. With a job, only that job's messages move.`,
  options: {
    stack,
    stage: {
      type: 'string',
      multiple: true,
      value: '<stage>',
      help: 'only this stage: fetch, parse or postprocess (repeatable)',
    },
    help,
  },
} as const satisfies CommandSpec;

export const DEMO = {
  usage: 'Usage: scrapeline demo [options]',
  description: `Serves the sample bookstore on 127.0.0.1 (port 8321 by default), runs the books job through the whole local
pipeline, prints the run summary and a sample query.`,
  options: {
    port: { type: 'string', value: '<port>', help: 'port of the sample site (default 8321; a free one when taken)' },
    books: { type: 'string', value: '<n>', help: 'books in the sample site (default 1000)' },
    jobs,
    'data-dir': dataDir,
    help,
  },
} as const satisfies CommandSpec;

export const REPARSE = {
  usage: 'Usage: scrapeline reparse <job> --run <id> [options]',
  description: `Extracts every page archived by run <id> (raw/<job>/<id>/*.warc.gz) again with the job's current templates, as a
new run, without fetching anything: the way to try a fixed selector or a new field on pages already scraped.
The reparse run writes its own dataset, quarantine, changes (compared with the current state) and manifest. It never
moves the job's current state (what \`scrapeline query <job>\` answers) unless --as-latest is given, and it never
infers removals: its source run archived only the pages it fetched, not those that were unchanged.`,
  options: {
    run: { type: 'string', value: '<id>', help: 'the archived run to extract again (scrapeline runs <job> lists them)' },
    'as-latest': {
      type: 'boolean',
      help: "let the reparse update the job's current state, item memory and quality baseline like a crawl",
    },
    verbose: { type: 'boolean', help: "print the pipeline's log to stderr (always written to <data-dir>/logs/)" },
    jobs,
    'data-dir': dataDir,
    help,
  },
} as const satisfies CommandSpec;

export const SQL = {
  usage: `Usage: scrapeline sql "<query>" --stack <name> [--workgroup <name>] [--database <name>] [--format table|json|ndjson|csv] [--timeout <s>] [--limit <n>]
       scrapeline sql --file <query.sql> --stack <name> [options]
       scrapeline sql --tables --stack <name> [--format table|json|ndjson|csv]`,
  description: `Runs one SQL statement in Athena over a deployed stack's tables and prints the result: per job, <job> (its items,
one row per item written) and <job>_changes (new, changed and removed items); "-" in a job name becomes "_".
The stack's outputs name the workgroup (AthenaWorkgroup: results encrypted, bytes scanned capped per query) and
the database (GlueDatabase). Filter on the dt partition (WHERE dt >= '2026-11-01') so that Athena reads only
those days: it bills by bytes scanned. Examples: docs/query.md.`,
  options: {
    stack: {
      type: 'string',
      value: '<name>',
      help: 'the deployed stack (CloudFormation DescribeStacks; your AWS credentials and region)',
    },
    workgroup: { type: 'string', value: '<name>', help: "run in this workgroup instead of the stack's" },
    database: { type: 'string', value: '<name>', help: "resolve table names in this database instead of the stack's" },
    file: { type: 'string', value: '<path>', help: 'read the statement from a file' },
    tables: { type: 'boolean', help: 'list the tables and their columns instead (Glue; scans nothing)' },
    format: { type: 'string', value: '<fmt>', help: 'table (default), json, ndjson, csv' },
    timeout: { type: 'string', value: '<s>', help: 'stop the query and fail after this many seconds (default 300)' },
    limit: { type: 'string', value: '<n>', help: 'print at most n rows (stops paging through the results)' },
    region: { type: 'string', value: '<region>', help: "AWS region (default: AWS_REGION, or your profile's)" },
    help,
  },
  footer: `Exit codes: 0 ok, 1 the query failed, was cancelled or timed out (Athena's reason is printed) or AWS refused a
call, 2 usage, or a stack that is missing or lacks the outputs.`,
} as const satisfies CommandSpec;

/** Every command's spec, by name. */
export const COMMAND_SPECS: Readonly<Record<string, CommandSpec>> = {
  run: RUN,
  query: QUERY,
  changes: CHANGES,
  runs: RUNS,
  extract: EXTRACT,
  validate: VALIDATE,
  redrive: REDRIVE,
  demo: DEMO,
  reparse: REPARSE,
  sql: SQL,
};
