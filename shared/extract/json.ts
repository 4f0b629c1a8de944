import { JMESPathError, search } from '@aws-lambda-powertools/jmespath';

/**
 * JSON documents: what the body of a JSON API is read with. Queries are JMESPath (https://jmespath.org), through
 * the Powertools implementation (it caches compiled queries).
 */

/** Errors that say a query cannot run on any document (syntax, unknown function, arity), not that data was odd. */
const QUERY_ERRORS = new Set([
  'LexerError',
  'ParseError',
  'IncompleteExpressionError',
  'EmptyExpressionError',
  'UnknownFunctionError',
  'ArityError',
  'VariadicArityError',
]);

/** What is wrong with a JMESPath query, if anything (checked when a job is validated). */
export function jmespathProblem(query: string): string | undefined {
  try {
    search(query, {});
    return undefined;
  } catch (error) {
    if (error instanceof JMESPathError && QUERY_ERRORS.has(error.name)) return `invalid JMESPath query: ${error.message}`;
    return undefined;
  }
}

/** A query's result, or why it failed on this document (a function given a value of the wrong type). */
export function runQuery(query: string, data: unknown): { ok: true; value: unknown } | { ok: false; message: string } {
  try {
    return { ok: true, value: search(query, data as never) };
  } catch (error) {
    return { ok: false, message: `JMESPath query ${JSON.stringify(query)} failed: ${(error as Error).message}` };
  }
}
