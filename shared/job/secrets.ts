import { NonRetryableError } from '../errors.js';
import type { SecretRef } from './schema.js';

/**
 * Secret references of a job (`{ secret: name }`): where a job may hold one, which ones it names (for the stack's
 * grants and the fetcher's look-ups), and the values once read. Without zod, so that every function can ask.
 */

export type { SecretRef } from './schema.js';

/** Where a secret is kept on AWS. */
export type SecretStore = NonNullable<SecretRef['store']>;

/** A value of a job that may be a literal or a secret. */
export type MaybeSecret = string | SecretRef;

/** Secret values read for a run, by {@link secretId}. */
export type SecretValues = ReadonlyMap<string, string>;

/** Whether a value of a (validated) job is a secret reference. */
export function isSecretRef(value: unknown): value is SecretRef {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    typeof (value as { secret?: unknown }).secret === 'string' &&
    Object.keys(value).every((key) => key === 'secret' || key === 'store' || key === 'key')
  );
}

/** The store of a reference, its default applied. */
export function storeOf(ref: SecretRef): SecretStore {
  return ref.store ?? 'secrets-manager';
}

/** The identity of a secret value: its store, its name and the property read (`ssm:/shop/token`, `secrets-manager:shop#password`). */
export function secretId(ref: SecretRef): string {
  return `${storeOf(ref)}:${ref.secret}${ref.key === undefined ? '' : `#${ref.key}`}`;
}

/** Every secret reference in a value (a job, a request spec), once each, in the order first met. */
export function secretRefsOf(value: unknown): SecretRef[] {
  const found = new Map<string, SecretRef>();
  const visit = (node: unknown, depth: number): void => {
    if (depth > 64 || typeof node !== 'object' || node === null || typeof node === 'function') return;
    if (isSecretRef(node)) {
      found.set(secretId(node), node);
      return;
    }
    for (const child of Array.isArray(node) ? node : Object.values(node)) visit(child, depth + 1);
  };
  visit(value, 0);
  return [...found.values()];
}

/** The secrets a job names, by store: what the function that fetches its pages must be allowed to read. */
export function secretNamesOf(value: unknown): { readonly [S in SecretStore]: string[] } {
  const names = { 'secrets-manager': new Set<string>(), ssm: new Set<string>() };
  for (const ref of secretRefsOf(value)) names[storeOf(ref)].add(ref.secret);
  return { 'secrets-manager': [...names['secrets-manager']].sort(), ssm: [...names.ssm].sort() };
}

/** A secret the run needs but whose value was not read (a programming error: values are read before use). */
export class MissingSecretValueError extends NonRetryableError {
  override readonly name = 'MissingSecretValueError';
  constructor(ref: SecretRef) {
    super(`secret ${secretId(ref)} was not read before use`, 'secret-missing');
  }
}

/** A literal as it is, a secret as its value read for the run. */
export function secretValue(value: MaybeSecret, values: SecretValues): string {
  if (typeof value === 'string') return value;
  const read = values.get(secretId(value));
  if (read === undefined) throw new MissingSecretValueError(value);
  return read;
}
