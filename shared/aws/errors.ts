import { NonRetryableError, RetryableError } from '../errors.js';

/** A message larger than SQS accepts: sending it again cannot succeed. */
export class MessageTooLargeError extends NonRetryableError {
  override readonly name: string = 'MessageTooLargeError';
  /** Position of the message in the list given to `send`. */
  readonly index: number;
  readonly bytes: number;

  constructor(index: number, bytes: number, limit: number) {
    super(`message ${index} is ${bytes} bytes, over the SQS limit of ${limit} bytes`, 'message-too-large');
    this.index = index;
    this.bytes = bytes;
  }
}

/** SQS kept refusing some entries of a batch (server side), even after retries. */
export class SqsSendError extends RetryableError {
  override readonly name: string = 'SqsSendError';
  /** Entry ids (`msg-<position in the list given to send>`) that were not sent. */
  readonly failedIds: readonly string[];

  constructor(message: string, failedIds: readonly string[]) {
    super(message, 'sqs-send-failed');
    this.failedIds = failedIds;
  }
}

/** SQS refused entries as malformed (sender fault): sending them again fails the same way. */
export class SqsSenderFaultError extends NonRetryableError {
  override readonly name: string = 'SqsSenderFaultError';
  readonly failedIds: readonly string[];

  constructor(message: string, failedIds: readonly string[]) {
    super(message, 'sqs-sender-fault');
    this.failedIds = failedIds;
  }
}

/** A DynamoDB transaction kept being cancelled by conflicting writes. */
export class TransactionConflictError extends RetryableError {
  override readonly name: string = 'TransactionConflictError';
  constructor(attempts: number, cause?: unknown) {
    super(`transaction cancelled by conflicting writes ${attempts} times`, 'transaction-conflict', { cause });
  }
}

/** A state value or write DynamoDB cannot store as asked. */
export class StateWriteError extends NonRetryableError {
  override readonly name: string = 'StateWriteError';
  constructor(message: string, cause?: unknown) {
    super(message, 'invalid-state-write', cause);
  }
}
