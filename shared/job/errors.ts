import { NonRetryableError } from '../errors.js';

/** One problem in a job definition, at a path such as `templates.product.fields.price.type`. */
export interface JobProblem {
  readonly path: string;
  readonly message: string;
}

/** A job definition is invalid. The message names the file, then each problem on a line of its own. */
export class JobValidationError extends NonRetryableError {
  override readonly name = 'JobValidationError';
  constructor(
    readonly source: string,
    readonly problems: readonly JobProblem[],
  ) {
    super(
      problems.map((problem) => `${source}: ${problem.path ? `${problem.path}: ` : ''}${problem.message}`).join('\n'),
      'invalid-job',
    );
  }
}

/** A run names a job that no longer exists (renamed or removed after the run started). */
export class UnknownJobError extends NonRetryableError {
  override readonly name = 'UnknownJobError';
  constructor(
    readonly job: string,
    known: readonly string[],
  ) {
    super(`unknown job "${job}" (known: ${known.join(', ') || 'none'})`, 'unknown-job');
  }
}
