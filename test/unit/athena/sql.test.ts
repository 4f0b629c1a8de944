import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  AthenaClient,
  type ColumnInfo,
  GetQueryExecutionCommand,
  type GetQueryExecutionCommandOutput,
  GetQueryResultsCommand,
  type GetQueryResultsCommandOutput,
  type QueryExecutionState,
  StartQueryExecutionCommand,
  StopQueryExecutionCommand,
} from '@aws-sdk/client-athena';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { GetTablesCommand, GlueClient } from '@aws-sdk/client-glue';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { EXIT } from '../../../cli/common.js';
import { commandSql, SQL_HELP, type SqlDependencies } from '../../../cli/sql.js';
import { makeTempDir } from '../../fixtures/temp-dir.js';
import { capture } from '../../support/cli-io.js';
import { describedStack } from '../../support/stack.js';

const cloudFormation = mockClient(CloudFormationClient);
const athena = mockClient(AthenaClient);
const glue = mockClient(GlueClient);

const QUERY_ID = '6f1c2b1e-0000-4000-8000-000000000001';
const STACK_OUTPUTS = { BucketName: 'scrapeline-storagebucket-abc', AthenaWorkgroup: 'Scrapeline', GlueDatabase: 'scrapeline' };

/** Clients in a fixed region (their `send` is mocked), a recorded sleep and a clock it advances. */
function dependencies(): SqlDependencies & { readonly waits: number[] } {
  const waits: number[] = [];
  let clock = 0;
  const config = { region: 'eu-west-1', credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' } };
  return {
    waits,
    createClients: () => ({
      cloudFormation: new CloudFormationClient(config),
      athena: new AthenaClient(config),
      glue: new GlueClient(config),
    }),
    sleep: async (ms) => {
      waits.push(ms);
      clock += ms;
    },
    now: () => clock,
  };
}

function execution(
  state: QueryExecutionState,
  extra: { reason?: string; scanned?: number } = {},
): Partial<GetQueryExecutionCommandOutput> {
  return {
    QueryExecution: {
      QueryExecutionId: QUERY_ID,
      StatementType: 'DML',
      Status: { State: state, ...(extra.reason ? { StateChangeReason: extra.reason } : {}) },
      Statistics: { DataScannedInBytes: extra.scanned ?? 1_234_567, EngineExecutionTimeInMillis: 2_345 },
    },
  };
}

const COLUMNS: ColumnInfo[] = [
  { Name: 'title', Type: 'varchar' },
  { Name: 'price', Type: 'double' },
  { Name: 'stock', Type: 'bigint' },
  { Name: 'onsale', Type: 'boolean' },
];

/** One page of results; `header` puts the column names first, as Athena does on the first page of a SELECT. */
function page(
  rows: (string | undefined)[][],
  options: { header?: boolean; next?: string } = {},
): Partial<GetQueryResultsCommandOutput> {
  const all = options.header ? [COLUMNS.map((column) => column.Name), ...rows] : rows;
  return {
    ResultSet: {
      ResultSetMetadata: { ColumnInfo: COLUMNS },
      Rows: all.map((row) => ({ Data: row.map((value) => (value === undefined ? {} : { VarCharValue: value })) })),
    },
    ...(options.next ? { NextToken: options.next } : {}),
  };
}

/** Answers GetQueryResults by NextToken (`first` for the first page). */
function pages(byToken: Record<string, Partial<GetQueryResultsCommandOutput>>): void {
  athena.on(GetQueryResultsCommand).callsFake((input: { NextToken?: string }) => {
    const answer = byToken[input.NextToken ?? 'first'];
    if (!answer) throw new Error(`unexpected NextToken ${input.NextToken}`);
    return answer;
  });
}

beforeEach(() => {
  cloudFormation.reset();
  athena.reset();
  glue.reset();
  cloudFormation.on(DescribeStacksCommand, { StackName: 'Scrapeline' }).resolves(describedStack('Scrapeline', STACK_OUTPUTS));
  athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: QUERY_ID });
});
afterAll(() => {
  cloudFormation.restore();
  athena.restore();
  glue.restore();
});

describe('Function: commandSql', () => {
  describe('Stack outputs', () => {
    it('runs the query in the workgroup and database the stack outputs name', async () => {
      // Prepare
      athena.on(GetQueryExecutionCommand).resolves(execution('SUCCEEDED'));
      pages({ first: page([['Dune', '9.5', '3', 'true']], { header: true }) });
      const out = capture();

      // Act
      const code = await commandSql(
        ['SELECT title, price, stock, onsale FROM books', '--stack', 'Scrapeline', '--format', 'ndjson'],
        out.io,
        dependencies(),
      );

      // Assess
      expect(code).toBe(EXIT.ok);
      expect(cloudFormation.commandCalls(DescribeStacksCommand).map((call) => call.args[0].input)).toEqual([
        { StackName: 'Scrapeline' },
      ]);
      expect(athena.commandCalls(StartQueryExecutionCommand).map((call) => call.args[0].input)).toEqual([
        {
          QueryString: 'SELECT title, price, stock, onsale FROM books',
          WorkGroup: 'Scrapeline',
          QueryExecutionContext: { Catalog: 'AwsDataCatalog', Database: 'scrapeline' },
        },
      ]);
      expect(out.stdout()).toBe('{"title":"Dune","price":9.5,"stock":3,"onsale":true}\n');
      expect(out.stderr()).toBe(`1 row(s); 1.23 MB scanned in 2.3 s (query ${QUERY_ID})\n`);
    });

    it('takes --workgroup and --database over the outputs, and needs no stack with both', async () => {
      // Prepare
      athena.on(GetQueryExecutionCommand).resolves(execution('SUCCEEDED'));
      pages({ first: page([], { header: true }) });
      const out = capture();

      // Act
      const code = await commandSql(
        ['SELECT 1', '--workgroup', 'analysts', '--database', 'staging', '--format', 'json'],
        out.io,
        dependencies(),
      );

      // Assess
      expect(code).toBe(EXIT.ok);
      expect(cloudFormation.commandCalls(DescribeStacksCommand)).toHaveLength(0);
      expect(athena.commandCalls(StartQueryExecutionCommand)[0]?.args[0].input).toMatchObject({
        WorkGroup: 'analysts',
        QueryExecutionContext: { Database: 'staging' },
      });
      expect(out.stdout()).toBe('[]\n');
    });

    it('says so when the stack does not exist, naming the region, and exits 2', async () => {
      // Prepare
      cloudFormation
        .on(DescribeStacksCommand, { StackName: 'Nope' })
        .rejects(Object.assign(new Error('Stack with id Nope does not exist'), { name: 'ValidationError' }));
      const out = capture();

      // Act
      const code = await commandSql(['SELECT 1', '--stack', 'Nope'], out.io, dependencies());

      // Assess
      expect(code).toBe(EXIT.usage);
      expect(out.stderr()).toBe(
        'stack "Nope" does not exist in eu-west-1 (deploy it with npx cdk deploy, or pass --region or --stack)\n',
      );
      expect(athena.commandCalls(StartQueryExecutionCommand)).toHaveLength(0);
    });

    it('says which output a stack deployed before the Athena tables lacks, and exits 2', async () => {
      // Prepare
      cloudFormation
        .on(DescribeStacksCommand, { StackName: 'Old' })
        .resolves(describedStack('Old', { BucketName: STACK_OUTPUTS.BucketName }));
      const out = capture();

      // Act
      const code = await commandSql(['SELECT 1', '--stack', 'Old'], out.io, dependencies());

      // Assess
      expect(code).toBe(EXIT.usage);
      expect(out.stderr()).toBe(
        'stack "Old" has no output AthenaWorkgroup: it was deployed before it had Athena tables (npx cdk deploy adds them), or pass --workgroup\n',
      );
      expect(athena.commandCalls(StartQueryExecutionCommand)).toHaveLength(0);
    });

    it('reports any other CloudFormation error as an error (exit 1)', async () => {
      // Prepare
      cloudFormation
        .on(DescribeStacksCommand, { StackName: 'Locked' })
        .rejects(
          Object.assign(new Error('User is not authorized to perform: cloudformation:DescribeStacks'), { name: 'AccessDenied' }),
        );
      const out = capture();

      // Act
      const code = await commandSql(['SELECT 1', '--stack', 'Locked'], out.io, dependencies());

      // Assess
      expect(code).toBe(EXIT.error);
      expect(out.stderr()).toBe('error: User is not authorized to perform: cloudformation:DescribeStacks\n');
    });
  });

  describe('Polling', () => {
    it('polls with a growing wait until the query succeeds', async () => {
      // Prepare
      athena
        .on(GetQueryExecutionCommand)
        .resolvesOnce(execution('QUEUED'))
        .resolvesOnce(execution('RUNNING'))
        .resolvesOnce(execution('RUNNING'))
        .resolvesOnce(execution('RUNNING'))
        .resolves(execution('SUCCEEDED'));
      pages({ first: page([['Dune', '9.5', '3', 'true']], { header: true }) });
      const deps = dependencies();

      // Act
      const code = await commandSql(['SELECT * FROM books', '--stack', 'Scrapeline'], capture().io, deps);

      // Assess
      expect(code).toBe(EXIT.ok);
      expect(athena.commandCalls(GetQueryExecutionCommand)).toHaveLength(5);
      expect(athena.commandCalls(GetQueryExecutionCommand)[0]?.args[0].input).toEqual({ QueryExecutionId: QUERY_ID });
      expect(deps.waits).toEqual([200, 300, 450, 675]);
    });

    it("prints Athena's reason and exits 1 when the query fails, and reads no results", async () => {
      // Prepare
      athena
        .on(GetQueryExecutionCommand)
        .resolvesOnce(execution('RUNNING'))
        .resolves(execution('FAILED', { reason: "COLUMN_NOT_FOUND: line 1:8: Column 'prize' cannot be resolved" }));
      const out = capture();

      // Act
      const code = await commandSql(['SELECT prize FROM books', '--stack', 'Scrapeline'], out.io, dependencies());

      // Assess
      expect(code).toBe(EXIT.error);
      expect(out.stderr()).toBe(`query ${QUERY_ID} failed: COLUMN_NOT_FOUND: line 1:8: Column 'prize' cannot be resolved\n`);
      expect(out.stdout()).toBe('');
      expect(athena.commandCalls(GetQueryResultsCommand)).toHaveLength(0);
    });

    it('prints the reason and exits 1 when Athena cancels the query (the bytes scanned cutoff)', async () => {
      // Prepare
      athena.on(GetQueryExecutionCommand).resolves(
        execution('CANCELLED', {
          reason: 'Query cancelled: exceeded the data usage control limit of 10737418240 bytes scanned per query',
        }),
      );
      const out = capture();

      // Act
      const code = await commandSql(['SELECT * FROM books', '--stack', 'Scrapeline'], out.io, dependencies());

      // Assess
      expect(code).toBe(EXIT.error);
      expect(out.stderr()).toContain(`query ${QUERY_ID} was cancelled: Query cancelled: exceeded the data usage control`);
    });

    it('stops a query still running at --timeout and exits 1', async () => {
      // Prepare
      athena.on(GetQueryExecutionCommand).resolves(execution('RUNNING'));
      athena.on(StopQueryExecutionCommand).resolves({});
      const out = capture();
      const deps = dependencies();

      // Act
      const code = await commandSql(['SELECT * FROM books', '--stack', 'Scrapeline', '--timeout', '1'], out.io, deps);

      // Assess
      expect(code).toBe(EXIT.error);
      expect(deps.waits).toEqual([200, 300, 450, 50]);
      expect(athena.commandCalls(StopQueryExecutionCommand).map((call) => call.args[0].input)).toEqual([
        { QueryExecutionId: QUERY_ID },
      ]);
      expect(out.stderr()).toBe(`query ${QUERY_ID} did not finish within 1 s: stopped\n`);
    });
  });

  describe('Results', () => {
    it('pages through the results, skipping the header row of the first page only', async () => {
      // Prepare
      athena.on(GetQueryExecutionCommand).resolves(execution('SUCCEEDED'));
      pages({
        first: page([['Dune', '9.5', '3', 'true']], { header: true, next: 'page-2' }),
        'page-2': page([['title', '1', '1', 'false']], { next: 'page-3' }),
        'page-3': page([['Emma, a novel', undefined, '12345678901234567890', undefined]]),
      });
      const out = capture();

      // Act
      const code = await commandSql(['SELECT * FROM books', '--stack', 'Scrapeline', '--format', 'csv'], out.io, dependencies());

      // Assess
      expect(code).toBe(EXIT.ok);
      expect(athena.commandCalls(GetQueryResultsCommand).map((call) => call.args[0].input)).toEqual([
        { QueryExecutionId: QUERY_ID, MaxResults: 1000 },
        { QueryExecutionId: QUERY_ID, MaxResults: 1000, NextToken: 'page-2' },
        { QueryExecutionId: QUERY_ID, MaxResults: 1000, NextToken: 'page-3' },
      ]);
      expect(out.stdout()).toBe(
        ['title,price,stock,onsale', 'Dune,9.5,3,true', 'title,1,1,false', '"Emma, a novel",,12345678901234567890,', ''].join(
          '\n',
        ),
      );
      expect(out.stderr()).toMatch(/^3 row\(s\); /);
    });

    it('stops paging at --limit', async () => {
      // Prepare
      athena.on(GetQueryExecutionCommand).resolves(execution('SUCCEEDED'));
      pages({
        first: page(
          [
            ['a', '1', '1', 'true'],
            ['b', '2', '2', 'true'],
          ],
          { header: true, next: 'page-2' },
        ),
      });
      const out = capture();

      // Act
      const code = await commandSql(
        ['SELECT * FROM books', '--stack', 'Scrapeline', '--format', 'ndjson', '--limit', '2'],
        out.io,
        dependencies(),
      );

      // Assess
      expect(code).toBe(EXIT.ok);
      expect(out.stdout().trim().split('\n')).toHaveLength(2);
      expect(athena.commandCalls(GetQueryResultsCommand)).toHaveLength(1);
    });

    it('prints a table with the header even when there are no rows', async () => {
      // Prepare
      athena.on(GetQueryExecutionCommand).resolves(execution('SUCCEEDED'));
      pages({ first: page([], { header: true }) });
      const out = capture();

      // Act
      const code = await commandSql(['SELECT * FROM books WHERE false', '--stack', 'Scrapeline'], out.io, dependencies());

      // Assess
      expect(code).toBe(EXIT.ok);
      expect(out.stdout()).toBe('title  price  stock  onsale\n-----  -----  -----  ------\n');
    });

    it('keeps the first row of a DDL result, which has no header', async () => {
      // Prepare
      athena.on(GetQueryExecutionCommand).resolves({
        QueryExecution: { QueryExecutionId: QUERY_ID, StatementType: 'DDL', Status: { State: 'SUCCEEDED' } },
      });
      athena.on(GetQueryResultsCommand).resolves({
        ResultSet: {
          ResultSetMetadata: { ColumnInfo: [{ Name: 'tab_name', Type: 'string' }] },
          Rows: [{ Data: [{ VarCharValue: 'books' }] }, { Data: [{ VarCharValue: 'books_changes' }] }],
        },
      });
      const out = capture();

      // Act
      const code = await commandSql(['SHOW TABLES', '--stack', 'Scrapeline', '--format', 'csv'], out.io, dependencies());

      // Assess
      expect(code).toBe(EXIT.ok);
      expect(out.stdout()).toBe('tab_name\nbooks\nbooks_changes\n');
    });

    it('reads the statement from --file', async () => {
      // Prepare
      const dir = await makeTempDir('sql');
      const file = join(dir.path, 'latest.sql');
      await writeFile(file, "SELECT *\nFROM books\nWHERE dt >= '2026-11-01'\n");
      athena.on(GetQueryExecutionCommand).resolves(execution('SUCCEEDED'));
      pages({ first: page([], { header: true }) });

      // Act
      const code = await commandSql(['--file', file, '--stack', 'Scrapeline'], capture().io, dependencies());

      // Assess
      expect(code).toBe(EXIT.ok);
      expect(athena.commandCalls(StartQueryExecutionCommand)[0]?.args[0].input.QueryString).toBe(
        "SELECT *\nFROM books\nWHERE dt >= '2026-11-01'\n",
      );
      await dir.remove();
    });
  });

  describe('Tables', () => {
    it('lists the tables of the stack database and their columns from Glue, without a query', async () => {
      // Prepare
      glue
        .on(GetTablesCommand)
        .resolvesOnce({
          TableList: [
            {
              Name: 'books',
              StorageDescriptor: {
                Location: 's3://bucket/datasets/books/',
                Columns: [
                  { Name: 'title', Type: 'string' },
                  { Name: '_key', Type: 'string' },
                ],
              },
              PartitionKeys: [{ Name: 'dt', Type: 'string' }],
            },
          ],
          NextToken: 'more',
        })
        .resolvesOnce({ TableList: [{ Name: 'books_changes', StorageDescriptor: { Location: 's3://bucket/changes/books/' } }] });
      const out = capture();

      // Act
      const code = await commandSql(['--tables', '--stack', 'Scrapeline', '--format', 'ndjson'], out.io, dependencies());

      // Assess
      expect(code).toBe(EXIT.ok);
      expect(glue.commandCalls(GetTablesCommand).map((call) => call.args[0].input)).toEqual([
        { DatabaseName: 'scrapeline' },
        { DatabaseName: 'scrapeline', NextToken: 'more' },
      ]);
      expect(out.stdout()).toBe(
        [
          '{"table":"books","location":"s3://bucket/datasets/books/","columns":["title string","_key string","dt string"]}',
          '{"table":"books_changes","location":"s3://bucket/changes/books/","columns":[]}',
          '',
        ].join('\n'),
      );
      expect(out.stderr()).toBe('2 table(s) in database scrapeline\n');
      expect(athena.commandCalls(StartQueryExecutionCommand)).toHaveLength(0);
    });
  });

  describe('Usage', () => {
    it('prints its help', async () => {
      // Prepare
      const out = capture();

      // Act
      const code = await commandSql(['--help'], out.io, dependencies());

      // Assess
      expect(code).toBe(EXIT.ok);
      expect(out.stdout()).toBe(`${SQL_HELP}\n`);
    });

    it.each([
      [[], 'sql: give a query, in quotes, or --file <path> (scrapeline sql "SELECT ..." --stack <name>)'],
      [['SELECT', '1', '--stack', 'S'], 'sql: give the query as one argument, in quotes (got 2 arguments)'],
      [['  ', '--stack', 'S'], 'sql: the query is empty'],
      [
        ['SELECT 1'],
        'sql: which stack? --stack <name> (its outputs name the workgroup and the database), or both --workgroup and --database',
      ],
      [['SELECT 1', '--stack', 'S', '--format', 'xml'], '--format must be one of table, json, ndjson, csv, got "xml"'],
      [['SELECT 1', '--stack', 'S', '--timeout', '0'], '--timeout must be a positive number of seconds, got "0"'],
      [['SELECT 1', '--stack', 'S', '--limit', '1.5'], '--limit must be a whole number, got "1.5"'],
      [['--tables', 'SELECT 1', '--stack', 'S'], 'sql: --tables takes no query'],
      [['SELECT 1', '--stack', 'S', '--bogus'], "sql: Unknown option '--bogus'"],
    ])('exits 2 for %j, calling no AWS API', async (args, message) => {
      // Prepare
      const out = capture();

      // Act
      const code = await commandSql(args, out.io, dependencies());

      // Assess
      expect(code).toBe(EXIT.usage);
      expect(out.stderr()).toContain(message);
      expect(cloudFormation.calls()).toHaveLength(0);
      expect(athena.calls()).toHaveLength(0);
    });
  });
});
