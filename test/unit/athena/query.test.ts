import {
  AthenaClient,
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  StartQueryExecutionCommand,
  StopQueryExecutionCommand,
} from '@aws-sdk/client-athena';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { AthenaQueryTimeoutError, AthenaResponseError } from '../../../shared/athena/errors.js';
import { queryResults, resultValue, startQuery, waitForQuery } from '../../../shared/athena/query.js';
import { collect } from '../../fixtures/iterables.js';

const athena = mockClient(AthenaClient);
const client = new AthenaClient({ region: 'eu-west-1', credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' } });

beforeEach(() => athena.reset());
afterAll(() => athena.restore());

describe('Function: resultValue', () => {
  it('types integers, floating-point numbers and booleans, keeps the rest as Athena text, and a missing value as null', () => {
    // Assess
    expect(resultValue({ VarCharValue: '42' }, 'bigint')).toBe(42);
    expect(resultValue({ VarCharValue: '-7' }, 'integer')).toBe(-7);
    expect(resultValue({ VarCharValue: '9223372036854775807' }, 'bigint')).toBe('9223372036854775807');
    expect(resultValue({ VarCharValue: '9.5' }, 'double')).toBe(9.5);
    expect(resultValue({ VarCharValue: 'NaN' }, 'double')).toBeNaN();
    expect(resultValue({ VarCharValue: 'true' }, 'boolean')).toBe(true);
    expect(resultValue({ VarCharValue: 'false' }, 'boolean')).toBe(false);
    expect(resultValue({ VarCharValue: '12.30' }, 'decimal')).toBe('12.30');
    expect(resultValue({ VarCharValue: '2026-11-26' }, 'date')).toBe('2026-11-26');
    expect(resultValue({ VarCharValue: '[a, b]' }, 'array')).toBe('[a, b]');
    expect(resultValue({ VarCharValue: '' }, 'varchar')).toBe('');
    expect(resultValue({}, 'varchar')).toBeNull();
    expect(resultValue(undefined, 'double')).toBeNull();
  });
});

describe('Function: startQuery', () => {
  it('leaves the database out when none is given', async () => {
    // Prepare
    athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'q' });

    // Act
    const id = await startQuery(client, { sql: 'SELECT 1', workGroup: 'wg' });

    // Assess
    expect(id).toBe('q');
    expect(athena.commandCalls(StartQueryExecutionCommand)[0]?.args[0].input).toEqual({
      QueryString: 'SELECT 1',
      WorkGroup: 'wg',
    });
  });

  it('fails clearly when Athena returns no query id', async () => {
    // Prepare
    athena.on(StartQueryExecutionCommand).resolves({});

    // Act & Assess
    await expect(startQuery(client, { sql: 'SELECT 1', workGroup: 'wg' })).rejects.toBeInstanceOf(AthenaResponseError);
  });
});

describe('Function: waitForQuery', () => {
  it('grows the wait up to maxMs, never past the deadline', async () => {
    // Prepare
    athena.on(GetQueryExecutionCommand).resolves({ QueryExecution: { Status: { State: 'RUNNING' } } });
    athena.on(StopQueryExecutionCommand).rejects(new Error('throttled'));
    const waits: number[] = [];
    let clock = 0;

    // Act
    const waiting = waitForQuery(client, 'q', {
      timeoutMs: 5_000,
      backoff: { initialMs: 500, factor: 2, maxMs: 1_500 },
      sleep: async (ms) => {
        waits.push(ms);
        clock += ms;
      },
      now: () => clock,
    });

    // Assess
    await expect(waiting).rejects.toThrow('query q did not finish within 5 s: it could not be stopped and may still be running');
    await expect(waiting).rejects.toBeInstanceOf(AthenaQueryTimeoutError);
    expect(waits).toEqual([500, 1_000, 1_500, 1_500, 500]);
  });
});

describe('Function: queryResults', () => {
  it('names repeated columns apart, so that no value hides another', async () => {
    // Prepare
    athena.on(GetQueryResultsCommand).resolves({
      ResultSet: {
        ResultSetMetadata: {
          ColumnInfo: [
            { Name: 'price', Type: 'double' },
            { Name: 'price', Type: 'double' },
            { Name: '_col2', Type: 'bigint' },
          ],
        },
        Rows: [
          { Data: [{ VarCharValue: 'price' }, { VarCharValue: 'price' }, { VarCharValue: '_col2' }] },
          { Data: [{ VarCharValue: '1.5' }, { VarCharValue: '2.5' }, { VarCharValue: '3' }] },
        ],
      },
    });

    // Act
    const results = await queryResults(client, { queryExecutionId: 'q', statementType: 'DML' });

    // Assess
    expect(results.columns).toEqual(['price', 'price_2', '_col2']);
    expect(await collect(results.rows)).toEqual([{ price: 1.5, price_2: 2.5, _col2: 3 }]);
  });

  it('skips a first row that repeats the column names when the statement type is not DML', async () => {
    // Prepare
    athena.on(GetQueryResultsCommand).resolves({
      ResultSet: {
        ResultSetMetadata: { ColumnInfo: [{ Name: 'plan', Type: 'varchar' }] },
        Rows: [{ Data: [{ VarCharValue: 'plan' }] }, { Data: [{ VarCharValue: 'Fragment 0' }] }],
      },
    });

    // Act
    const results = await queryResults(client, { queryExecutionId: 'q', statementType: 'UTILITY' });

    // Assess
    expect(await collect(results.rows)).toEqual([{ plan: 'Fragment 0' }]);
  });
});
