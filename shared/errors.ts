import type { FailureReason } from './failure-reasons.js';

/**
 * Base of every scrapeline error. `retryable` tells a consumer whether trying the same work again may succeed:
 * retryable errors fail the queue message (it comes back after its visibility timeout, then goes to the DLQ);
 * non-retryable ones are recorded as the URL's terminal failure with their `reason`.
 */
export class ScrapelineError extends Error {
  override readonly name: string = 'ScrapelineError';
  /** Short machine-readable cause, recorded with failed URLs (e.g. `http-404`, `timeout`, `too-large`). */
  readonly reason: FailureReason;
  readonly retryable: boolean;

  constructor(message: string, options: { reason: FailureReason; retryable: boolean; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.reason = options.reason;
    this.retryable = options.retryable;
  }
}

/** A failure that the same attempt will hit again: recorded, never retried. */
export class NonRetryableError extends ScrapelineError {
  override readonly name: string = 'NonRetryableError';
  constructor(message: string, reason: FailureReason, cause?: unknown) {
    super(message, { reason, retryable: false, cause });
  }
}

/** A transient failure (network, 5xx, 429, throttling): worth another attempt, possibly after `retryAfterMs`. */
export class RetryableError extends ScrapelineError {
  override readonly name: string = 'RetryableError';
  readonly retryAfterMs: number | undefined;
  constructor(message: string, reason: FailureReason, options: { retryAfterMs?: number; cause?: unknown } = {}) {
    super(message, { reason, retryable: true, cause: options.cause });
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** Input that does not have the expected shape (a queue message, an event, a stored object). */
export class InvalidInputError extends NonRetryableError {
  override readonly name: string = 'InvalidInputError';
  constructor(message: string, cause?: unknown) {
    super(message, 'invalid-input', cause);
  }
}

/** Short description of any thrown value, for logs and failure records. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}

/** A key that should exist in the object store does not. */
export class ObjectNotFoundError extends NonRetryableError {
  override readonly name: string = 'ObjectNotFoundError';
  constructor(readonly key: string) {
    super(`no object at "${key}"`, 'object-not-found');
  }
}

/**
 * An invocation stopped work it had no time left to finish (its Lambda deadline is near): the work is idempotent and
 * is handed back to its queue to be done again from the start.
 */
export class DeadlineError extends RetryableError {
  override readonly name: string = 'DeadlineError';
  constructor(message: string) {
    super(message, 'deadline');
  }
}
