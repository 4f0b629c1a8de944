import { NonRetryableError } from '../../shared/errors.js';

/** Base of the errors of the functions' wiring: configuration, ports a function was not given. Never retryable. */
export class FunctionSetupError extends NonRetryableError {
  override readonly name: string = 'FunctionSetupError';
}

/** The function's environment is missing variables or has invalid ones; thrown at cold start. */
export class ConfigurationError extends FunctionSetupError {
  override readonly name: string = 'ConfigurationError';
  /** One line per variable, e.g. `BUCKET_NAME is required`. */
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(`invalid function environment: ${problems.join('; ')}`, 'configuration');
    this.problems = problems;
  }
}

/** A port the function was not given was used (e.g. the post-processor sending to a queue): a wiring bug. */
export class UnavailablePortError extends FunctionSetupError {
  override readonly name: string = 'UnavailablePortError';
  constructor(message: string) {
    super(message, 'unavailable-port');
  }
}
