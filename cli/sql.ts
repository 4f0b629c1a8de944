import { readFile } from 'node:fs/promises';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { AthenaClient } from '@aws-sdk/client-athena';
import { CloudFormationClient, DescribeStacksCommand, type DescribeStacksCommandOutput } from '@aws-sdk/client-cloudformation';
import { GetTablesCommand, GlueClient } from '@aws-sdk/client-glue';
import { AthenaQueryFailedError, AthenaQueryTimeoutError } from '../shared/athena/errors.js';
import { queryResults, startQuery, type WaitOptions, waitForQuery } from '../shared/athena/query.js';
import { describeError } from '../shared/errors.js';
import type { Row } from '../shared/query.js';
import { type CliIo, EXIT, UsageError } from './common.js';
import { FORMATS, type Format, writeRows } from './format.js';

/** The help of `scrapeline sql` (for `COMMAND_HELP.sql` in cli/main.ts). */
export const SQL_HELP = `Usage: scrapeline sql "<query>" --stack <name> [--workgroup <name>] [--database <name>] [--format table|json|ndjson|csv] [--timeout <s>] [--limit <n>]
       scrapeline sql --file <query.sql> --stack <name> [options]
       scrapeline sql --tables --stack <name> [--format table|json|ndjson|csv]

Runs one SQL statement in Athena over a deployed stack's tables and prints the result: per job, <job> (its items,
one row per item written) and <job>_changes (new, changed and removed items); "-" in a job name becomes "_".
The stack's outputs name the workgroup (AthenaWorkgroup: results encrypted, bytes scanned capped per query) and
the database (GlueDatabase). Filter on the dt partition (WHERE dt >= '2026-11-01') so that Athena reads only
those days: it bills by bytes scanned. Examples: docs/query.md.
  --stack <name>       the deployed stack (CloudFormation DescribeStacks; your AWS credentials and region)
  --workgroup <name>   run in this workgroup instead of the stack's
  --database <name>    resolve table names in this database instead of the stack's
  --file <path>        read the statement from a file
  --tables             list the tables and their columns instead (Glue; scans nothing)
  --format <fmt>       table (default), json, ndjson, csv
  --timeout <s>        stop the query and fail after this many seconds (default 300)
  --limit <n>          print at most n rows (stops paging through the results)
  --region <region>    AWS region (default: AWS_REGION, or your profile's)
  -h, --help           this help

Exit codes: 0 ok, 1 the query failed, was cancelled or timed out (Athena's reason is printed) or AWS refused a
call, 2 usage, or a stack that is missing or lacks the outputs.`;

/** Stack outputs the command reads (cdk/stack.ts). */
export const SQL_STACK_OUTPUTS = { workGroup: 'AthenaWorkgroup', database: 'GlueDatabase' } as const;

/** The SDK clients of the command. */
export interface SqlClients {
  readonly cloudFormation: CloudFormationClient;
  readonly athena: AthenaClient;
  readonly glue: GlueClient;
}

/** Creates the clients, in `region` when given (else the SDK's resolution: `AWS_REGION`, then the profile). */
export type SqlClientFactory = (options: { readonly region?: string }) => SqlClients;

/** What tests replace. */
export interface SqlDependencies {
  /** @default {@link createSqlClients} */
  readonly createClients?: SqlClientFactory;
  /** Waits between polls of the query. @default setTimeout */
  readonly sleep?: WaitOptions['sleep'];
  /** The clock of the timeout. @default Date.now */
  readonly now?: WaitOptions['now'];
}

/** The default {@link SqlClientFactory}. */
export function createSqlClients(options: { readonly region?: string }): SqlClients {
  const config = options.region === undefined ? {} : { region: options.region };
  return {
    cloudFormation: new CloudFormationClient(config),
    athena: new AthenaClient(config),
    glue: new GlueClient(config),
  };
}

/** A stack that does not exist, or lacks an output the command needs: exit code 2 with the message. */
export class StackLookupError extends Error {
  override readonly name = 'StackLookupError';
}

/**
 * Reads the outputs of a stack.
 *
 * @throws {StackLookupError} when the stack does not exist, naming the region looked in
 */
export async function readStackOutputs(client: CloudFormationClient, stackName: string): Promise<Record<string, string>> {
  let stacks: DescribeStacksCommandOutput;
  try {
    stacks = await client.send(new DescribeStacksCommand({ StackName: stackName }));
  } catch (error) {
    if (error instanceof Error && error.name === 'ValidationError' && /does not exist/i.test(error.message)) {
      const region = await client.config.region().catch(() => 'the default region');
      throw new StackLookupError(
        `stack "${stackName}" does not exist in ${region} (deploy it with npx cdk deploy, or pass --region or --stack)`,
      );
    }
    throw error;
  }
  const stack = stacks.Stacks?.[0];
  if (!stack) throw new StackLookupError(`stack "${stackName}" was not found`);
  const outputs: Record<string, string> = {};
  for (const output of stack.Outputs ?? []) {
    if (output.OutputKey && output.OutputValue !== undefined) outputs[output.OutputKey] = output.OutputValue;
  }
  return outputs;
}

/** The options `scrapeline sql` parses (each listed in {@link SQL_HELP}: test/cli.help.test.ts checks it). */
export const SQL_OPTIONS = {
  stack: { type: 'string' },
  workgroup: { type: 'string' },
  database: { type: 'string' },
  format: { type: 'string' },
  timeout: { type: 'string' },
  limit: { type: 'string' },
  region: { type: 'string' },
  file: { type: 'string' },
  tables: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

interface SqlCommand {
  readonly sql: string | undefined;
  readonly stack: string | undefined;
  readonly workGroup: string | undefined;
  readonly database: string | undefined;
  readonly format: Format;
  readonly timeoutMs: number;
  readonly limit: number | undefined;
  readonly region: string | undefined;
}

function parseOptions(args: string[]) {
  try {
    return parseArgs({ args, options: SQL_OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(`sql: ${describeError(error)}`);
  }
}

async function parseCommand(args: string[]): Promise<SqlCommand | 'help'> {
  const { values, positionals } = parseOptions(args);
  if (values.help) return 'help';
  const format = (values.format ?? 'table') as Format;
  if (!FORMATS.includes(format)) throw new UsageError(`--format must be one of ${FORMATS.join(', ')}, got "${values.format}"`);
  const timeout = Number(values.timeout ?? 300);
  if (!Number.isFinite(timeout) || timeout <= 0) {
    throw new UsageError(`--timeout must be a positive number of seconds, got "${values.timeout}"`);
  }
  const limit = values.limit === undefined ? undefined : Number(values.limit);
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) {
    throw new UsageError(`--limit must be a whole number, got "${values.limit}"`);
  }
  let sql: string | undefined;
  if (values.tables) {
    if (positionals.length > 0 || values.file !== undefined) throw new UsageError('sql: --tables takes no query');
  } else {
    if (positionals.length > 1) {
      throw new UsageError(`sql: give the query as one argument, in quotes (got ${positionals.length} arguments)`);
    }
    if ((positionals[0] === undefined) === (values.file === undefined)) {
      throw new UsageError('sql: give a query, in quotes, or --file <path> (scrapeline sql "SELECT ..." --stack <name>)');
    }
    if (values.file !== undefined) {
      try {
        sql = await readFile(values.file, 'utf8');
      } catch (error) {
        throw new UsageError(`sql: cannot read ${values.file}: ${describeError(error)}`);
      }
    } else {
      sql = positionals[0];
    }
    if (!sql?.trim()) throw new UsageError('sql: the query is empty');
  }
  const direct = values.database !== undefined && (values.tables || values.workgroup !== undefined);
  if (values.stack === undefined && !direct) {
    throw new UsageError(
      'sql: which stack? --stack <name> (its outputs name the workgroup and the database), or both --workgroup and --database',
    );
  }
  return {
    sql,
    stack: values.stack,
    workGroup: values.workgroup,
    database: values.database,
    format,
    timeoutMs: timeout * 1000,
    limit,
    region: values.region,
  };
}

/** The workgroup and database: from the flags, else from the stack's outputs. */
async function target(
  command: SqlCommand,
  clients: SqlClients,
): Promise<{ readonly workGroup: string; readonly database: string }> {
  const needsWorkGroup = command.sql !== undefined;
  if (command.database !== undefined && (command.workGroup !== undefined || !needsWorkGroup)) {
    return { workGroup: command.workGroup ?? '', database: command.database };
  }
  const stack = command.stack ?? '';
  const outputs = await readStackOutputs(clients.cloudFormation, stack);
  const output = (key: string, flag: string) => {
    const value = outputs[key];
    if (value === undefined) {
      throw new StackLookupError(
        `stack "${stack}" has no output ${key}: it was deployed before it had Athena tables (npx cdk deploy adds them), or pass ${flag}`,
      );
    }
    return value;
  };
  return {
    workGroup: command.workGroup ?? (needsWorkGroup ? output(SQL_STACK_OUTPUTS.workGroup, '--workgroup') : ''),
    database: command.database ?? output(SQL_STACK_OUTPUTS.database, '--database'),
  };
}

function megabytes(bytes: number | undefined): string {
  return bytes === undefined ? '? MB' : `${(bytes / 1e6).toFixed(bytes < 1e7 ? 2 : 0)} MB`;
}

/** Rows of the database's tables: name, location and columns (partition keys last), from the Glue Data Catalog. */
async function* tableRows(glue: GlueClient, database: string): AsyncIterable<Row> {
  let token: string | undefined;
  do {
    const page = await glue.send(
      new GetTablesCommand({ DatabaseName: database, ...(token === undefined ? {} : { NextToken: token }) }),
    );
    for (const table of page.TableList ?? []) {
      const columns = [...(table.StorageDescriptor?.Columns ?? []), ...(table.PartitionKeys ?? [])];
      yield {
        table: table.Name,
        location: table.StorageDescriptor?.Location,
        columns: columns.map((column) => `${column.Name} ${column.Type}`),
      };
    }
    token = page.NextToken;
  } while (token);
}

/**
 * `scrapeline sql`: runs one statement in the stack's Athena workgroup and prints the result, or lists the tables
 * (`--tables`). Register it in cli/main.ts as `sql: commandSql` (and `SQL_HELP` as `COMMAND_HELP.sql`).
 *
 * @returns the exit code: 0; 1 when the query failed, was cancelled or timed out, or AWS refused a call; 2 for a
 *   usage error or a stack that is missing or lacks the outputs. Nothing is thrown.
 */
export async function commandSql(args: string[], io: CliIo, dependencies: SqlDependencies = {}): Promise<number> {
  let clients: SqlClients | undefined;
  try {
    const command = await parseCommand(args);
    if (command === 'help') {
      io.stdout.write(`${SQL_HELP}\n`);
      return EXIT.ok;
    }
    clients = (dependencies.createClients ?? createSqlClients)(command.region === undefined ? {} : { region: command.region });
    const { workGroup, database } = await target(command, clients);

    if (command.sql === undefined) {
      const count = await writeRows(tableRows(clients.glue, database), command.format, io.stdout, [
        'table',
        'location',
        'columns',
      ]);
      io.stderr.write(`${count} table(s) in database ${database}\n`);
      return EXIT.ok;
    }

    const id = await startQuery(clients.athena, { sql: command.sql, workGroup, database });
    if (io.interactive) io.stderr.write(`query ${id} running in workgroup ${workGroup}…\n`);
    const done = await waitForQuery(clients.athena, id, {
      timeoutMs: command.timeoutMs,
      ...(dependencies.sleep ? { sleep: dependencies.sleep } : {}),
      ...(dependencies.now ? { now: dependencies.now } : {}),
    });
    const results = await queryResults(clients.athena, done, command.limit === undefined ? {} : { limit: command.limit });
    const count = await writeRows(results.rows, command.format, io.stdout, results.columns);
    const seconds = done.engineExecutionMs === undefined ? '?' : (done.engineExecutionMs / 1000).toFixed(1);
    io.stderr.write(`${count} row(s); ${megabytes(done.dataScannedBytes)} scanned in ${seconds} s (query ${id})\n`);
    return EXIT.ok;
  } catch (error) {
    if (error instanceof UsageError || error instanceof StackLookupError) {
      io.stderr.write(`${error.message}\n`);
      return EXIT.usage;
    }
    if (error instanceof AthenaQueryFailedError || error instanceof AthenaQueryTimeoutError) {
      io.stderr.write(`${error.message}\n`);
      return EXIT.error;
    }
    io.stderr.write(`error: ${describeError(error)}\n`);
    return EXIT.error;
  } finally {
    if (clients) {
      clients.cloudFormation.destroy();
      clients.athena.destroy();
      clients.glue.destroy();
    }
  }
}
