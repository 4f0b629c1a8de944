/**
 * A job's name: lowercase letters, digits and `-`, starting with a letter or digit, at most 48 characters. It is a
 * path segment of every object key, a DynamoDB key prefix and part of AWS resource names (schedules, Glue tables),
 * so the job model, the queue messages and the CDK constructs check it with this one pattern.
 */
export const JOB_NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,47}$/;

/** {@link JOB_NAME_PATTERN} in words, for validation messages. */
export const JOB_NAME_RULE = 'lowercase letters, digits and "-", starting with a letter or digit, at most 48';

/**
 * Whether `name` is a valid job name ({@link JOB_NAME_PATTERN}).
 * @example isJobName('books') // true
 */
export function isJobName(name: string): boolean {
  return JOB_NAME_PATTERN.test(name);
}
