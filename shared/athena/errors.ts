import { NonRetryableError } from '../errors.js';

/** An Athena query ended FAILED or CANCELLED: the message carries Athena's reason. */
export class AthenaQueryFailedError extends NonRetryableError {
  override readonly name: string = 'AthenaQueryFailedError';
  readonly queryExecutionId: string;
  readonly state: 'FAILED' | 'CANCELLED';
  /** Athena's `StateChangeReason` (e.g. the SQL error with its line and column). */
  readonly stateChangeReason: string;
  /** Athena's `ErrorType` code, when it gives one (e.g. 1100 for a syntax error). */
  readonly errorType: number | undefined;

  constructor(queryExecutionId: string, state: 'FAILED' | 'CANCELLED', reason: string | undefined, errorType?: number) {
    const why = reason?.trim() || 'Athena gave no reason';
    super(`query ${queryExecutionId} ${state === 'FAILED' ? 'failed' : 'was cancelled'}: ${why}`, 'athena-query-failed');
    this.queryExecutionId = queryExecutionId;
    this.state = state;
    this.stateChangeReason = why;
    this.errorType = errorType;
  }
}

/** An Athena query was still queued or running at the deadline; it is stopped so that it scans nothing more. */
export class AthenaQueryTimeoutError extends NonRetryableError {
  override readonly name: string = 'AthenaQueryTimeoutError';
  readonly queryExecutionId: string;
  readonly timeoutMs: number;

  constructor(queryExecutionId: string, timeoutMs: number, stopped: boolean, cause?: unknown) {
    super(
      `query ${queryExecutionId} did not finish within ${timeoutMs / 1000} s: ${stopped ? 'stopped' : 'it could not be stopped and may still be running'}`,
      'athena-query-timeout',
      cause,
    );
    this.queryExecutionId = queryExecutionId;
    this.timeoutMs = timeoutMs;
  }
}

/** Athena answered without something it always gives (a query id, a state): a change of the API or a bug. */
export class AthenaResponseError extends NonRetryableError {
  override readonly name: string = 'AthenaResponseError';
  constructor(message: string) {
    super(message, 'athena-bad-response');
  }
}
