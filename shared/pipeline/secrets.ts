import { ScrapelineError } from '../errors.js';
import type { SecretRef, SecretStore, SecretValues } from '../job/secrets.js';
import type { HttpClient, Log } from '../ports.js';

/**
 * Reading the secrets jobs name, once per process and a few minutes at a time, and keeping their values out of
 * everything the pipeline writes: each value read is remembered by a {@link Redactor} that the context's log and
 * HTTP errors go through.
 */

/** Where secret values come from: AWS Secrets Manager and SSM Parameter Store, or the local environment and a file. */
export interface SecretSource {
  /**
   * The value of one secret, as stored (a JSON object as its text).
   * @throws {SecretError} when it cannot be read, retryable when trying again may help (throttling, network)
   */
  read(name: string, store: SecretStore): Promise<string>;
}

/** A secret could not be read; the message names the secret, never a value. */
export class SecretError extends ScrapelineError {
  override readonly name = 'SecretError';
  constructor(
    message: string,
    reason: 'secret-not-found' | 'secret-denied' | 'secret-invalid' | 'secret-unavailable',
    options: { retryable: boolean; cause?: unknown },
  ) {
    super(message, { reason, retryable: options.retryable, cause: options.cause });
  }
}

/** A source for a runtime configured without secrets: every read fails, saying so. */
export const noSecrets: SecretSource = {
  read: async (name) => {
    throw new SecretError(`secret "${name}" cannot be read: this runtime has no secret source`, 'secret-not-found', {
      retryable: false,
    });
  },
};

/** Values shorter than this are not redacted (every "a" of a log would be); secrets are longer. */
const MIN_REDACTED_LENGTH = 4;
const REDACTED = '[redacted]';

/** Replaces every secret value read by this process, and its URL-encoded form, with `[redacted]`. */
export class Redactor {
  readonly #values = new Set<string>();
  #pattern: RegExp | undefined;

  /** Whether there is anything to redact (no work at all for jobs without secrets). */
  get active(): boolean {
    return this.#values.size > 0;
  }

  add(value: string): void {
    for (const form of [value, encodeURIComponent(value)]) {
      if (form.length < MIN_REDACTED_LENGTH || this.#values.has(form)) continue;
      this.#values.add(form);
      this.#pattern = undefined;
    }
  }

  redact(text: string): string {
    if (!this.active) return text;
    this.#pattern ??= new RegExp(
      [...this.#values]
        .sort((a, b) => b.length - a.length)
        .map((value) => value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
        .join('|'),
      'g',
    );
    return text.replace(this.#pattern, REDACTED);
  }

  /** A value with every string inside redacted (log attributes). */
  redactDeep<T>(value: T, depth = 0): T {
    if (!this.active) return value;
    if (typeof value === 'string') return this.redact(value) as T;
    if (typeof value !== 'object' || value === null || depth > 8) return value;
    if (value instanceof Error) return this.redact(value.message) as T;
    if (Array.isArray(value)) return value.map((one) => this.redactDeep(one, depth + 1)) as T;
    const out: Record<string, unknown> = {};
    for (const [key, one] of Object.entries(value)) out[key] = this.redactDeep(one, depth + 1);
    return out as T;
  }
}

/** What a pipeline context reads secrets with: a {@link SecretResolver} (secret-resolver.ts) where pages are fetched. */
export interface SecretReader {
  /** Every value read so far, for the context's log and HTTP errors to redact. */
  readonly redactor: Redactor;
  /** The values of `refs`, by secret id. @throws {SecretError} naming the first secret that cannot be read */
  values(refs: readonly SecretRef[]): Promise<SecretValues>;
}

/** The reader of a context that fetches nothing (a parser, a post-processor): asked for a secret, it says so. */
export function noSecretReader(): SecretReader {
  return {
    redactor: new Redactor(),
    values: async (refs) => {
      const [first] = refs;
      if (first === undefined) return new Map<string, string>();
      // Throws: this runtime has no secret source.
      await noSecrets.read(first.secret, 'secrets-manager');
      return new Map<string, string>();
    },
  };
}

/** The log with secret values redacted from messages and attributes. */
export function redactingLog(log: Log, redactor: Redactor): Log {
  const level =
    (write: Log['info']) =>
    (message: string, attributes?: Record<string, unknown>): void => {
      if (!redactor.active) write(message, attributes);
      else write(redactor.redact(message), attributes === undefined ? undefined : redactor.redactDeep(attributes));
    };
  return {
    debug: level((m, a) => log.debug(m, a)),
    info: level((m, a) => log.info(m, a)),
    warn: level((m, a) => log.warn(m, a)),
    error: level((m, a) => log.error(m, a)),
  };
}

/** The HTTP client with secret values redacted from the messages of its errors (they become failure records). */
export function redactingHttp(http: HttpClient, redactor: Redactor): HttpClient {
  return {
    fetchPage: async (url, options) => {
      try {
        return await http.fetchPage(url, options);
      } catch (error) {
        if (redactor.active && error instanceof Error) error.message = redactor.redact(error.message);
        throw error;
      }
    },
    close: () => http.close(),
  };
}
