import { readFile } from 'node:fs/promises';
import { AthenaClient } from '@aws-sdk/client-athena';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { GetTablesCommand, GlueClient } from '@aws-sdk/client-glue';
import { queryResults, startQuery, type WaitOptions, waitForQuery } from '../shared/athena/query.js';
import { describeError } from '../shared/errors.js';
import type { Row } from '../shared/query.js';
import { defaultCloudServices } from './cloud.js';
import { type CliCommand, defineCommand, type ParsedArgs, runCommand } from './command.js';
import { SQL } from './commands.js';
import { type CliIo, EXIT, StackLookupError, UsageError } from './common.js';
import { FORMATS, type Format, writeRows } from './format.js';
import { commandHelp } from './options.js';
import { readStackOutputs } from './stack-outputs.js';

/** The help of `scrapeline sql`, written from its option table (cli/commands.ts). */
export const SQL_HELP = commandHelp(SQL);

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

async function parseCommand({ values, positionals }: ParsedArgs<typeof SQL.options>): Promise<SqlCommand> {
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
 * (`--tables`). Exit codes: 0; 1 when the query failed, was cancelled or timed out, or AWS refused a call; 2 for a
 * usage error or a stack that is missing or lacks the outputs.
 */
export function sqlCommand(dependencies: SqlDependencies = {}): CliCommand {
  return defineCommand('sql', SQL, async (parsed, { io }) => {
    const command = await parseCommand(parsed);
    const clients = (dependencies.createClients ?? createSqlClients)(
      command.region === undefined ? {} : { region: command.region },
    );
    try {
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
    } finally {
      clients.cloudFormation.destroy();
      clients.athena.destroy();
      clients.glue.destroy();
    }
  });
}

/**
 * Runs `scrapeline sql` with these arguments to its exit code (see {@link sqlCommand}); nothing is thrown.
 *
 * @param dependencies what tests replace: the clients, the wait between polls and the clock of the timeout
 */
export function commandSql(args: string[], io: CliIo, dependencies: SqlDependencies = {}): Promise<number> {
  return runCommand(sqlCommand(dependencies), args, { io, cloud: async () => defaultCloudServices() });
}
