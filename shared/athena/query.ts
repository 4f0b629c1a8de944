import {
  type AthenaClient,
  type ColumnInfo,
  type Datum,
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  type GetQueryResultsCommandOutput,
  StartQueryExecutionCommand,
  StopQueryExecutionCommand,
} from '@aws-sdk/client-athena';
import type { Row } from '../query.js';
import { AthenaQueryFailedError, AthenaQueryTimeoutError, AthenaResponseError } from './errors.js';

/**
 * Running one SQL statement in Athena: start it in a workgroup, wait for it with backoff, then page through its
 * results. The workgroup decides where results go, how they are encrypted and how much a query may scan.
 */

/** Polling intervals while a query is queued or running. */
export interface Backoff {
  /** First wait. @default 200 */
  readonly initialMs?: number;
  /** Each wait is the previous one times this. @default 1.5 */
  readonly factor?: number;
  /** Longest wait. @default 2000 */
  readonly maxMs?: number;
}

/** Options of {@link waitForQuery}. */
export interface WaitOptions {
  /** Stop the query and fail once it has been queued or running this long. @default 300000 */
  readonly timeoutMs?: number;
  /** @default { initialMs: 200, factor: 1.5, maxMs: 2000 } */
  readonly backoff?: Backoff;
  /** Waits (tests pass one that returns at once). @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
  /** The clock. @default Date.now */
  readonly now?: () => number;
}

/** A query that succeeded, with what Athena says it cost. */
export interface SucceededQuery {
  readonly queryExecutionId: string;
  /** `DML` (SELECT, ...), `DDL` (SHOW, DESCRIBE, CREATE, ...) or `UTILITY`. */
  readonly statementType: string | undefined;
  readonly dataScannedBytes: number | undefined;
  readonly engineExecutionMs: number | undefined;
  /** Where the workgroup wrote the result (a CSV object). */
  readonly outputLocation: string | undefined;
}

/** Query results: the column names, in order, then the rows (values typed by their Athena column type). */
export interface QueryResults {
  readonly columns: readonly string[];
  readonly rows: AsyncIterable<Row>;
}

const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED']);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Starts `sql` in `workGroup`, with unqualified table names resolved in `database` (of the Glue Data Catalog).
 *
 * @returns the query execution id
 */
export async function startQuery(
  client: AthenaClient,
  query: { readonly sql: string; readonly workGroup: string; readonly database?: string },
): Promise<string> {
  const started = await client.send(
    new StartQueryExecutionCommand({
      QueryString: query.sql,
      WorkGroup: query.workGroup,
      ...(query.database === undefined ? {} : { QueryExecutionContext: { Catalog: 'AwsDataCatalog', Database: query.database } }),
    }),
  );
  if (!started.QueryExecutionId) throw new AthenaResponseError('StartQueryExecution returned no QueryExecutionId');
  return started.QueryExecutionId;
}

/**
 * Polls a query with backoff until it ends.
 *
 * @throws {AthenaQueryFailedError} when it ends FAILED or CANCELLED, with Athena's reason
 * @throws {AthenaQueryTimeoutError} when it is still queued or running after `timeoutMs` (it is stopped first)
 */
export async function waitForQuery(
  client: AthenaClient,
  queryExecutionId: string,
  options: WaitOptions = {},
): Promise<SucceededQuery> {
  const timeoutMs = options.timeoutMs ?? 300_000;
  const wait = options.sleep ?? sleep;
  const now = options.now ?? Date.now;
  const factor = options.backoff?.factor ?? 1.5;
  const maxMs = options.backoff?.maxMs ?? 2000;
  let delay = options.backoff?.initialMs ?? 200;
  const deadline = now() + timeoutMs;
  for (;;) {
    const { QueryExecution: execution } = await client.send(new GetQueryExecutionCommand({ QueryExecutionId: queryExecutionId }));
    const state = execution?.Status?.State;
    if (state === undefined) throw new AthenaResponseError(`GetQueryExecution returned no state for query ${queryExecutionId}`);
    if (TERMINAL.has(state)) {
      if (state !== 'SUCCEEDED') {
        throw new AthenaQueryFailedError(
          queryExecutionId,
          state as 'FAILED' | 'CANCELLED',
          execution?.Status?.StateChangeReason ?? execution?.Status?.AthenaError?.ErrorMessage,
          execution?.Status?.AthenaError?.ErrorType,
        );
      }
      return {
        queryExecutionId,
        statementType: execution?.StatementType,
        dataScannedBytes: execution?.Statistics?.DataScannedInBytes,
        engineExecutionMs: execution?.Statistics?.EngineExecutionTimeInMillis,
        outputLocation: execution?.ResultConfiguration?.OutputLocation,
      };
    }
    const remaining = deadline - now();
    if (remaining <= 0) {
      let stopped = false;
      let cause: unknown;
      try {
        await client.send(new StopQueryExecutionCommand({ QueryExecutionId: queryExecutionId }));
        stopped = true;
      } catch (error) {
        cause = error;
      }
      throw new AthenaQueryTimeoutError(queryExecutionId, timeoutMs, stopped, cause);
    }
    await wait(Math.min(delay, remaining));
    delay = Math.min(delay * factor, maxMs);
  }
}

const INTEGER_TYPES = new Set(['tinyint', 'smallint', 'integer', 'int', 'bigint']);
const FLOAT_TYPES = new Set(['double', 'float', 'real']);

/**
 * A result value typed by its column: integers (as long as they are exact in JavaScript), floating-point numbers
 * and booleans become JSON values; everything else stays the text Athena gives (decimals keep their precision;
 * dates, timestamps, arrays, maps and rows are Athena's text). A missing value is `null`.
 */
export function resultValue(datum: Datum | undefined, type: string | undefined): unknown {
  const text = datum?.VarCharValue;
  if (text === undefined) return null;
  const base = (type ?? '').toLowerCase();
  if (INTEGER_TYPES.has(base)) {
    const value = Number(text);
    return Number.isSafeInteger(value) ? value : text;
  }
  if (FLOAT_TYPES.has(base)) {
    const value = Number(text);
    return Number.isNaN(value) && text !== 'NaN' ? text : value;
  }
  if (base === 'boolean') return text === 'true' ? true : text === 'false' ? false : text;
  return text;
}

/** Column names made unique (`SELECT a, a` gives `a` and `a_2`), so that no value hides another. */
function uniqueNames(columns: readonly ColumnInfo[]): string[] {
  const seen = new Set<string>();
  return columns.map((column, index) => {
    const wanted = column.Label || column.Name || `_col${index}`;
    let name = wanted;
    for (let suffix = 2; seen.has(name); suffix++) name = `${wanted}_${suffix}`;
    seen.add(name);
    return name;
  });
}

/** Whether the first row is the header: always for DML, and for other statements when it repeats the column names. */
function isHeader(data: readonly Datum[], info: readonly ColumnInfo[], statementType: string | undefined): boolean {
  if (statementType === 'DML') return true;
  return data.length === info.length && info.every((column, index) => data[index]?.VarCharValue === column.Name);
}

/**
 * Pages through the results of a query that succeeded (`GetQueryResults`, `pageSize` rows a page). The first row
 * of a DML result (SELECT) is the header, and is skipped; DDL results (SHOW, DESCRIBE) have none (a first row of
another statement is skipped when it repeats the column names). Stops asking
 * for pages once `limit` rows are read. The first page is read before this returns, so the columns are known.
 */
export async function queryResults(
  client: AthenaClient,
  query: Pick<SucceededQuery, 'queryExecutionId' | 'statementType'>,
  options: { readonly pageSize?: number; readonly limit?: number } = {},
): Promise<QueryResults> {
  const page = (token: string | undefined) =>
    client.send(
      new GetQueryResultsCommand({
        QueryExecutionId: query.queryExecutionId,
        MaxResults: options.pageSize ?? 1000,
        ...(token === undefined ? {} : { NextToken: token }),
      }),
    );
  const first = await page(undefined);
  const info = first.ResultSet?.ResultSetMetadata?.ColumnInfo ?? [];
  const columns = uniqueNames(info);
  const types = info.map((column) => column.Type);
  const limit = options.limit ?? Number.POSITIVE_INFINITY;

  async function* rows(): AsyncIterable<Row> {
    let current: GetQueryResultsCommandOutput = first;
    let count = 0;
    let firstRow = true;
    for (;;) {
      for (const row of current.ResultSet?.Rows ?? []) {
        if (firstRow) {
          firstRow = false;
          if (isHeader(row.Data ?? [], info, query.statementType)) continue;
        }
        if (count >= limit) return;
        const data = row.Data ?? [];
        yield Object.fromEntries(columns.map((name, index) => [name, resultValue(data[index], types[index])]));
        count++;
      }
      if (!current.NextToken || count >= limit) return;
      current = await page(current.NextToken);
    }
  }
  return { columns, rows: rows() };
}
