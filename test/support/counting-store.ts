import { EmbeddedStateStore } from '../../shared/local/state.js';
import type { StateItem, StateKey, StateStore, StateWrite, TransactResult, TryWriteResult } from '../../shared/ports.js';

/**
 * A state store that counts the requests made to it as the AWS requests they stand for (reads, writes, failed
 * conditions, and calls per operation), over an embedded store in memory by default. Its batch look-ups can be made
 * stale, as an eventually consistent read may be.
 */
export class CountingStore implements StateStore {
  reads = 0;
  writes = 0;
  failedConditions = 0;
  /** Calls per operation (`get`, `query`, `getMany`, `transact`, `write`, `tryWrite`). */
  readonly calls: Record<string, number> = {};
  /** While set, `getMany` answers that nothing exists. */
  stale = false;

  constructor(readonly inner: StateStore = new EmbeddedStateStore()) {}

  #count(operation: string, kind: 'read' | 'write'): void {
    this.calls[operation] = (this.calls[operation] ?? 0) + 1;
    if (kind === 'read') this.reads++;
    else this.writes++;
  }

  get requests(): number {
    return this.reads + this.writes;
  }

  get(pk: string, sk: string): Promise<StateItem | undefined> {
    this.#count('get', 'read');
    return this.inner.get(pk, sk);
  }

  query(pk: string, skPrefix: string): AsyncIterable<StateItem & { readonly sk: string }> {
    this.#count('query', 'read');
    return this.inner.query(pk, skPrefix);
  }

  async getMany(keys: readonly StateKey[]): Promise<(StateItem | undefined)[]> {
    this.#count('getMany', 'read');
    return this.stale ? keys.map(() => undefined) : this.inner.getMany(keys);
  }

  transact(writes: readonly StateWrite[]): Promise<TransactResult> {
    this.#count('transact', 'write');
    return this.inner.transact(writes);
  }

  async write(write: StateWrite): Promise<StateItem | undefined> {
    this.#count('write', 'write');
    const item = await this.inner.write(write);
    if (!item) this.failedConditions++;
    return item;
  }

  async tryWrite(write: StateWrite): Promise<TryWriteResult> {
    this.#count('tryWrite', 'write');
    const result = await this.inner.tryWrite(write);
    if (!result.ok) this.failedConditions++;
    return result;
  }
}
