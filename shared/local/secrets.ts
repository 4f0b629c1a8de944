import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { SecretStore } from '../job/secrets.js';
import { SecretError, type SecretSource } from '../pipeline/secrets.js';

/**
 * Secrets on one machine: an environment variable per secret, else an entry of a JSON file. The store a job names
 * (`secrets-manager` or `ssm`) is for AWS; locally a name is looked up the same way whichever it is.
 */

/** The environment variable holding a secret: `shop/api-token` → `SCRAPELINE_SECRET_SHOP_API_TOKEN`. */
export function secretVariable(name: string): string {
  return `SCRAPELINE_SECRET_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/** The local secrets' configuration from the environment, validated once. */
export const localSecretsEnvironment = z.object({
  /** The secrets file: a JSON object from secret names to values (a string, or an object for secrets read by `key`). */
  SCRAPELINE_SECRETS_FILE: z.string().min(1).optional(),
});

/** Options of {@link LocalSecretSource}. */
export interface LocalSecretSourceOptions {
  /** Variables `SCRAPELINE_SECRET_<NAME>`. @default {} */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** A JSON file of secrets by name, read when a secret is not in `env`; a missing file holds none. @default none */
  readonly file?: string;
}

/** Secrets from environment variables, then from a JSON file. */
export class LocalSecretSource implements SecretSource {
  readonly #env: Readonly<Record<string, string | undefined>>;
  readonly #file: string | undefined;

  constructor(options: LocalSecretSourceOptions = {}) {
    this.#env = options.env ?? {};
    this.#file = options.file;
  }

  async read(name: string, _store: SecretStore): Promise<string> {
    const variable = secretVariable(name);
    const fromEnv = this.#env[variable];
    if (fromEnv !== undefined) return fromEnv;
    const entries = await this.#entries();
    const value = entries[name];
    if (typeof value === 'string') return value;
    if (typeof value === 'object' && value !== null) return JSON.stringify(value);
    const where = this.#file === undefined ? '' : `, or give "${name}" a string (or object) value in ${this.#file}`;
    throw new SecretError(`secret "${name}" is not set: set the environment variable ${variable}${where}`, 'secret-not-found', {
      retryable: false,
    });
  }

  async #entries(): Promise<Record<string, unknown>> {
    if (this.#file === undefined) return {};
    let text: string;
    try {
      text = await readFile(this.#file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw new SecretError(`cannot read the secrets file ${this.#file}: ${(error as Error).message}`, 'secret-unavailable', {
        retryable: false,
        cause: error,
      });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      // The parser's message quotes the file: it is not repeated.
      throw new SecretError(`the secrets file ${this.#file} is not valid JSON`, 'secret-invalid', { retryable: false });
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new SecretError(`the secrets file ${this.#file} must hold a JSON object of secrets by name`, 'secret-invalid', {
        retryable: false,
      });
    }
    return parsed as Record<string, unknown>;
  }
}

/**
 * The secret source of a local runtime from the environment: `SCRAPELINE_SECRET_<NAME>` variables, then the file
 * `SCRAPELINE_SECRETS_FILE` (default `<dataDir>/secrets.json`).
 */
export function localSecretSource(env: Readonly<Record<string, string | undefined>>, dataDir: string): LocalSecretSource {
  const config = localSecretsEnvironment.parse(env);
  return new LocalSecretSource({ env, file: config.SCRAPELINE_SECRETS_FILE ?? join(dataDir, 'secrets.json') });
}
