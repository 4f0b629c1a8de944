/**
 * Runs `task` over `items` with at most `limit` in flight, keeping the order of results. After a task fails no other
 * starts, and the first error is thrown once those in flight have settled: nothing keeps working (and counting
 * requests) after the caller has given up.
 */
export async function mapLimited<T, R>(items: readonly T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    for (let index = next++; index < items.length && !failure; index = next++) {
      try {
        results[index] = await task(items[index] as T);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.error;
  return results;
}

/**
 * Groups values by a key, in the order keys are first seen (e.g. a batch's pages by run, so that each run gets one
 * object).
 * @param value what each entry contributes to its group. @default the entry itself
 */
export function groupBy<E, K, T = E>(
  entries: Iterable<E>,
  keyOf: (entry: E) => K,
  value: (entry: E) => T = (entry) => entry as unknown as T,
): Map<K, T[]> {
  const groups = new Map<K, T[]>();
  for (const entry of entries) {
    const key = keyOf(entry);
    const group = groups.get(key);
    if (group) group.push(value(entry));
    else groups.set(key, [value(entry)]);
  }
  return groups;
}

/**
 * Rows collected and handed to `write` a batch of `limit` at a time, and the rest on {@link Batches.flush}: what
 * streams out in parts (snapshot objects, removed items, failures files) holds one part in memory at most.
 */
export class Batches<Row> {
  readonly #limit: number;
  readonly #write: (rows: Row[], index: number) => Promise<void>;
  #rows: Row[] = [];
  /** Rows pushed so far. */
  count = 0;
  /** Batches written so far. */
  written = 0;

  /** @param write called with each batch and its index (0, 1, …), one at a time */
  constructor(limit: number, write: (rows: Row[], index: number) => Promise<void>) {
    this.#limit = limit;
    this.#write = write;
  }

  async push(row: Row): Promise<void> {
    this.#rows.push(row);
    this.count++;
    if (this.#rows.length >= this.#limit) await this.flush();
  }

  /** Writes the rows collected since the last batch, if any. */
  async flush(): Promise<void> {
    if (this.#rows.length === 0) return;
    const rows = this.#rows;
    this.#rows = [];
    await this.#write(rows, this.written++);
  }
}
