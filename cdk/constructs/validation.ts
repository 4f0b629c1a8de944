import { type Duration, Token } from 'aws-cdk-lib';
import { isJobName } from '../../shared/job/name.js';

/**
 * Construct props are validated before anything is built; every problem is collected and reported in one
 * error, each naming the prop, the constraint and the value received.
 */
export class PropsValidationError extends Error {
  override readonly name = 'PropsValidationError';
  constructor(
    readonly construct: string,
    readonly problems: readonly string[],
  ) {
    super(`Invalid ${construct} props:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
  }
}

/** Collects problems of one construct's props, then throws them all at once. */
export class PropsValidator {
  readonly #construct: string;
  readonly #problems: string[] = [];

  constructor(construct: string) {
    this.#construct = construct;
  }

  /** Records `problem` unless `ok`. */
  check(ok: boolean, problem: string): void {
    if (!ok) this.#problems.push(problem);
  }

  /** An integer in `[min, max]` (unresolved tokens and `undefined` pass). */
  integer(name: string, value: number | undefined, min: number, max: number): void {
    if (value === undefined || Token.isUnresolved(value)) return;
    this.check(
      Number.isInteger(value) && value >= min && value <= max,
      `${name} must be an integer from ${min} to ${max}, got ${value}`,
    );
  }

  /** A duration in `[min, max]` seconds (unresolved tokens and `undefined` pass). */
  duration(name: string, value: Duration | undefined, min: number, max: number): void {
    if (value === undefined || value.isUnresolved()) return;
    const seconds = value.toSeconds({ integral: false });
    this.check(seconds >= min && seconds <= max, `${name} must be from ${min} to ${max} seconds, got ${seconds} s`);
  }

  /**
   * A list of jobs (`jobs[i]`): each name a job name and unique; `each` checks the rest of a job, after its name.
   * @example validator.jobs(props.jobs, (job, index) => validator.check(job.schedule !== '', `jobs[${index}]...`))
   */
  jobs<J extends { readonly name: string }>(jobs: readonly J[], each?: (job: J, index: number) => void): void {
    const seen = new Set<string>();
    for (const [index, job] of jobs.entries()) {
      this.check(isJobName(job.name), `jobs[${index}].name must be a job name, got "${job.name}"`);
      this.check(!seen.has(job.name), `jobs[${index}].name "${job.name}" is not unique`);
      seen.add(job.name);
      each?.(job, index);
    }
  }

  /** Throws one {@link PropsValidationError} listing every problem recorded, if any. */
  throwIfInvalid(): void {
    if (this.#problems.length > 0) throw new PropsValidationError(this.#construct, this.#problems);
  }
}

/** Seconds of a literal duration; `undefined` for a token. */
export function secondsOf(duration: Duration): number | undefined {
  return duration.isUnresolved() ? undefined : duration.toSeconds({ integral: false });
}
