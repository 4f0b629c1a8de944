import { type SecretRef, type SecretStore, type SecretValues, secretId, storeOf } from '../job/secrets.js';
import type { Clock } from '../ports.js';
import { Redactor, SecretError, type SecretReader, type SecretSource } from './secrets.js';

/**
 * Reading the secrets jobs name, once per process and a few minutes at a time, each value read remembered by the
 * context's redactor. Only what fetches pages builds one (the fetcher, the local runtime, a preview).
 */

/** Options of {@link SecretResolver}. */
export interface SecretResolverOptions {
  readonly clock: Clock;
  /** How long a value read is used before it is read again (a rotated secret is picked up then). @default 300000 */
  readonly ttlMs?: number;
}

/** Reads secrets through a {@link SecretSource}, caching each value for a while and remembering it for redaction. */
export class SecretResolver implements SecretReader {
  readonly redactor = new Redactor();
  readonly #source: SecretSource;
  readonly #clock: Clock;
  readonly #ttlMs: number;
  readonly #cache = new Map<string, { readonly value: Promise<string>; readonly at: number }>();

  constructor(source: SecretSource, options: SecretResolverOptions) {
    this.#source = source;
    this.#clock = options.clock;
    this.#ttlMs = options.ttlMs ?? 300_000;
  }

  /** The values of `refs`, by secret id. @throws {SecretError} naming the first secret that cannot be read */
  async values(refs: readonly SecretRef[]): Promise<SecretValues> {
    const values = new Map<string, string>();
    await Promise.all(refs.map(async (ref) => values.set(secretId(ref), await this.#value(ref))));
    return values;
  }

  /** Forgets the cached values (a login refused: the secret may have been rotated). */
  forget(): void {
    this.#cache.clear();
  }

  async #value(ref: SecretRef): Promise<string> {
    const raw = await this.#raw(ref.secret, storeOf(ref));
    if (ref.key === undefined) return raw;
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      // The parser's message quotes the text: it is not repeated here.
      throw new SecretError(`secret "${ref.secret}" is not a JSON object: it has no key "${ref.key}"`, 'secret-invalid', {
        retryable: false,
      });
    }
    const value = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>)[ref.key] : undefined;
    if (typeof value !== 'string' && typeof value !== 'number') {
      throw new SecretError(`secret "${ref.secret}" has no string "${ref.key}"`, 'secret-invalid', { retryable: false });
    }
    const text = String(value);
    this.redactor.add(text);
    return text;
  }

  async #raw(name: string, store: SecretStore): Promise<string> {
    const id = `${store}:${name}`;
    const now = this.#clock.now();
    const cached = this.#cache.get(id);
    if (cached && now - cached.at < this.#ttlMs) return cached.value;
    const value = this.#source.read(name, store).then((text) => {
      this.redactor.add(text);
      return text;
    });
    this.#cache.set(id, { value, at: now });
    // A failure is not kept: the next page asks again.
    value.catch(() => {
      if (this.#cache.get(id)?.value === value) this.#cache.delete(id);
    });
    return value;
  }
}
