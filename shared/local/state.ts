import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import type { StateCondition, StateItem, StateStore, StateValue, StateWrite, TransactResult } from '../ports.js';

type MutableItem = Record<string, StateValue>;

function conditionHolds(item: MutableItem | undefined, condition: StateCondition | undefined): boolean {
  if (!condition) return true;
  switch (condition.kind) {
    case 'absent':
      return item === undefined;
    case 'exists':
      return item !== undefined;
    case 'equals':
      return item !== undefined && item[condition.attribute] === condition.value;
    case 'lessThan': {
      const value = item?.[condition.attribute];
      return typeof value === 'number' && value < condition.value;
    }
  }
}

function applyWrite(item: MutableItem | undefined, write: StateWrite): MutableItem {
  const next: MutableItem = { ...(item ?? {}) };
  for (const [name, value] of Object.entries(write.set ?? {})) next[name] = value;
  for (const [name, value] of Object.entries(write.add ?? {})) {
    const current = next[name];
    next[name] = (typeof current === 'number' ? current : 0) + value;
  }
  if (write.expiresAt !== undefined) next.expiresAt = write.expiresAt;
  return next;
}

/** Options of {@link EmbeddedStateStore}. */
export interface EmbeddedStateStoreOptions {
  /** Journal file; without one the store lives in memory only. */
  readonly file?: string;
  /** Rewrite the journal when it holds this many times more entries than live items. @default 4 */
  readonly compactionRatio?: number;
}

/**
 * The local state store: every item in memory, every write appended to a journal file (one JSON line per
 * changed item) before the call returns, so state survives a crash of the process (a SIGKILL loses nothing
 * that was acknowledged). Opening the store replays the journal; the journal is compacted when it has grown
 * much larger than the live data. Single process: writes are atomic because they run synchronously.
 */
export class EmbeddedStateStore implements StateStore {
  readonly #partitions = new Map<string, Map<string, MutableItem>>();
  readonly #file: string | undefined;
  readonly #compactionRatio: number;
  #fd: number | undefined;
  #journalEntries = 0;
  #liveItems = 0;

  constructor(options: EmbeddedStateStoreOptions = {}) {
    this.#file = options.file;
    this.#compactionRatio = options.compactionRatio ?? 4;
    if (this.#file) {
      mkdirSync(dirname(this.#file), { recursive: true });
      const newLine = existsSync(this.#file) ? this.#replay(this.#file) : false;
      this.#fd = openSync(this.#file, 'a');
      if (newLine) writeSync(this.#fd, '\n');
    }
  }

  /**
   * Replays the journal. A torn last line (the process died mid-write) is cut off the file, so that new entries
   * start on a line of their own; anything else that does not parse is corruption.
   *
   * @returns whether the journal ends without a line break (a whole last entry whose `\n` was not written)
   */
  #replay(file: string): boolean {
    const bytes = readFileSync(file);
    const lines = bytes.toString('utf8').split('\n');
    let intact = 0;
    for (const [index, line] of lines.entries()) {
      const end = intact + Buffer.byteLength(line) + (index < lines.length - 1 ? 1 : 0);
      if (line !== '') {
        let entry: { pk: string; sk: string; item: MutableItem | null };
        try {
          entry = JSON.parse(line);
        } catch {
          if (index >= lines.length - 2) break;
          throw new Error(`state journal ${file} is corrupt at line ${index + 1}`);
        }
        this.#set(entry.pk, entry.sk, entry.item ?? undefined);
        this.#journalEntries++;
      }
      intact = end;
    }
    if (intact < bytes.byteLength) truncateSync(file, intact);
    return intact > 0 && bytes[intact - 1] !== 0x0a;
  }

  #set(pk: string, sk: string, item: MutableItem | undefined): void {
    let partition = this.#partitions.get(pk);
    if (!partition) {
      partition = new Map();
      this.#partitions.set(pk, partition);
    }
    const existed = partition.has(sk);
    if (item) partition.set(sk, item);
    else partition.delete(sk);
    this.#liveItems += (item ? 1 : 0) - (existed ? 1 : 0);
  }

  #item(pk: string, sk: string): MutableItem | undefined {
    return this.#partitions.get(pk)?.get(sk);
  }

  #commit(changes: readonly { pk: string; sk: string; item: MutableItem }[]): void {
    if (this.#fd !== undefined) {
      writeSync(this.#fd, changes.map((change) => `${JSON.stringify(change)}\n`).join(''));
      this.#journalEntries += changes.length;
    }
    for (const change of changes) this.#set(change.pk, change.sk, change.item);
    if (
      this.#fd !== undefined &&
      this.#journalEntries > 10_000 &&
      this.#journalEntries > this.#liveItems * this.#compactionRatio
    ) {
      this.#compact();
    }
  }

  #compact(): void {
    if (!this.#file || this.#fd === undefined) return;
    const temporary = `${this.#file}.compact`;
    const lines: string[] = [];
    for (const [pk, partition] of this.#partitions) {
      for (const [sk, item] of partition) lines.push(JSON.stringify({ pk, sk, item }));
    }
    writeFileSync(temporary, lines.length > 0 ? `${lines.join('\n')}\n` : '');
    closeSync(this.#fd);
    renameSync(temporary, this.#file);
    this.#fd = openSync(this.#file, 'a');
    this.#journalEntries = lines.length;
  }

  async get(pk: string, sk: string): Promise<StateItem | undefined> {
    const item = this.#item(pk, sk);
    return item ? { ...item } : undefined;
  }

  async *query(pk: string, skPrefix: string): AsyncIterable<StateItem & { readonly sk: string }> {
    const partition = this.#partitions.get(pk);
    if (!partition) return;
    // DynamoDB orders sort keys by their UTF-8 bytes (not by UTF-16 code units, as Array#sort does).
    const keys = [...partition.keys()]
      .filter((sk) => sk.startsWith(skPrefix))
      .map((sk) => ({ sk, bytes: Buffer.from(sk) }))
      .sort((a, b) => Buffer.compare(a.bytes, b.bytes))
      .map(({ sk }) => sk);
    for (const sk of keys) {
      const item = partition.get(sk);
      if (item) yield { ...item, sk };
    }
  }

  async transact(writes: readonly StateWrite[]): Promise<TransactResult> {
    if (writes.length > 100) throw new Error(`a transaction holds at most 100 writes, got ${writes.length}`);
    const targets = new Set(writes.map((write) => `${write.pk}\u0000${write.sk}`));
    if (targets.size < writes.length) throw new Error('a transaction cannot write one item twice (DynamoDB refuses it)');
    const failed = writes.flatMap((write, index) =>
      conditionHolds(this.#item(write.pk, write.sk), write.condition) ? [] : [index],
    );
    if (failed.length > 0) return { ok: false, failed };
    const changes = writes.map((write) => ({
      pk: write.pk,
      sk: write.sk,
      item: applyWrite(this.#item(write.pk, write.sk), write),
    }));
    this.#commit(changes);
    return { ok: true };
  }

  async write(write: StateWrite): Promise<StateItem | undefined> {
    const current = this.#item(write.pk, write.sk);
    if (!conditionHolds(current, write.condition)) return undefined;
    const next = applyWrite(current, write);
    this.#commit([{ pk: write.pk, sk: write.sk, item: next }]);
    return { ...next };
  }

  /** Closes the journal. */
  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }
}
