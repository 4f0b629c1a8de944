import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { StateWriteError } from '../aws/errors.js';
import {
  MAX_GET_MANY,
  type StateCondition,
  type StateItem,
  type StateKey,
  type StateStore,
  type StateValue,
  type StateWrite,
  type TransactResult,
  type TryWriteResult,
} from '../ports.js';
import { DiskFullError } from './state-errors.js';
import { replayLegacyJournal } from './state-journal.js';

type MutableItem = Record<string, StateValue>;

/** Writes per transaction (the DynamoDB limit). */
const MAX_TRANSACT_WRITES = 100;
/** Schema version stored in `PRAGMA user_version`. */
const SCHEMA_VERSION = 1;

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
  const next: MutableItem = item ?? {};
  for (const [name, value] of Object.entries(write.set ?? {})) next[name] = value;
  for (const [name, value] of Object.entries(write.add ?? {})) {
    const current = next[name];
    next[name] = (typeof current === 'number' ? current : 0) + value;
  }
  if (write.expiresAt !== undefined) next.expiresAt = write.expiresAt;
  return next;
}

/**
 * Refuses values the database would not give back as written (JSON turns `NaN` into `null` and drops `undefined`),
 * which DynamoDB refuses too.
 */
function checkWrite(write: StateWrite): void {
  const where = `write to ${write.pk} / ${write.sk}`;
  const check = (value: unknown, what: string) => {
    if (value === null || typeof value === 'string' || typeof value === 'boolean') return;
    if (typeof value === 'number') {
      if (Number.isFinite(value)) return;
      throw new StateWriteError(`${where}: ${what} is ${value}: state numbers must be finite`);
    }
    throw new StateWriteError(`${where}: ${what} is a ${typeof value}: state values are strings, numbers, booleans or null`);
  };
  for (const [name, value] of Object.entries(write.set ?? {})) check(value, name);
  for (const [name, value] of Object.entries(write.add ?? {})) {
    if (typeof value !== 'number') throw new StateWriteError(`${where}: counter ${name} must be added a number`);
    check(value, name);
  }
  if (write.expiresAt !== undefined) check(write.expiresAt, 'expiresAt');
}

/** The TTL of an item: its `expiresAt` attribute when it is a number (DynamoDB ignores any other type). */
function expiryOf(item: MutableItem): number | null {
  return typeof item.expiresAt === 'number' ? item.expiresAt : null;
}

/**
 * The smallest string greater than every string that starts with `prefix`, in code point order (which is UTF-8 byte
 * order, the order of SQLite's BINARY collation and of DynamoDB), or `undefined` when there is none (the prefix is
 * empty or all U+10FFFF). Lone surrogates count as U+FFFD, as they are stored.
 */
export function prefixSuccessor(prefix: string): string | undefined {
  const points = Array.from(prefix, (char) => {
    const point = char.codePointAt(0) ?? 0;
    return point >= 0xd800 && point <= 0xdfff ? 0xfffd : point;
  });
  while (points.length > 0) {
    const last = points.pop() ?? 0;
    if (last < 0x10ffff) {
      // Surrogate code points are not characters: after U+D7FF comes U+E000.
      points.push(last + 1 === 0xd800 ? 0xe000 : last + 1);
      return points.map((point) => String.fromCodePoint(point)).join('');
    }
  }
  return undefined;
}

/** Options of {@link EmbeddedStateStore}. */
export interface EmbeddedStateStoreOptions {
  /** SQLite database file (created with its folder when missing); without one the store lives in memory only. */
  readonly file?: string;
  /**
   * Journal of earlier versions to import once when the store opens, then renamed `<journal>.imported`.
   * `null` imports nothing. @default `state.journal` next to `file`
   */
  readonly legacyJournal?: string | null;
  /** Items per page of a query (a page is read at once, so no statement stays open while the caller works). @default 256 */
  readonly queryPageSize?: number;
  /** SQLite page cache, in KiB: the store's memory beyond the current page of each open query. @default 16384 */
  readonly cacheKib?: number;
  /**
   * How often expired items are deleted (when the store opens, if the last sweep is older, and while it is open).
   * A sweep scans the table (an index on `expiresAt` would cost every write about 40%). @default 86400000 (a day)
   */
  readonly expirySweepMs?: number;
  /** Current time in epoch milliseconds, for expiry. @default Date.now */
  readonly now?: () => number;
  /**
   * Largest size of the database in pages (`PRAGMA max_page_count`): past it writes fail as on a full disk. For tests.
   * @default SQLite's (no practical limit)
   */
  readonly maxPageCount?: number;
}

/**
 * The local state store: a SQLite database (better-sqlite3) with one row per item, keyed by (pk, sk), the attributes
 * as JSON. Memory stays bounded whatever the number of runs and items (SQLite's page cache and one page of each open
 * query); queries are index range scans read in pages by key, so the caller may write while iterating.
 *
 * Durability: WAL journal with `synchronous=NORMAL`. Every write is committed to the WAL file before the call returns,
 * so a crash of the process (SIGKILL included) loses nothing acknowledged; an OS crash or power loss may lose the last
 * commits but never corrupts the database (as the JSON-lines journal of earlier versions, which never fsynced).
 * Every `write` and `transact` is one SQLite transaction: all or nothing, also when the disk is full
 * ({@link DiskFullError}); the database stays readable.
 *
 * Items whose `expiresAt` (epoch seconds) is past are deleted once every `expirySweepMs` (a day), when the store
 * opens or on a write (best effort, like DynamoDB TTL: they are returned until deleted).
 *
 * Several processes may open one database (SQLite locking; a writer waits up to 5 s for another).
 */
export class EmbeddedStateStore implements StateStore {
  readonly #db: Database.Database;
  readonly #file: string;
  readonly #queryPageSize: number;
  readonly #expirySweepMs: number;
  readonly #now: () => number;
  #nextSweep = 0;
  readonly #select: Database.Statement<[string, string], string>;
  readonly #upsert: Database.Statement<[string, string, string, number | null]>;
  readonly #pages: Record<'first' | 'next' | 'firstBounded' | 'nextBounded', Database.Statement<unknown[], PageRow>>;
  readonly #deleteExpired: Database.Statement<[number]>;
  readonly #setMeta: Database.Statement<[string, string]>;
  readonly #writeOne: (write: StateWrite) => MutableItem | undefined;
  readonly #transactAll: (writes: readonly StateWrite[]) => TransactResult;

  constructor(options: EmbeddedStateStoreOptions = {}) {
    const pageSize = options.queryPageSize ?? 256;
    if (!Number.isInteger(pageSize) || pageSize < 1)
      throw new RangeError(`queryPageSize must be a positive integer, got ${pageSize}`);
    this.#queryPageSize = pageSize;
    this.#expirySweepMs = options.expirySweepMs ?? 86_400_000;
    this.#now = options.now ?? Date.now;
    this.#file = options.file ?? ':memory:';
    if (options.file) mkdirSync(dirname(options.file), { recursive: true });
    this.#db = new Database(this.#file);
    try {
      this.#configure(options);
      this.#select = this.#db.prepare<[string, string], string>('SELECT item FROM items WHERE pk = ? AND sk = ?').pluck();
      this.#upsert = this.#db.prepare(
        'INSERT INTO items (pk, sk, item, expires_at) VALUES (?, ?, ?, ?) ' +
          'ON CONFLICT (pk, sk) DO UPDATE SET item = excluded.item, expires_at = excluded.expires_at',
      );
      const page = (where: string) =>
        this.#db.prepare<unknown[], PageRow>(`SELECT sk, item FROM items WHERE pk = ? AND ${where} ORDER BY sk LIMIT ?`);
      this.#pages = {
        first: page('sk >= ?'),
        next: page('sk > ?'),
        firstBounded: page('sk >= ? AND sk < ?'),
        nextBounded: page('sk > ? AND sk < ?'),
      };
      this.#deleteExpired = this.#db.prepare('DELETE FROM items WHERE expires_at < ?');
      this.#setMeta = this.#db.prepare(
        'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      );
      // IMMEDIATE: the write lock is taken before the conditions are read, so another process cannot interleave.
      const writeOne = this.#db.transaction((write: StateWrite) => {
        const current = this.#read(write.pk, write.sk);
        if (!conditionHolds(current, write.condition)) return undefined;
        const next = applyWrite(current, write);
        this.#upsert.run(write.pk, write.sk, JSON.stringify(next), expiryOf(next));
        return next;
      });
      this.#writeOne = (write) => writeOne.immediate(write);
      const transactAll = this.#db.transaction((writes: readonly StateWrite[]): TransactResult => {
        const current = writes.map((write) => this.#read(write.pk, write.sk));
        const failed = writes.flatMap((write, index) => (conditionHolds(current[index], write.condition) ? [] : [index]));
        if (failed.length > 0) return { ok: false, failed };
        for (const [index, write] of writes.entries()) {
          const next = applyWrite(current[index], write);
          this.#upsert.run(write.pk, write.sk, JSON.stringify(next), expiryOf(next));
        }
        return { ok: true };
      });
      this.#transactAll = (writes) => transactAll.immediate(writes);
      const journal =
        options.legacyJournal === undefined
          ? options.file
            ? join(dirname(options.file), 'state.journal')
            : null
          : options.legacyJournal;
      if (journal && existsSync(journal)) this.#importJournal(journal);
      const lastSweep = this.#db.prepare<[string], string>('SELECT value FROM meta WHERE key = ?').pluck().get('lastExpirySweep');
      this.#nextSweep = Number(lastSweep ?? 0) + this.#expirySweepMs;
      this.#maybeSweep();
    } catch (error) {
      this.#db.close();
      throw error;
    }
  }

  #configure(options: EmbeddedStateStoreOptions): void {
    const db = this.#db;
    db.pragma('busy_timeout = 5000');
    if (this.#file !== ':memory:') {
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal') throw new Error(`state database ${this.#file}: cannot use WAL (journal_mode is ${String(mode)})`);
    }
    db.pragma('synchronous = NORMAL');
    db.pragma('temp_store = MEMORY');
    db.pragma(`cache_size = ${-Math.max(1024, Math.round(options.cacheKib ?? 16_384))}`);
    if (options.maxPageCount !== undefined) db.pragma(`max_page_count = ${Math.round(options.maxPageCount)}`);
    const version = Number(db.pragma('user_version', { simple: true }));
    if (version > SCHEMA_VERSION) {
      throw new Error(`state database ${this.#file} has schema version ${version}: written by a newer scrapeline`);
    }
    if (version < SCHEMA_VERSION) {
      db.exec(`
        BEGIN IMMEDIATE;
        CREATE TABLE IF NOT EXISTS items (
          pk TEXT NOT NULL,
          sk TEXT NOT NULL,
          item TEXT NOT NULL,
          expires_at NUMERIC,
          PRIMARY KEY (pk, sk)
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
        PRAGMA user_version = ${SCHEMA_VERSION};
        COMMIT;
      `);
    }
  }

  /**
   * Imports the journal of earlier versions in one transaction (all or nothing), then renames it. The meta row
   * remembers the journal imported (size and mtime), so a crash between the commit and the rename does not import it
   * again over newer writes.
   */
  #importJournal(journal: string): void {
    const stat = statSync(journal);
    const identity = JSON.stringify({ size: stat.size, mtimeMs: stat.mtimeMs });
    const imported = this.#db.prepare<[string], string>('SELECT value FROM meta WHERE key = ?').pluck().get('journalImported');
    if (imported !== identity) {
      const remove = this.#db.prepare<[string, string]>('DELETE FROM items WHERE pk = ? AND sk = ?');
      const importAll = this.#db.transaction(() => {
        replayLegacyJournal(journal, (entry) => {
          if (entry.item) this.#upsert.run(entry.pk, entry.sk, JSON.stringify(entry.item), expiryOf(entry.item));
          else remove.run(entry.pk, entry.sk);
        });
        this.#setMeta.run('journalImported', identity);
      });
      try {
        importAll.immediate();
      } catch (error) {
        throw this.#mapError(error, undefined);
      }
    }
    renameSync(journal, `${journal}.imported`);
  }

  /** Deletes the expired items when a sweep is due, and remembers when (so a reopen does not sweep again). */
  #maybeSweep(): void {
    const now = this.#now();
    if (now < this.#nextSweep) return;
    this.#nextSweep = now + this.#expirySweepMs;
    try {
      this.#db.transaction(() => {
        this.#deleteExpired.run(Math.floor(now / 1000));
        this.#setMeta.run('lastExpirySweep', String(now));
      })();
    } catch (error) {
      throw this.#mapError(error, undefined);
    }
  }

  #read(pk: string, sk: string): MutableItem | undefined {
    const json = this.#select.get(pk, sk);
    return json === undefined ? undefined : JSON.parse(json);
  }

  /** SQLite's disk-full error as a {@link DiskFullError}; anything else as it is. */
  #mapError(error: unknown, pk: string | undefined): unknown {
    const code = (error as { code?: unknown } | undefined)?.code;
    if (code === 'SQLITE_FULL') return new DiskFullError(this.#file, pk, error);
    return error;
  }

  async get(pk: string, sk: string): Promise<StateItem | undefined> {
    return this.#read(pk, sk);
  }

  async *query(pk: string, skPrefix: string): AsyncIterable<StateItem & { readonly sk: string }> {
    const upper = prefixSuccessor(skPrefix);
    const limit = this.#queryPageSize;
    let after: string | undefined;
    for (;;) {
      // A whole page at once: no statement stays open across the caller's awaits (and writes).
      const rows =
        upper === undefined
          ? after === undefined
            ? this.#pages.first.all(pk, skPrefix, limit)
            : this.#pages.next.all(pk, after, limit)
          : after === undefined
            ? this.#pages.firstBounded.all(pk, skPrefix, upper, limit)
            : this.#pages.nextBounded.all(pk, after, upper, limit);
      // Not `{ ...JSON.parse(row.item), sk }`: V8 (Node 20) promotes nearly every object built as a spread with more
      // properties to the old generation, where it waits for a full collection (finalization reads every item).
      for (const row of rows) yield Object.assign(JSON.parse(row.item), { sk: row.sk });
      const last = rows[rows.length - 1];
      if (rows.length < limit || last === undefined) return;
      after = last.sk;
    }
  }

  async transact(writes: readonly StateWrite[]): Promise<TransactResult> {
    if (writes.length > MAX_TRANSACT_WRITES) {
      throw new Error(`a transaction holds at most ${MAX_TRANSACT_WRITES} writes, got ${writes.length}`);
    }
    const targets = new Set(writes.map((write) => `${write.pk}\u0000${write.sk}`));
    if (targets.size < writes.length) throw new Error('a transaction cannot write one item twice (DynamoDB refuses it)');
    if (writes.length === 0) return { ok: true };
    for (const write of writes) checkWrite(write);
    this.#maybeSweep();
    try {
      return this.#transactAll(writes);
    } catch (error) {
      throw this.#mapError(error, (writes.find((write) => write.pk.startsWith('run#')) ?? writes[0])?.pk);
    }
  }

  async write(write: StateWrite): Promise<StateItem | undefined> {
    checkWrite(write);
    this.#maybeSweep();
    try {
      return this.#writeOne(write);
    } catch (error) {
      throw this.#mapError(error, write.pk);
    }
  }

  async tryWrite(write: StateWrite): Promise<TryWriteResult> {
    const item = await this.write(write);
    return item ? { ok: true, item } : { ok: false, current: this.#read(write.pk, write.sk) };
  }

  async getMany(keys: readonly StateKey[]): Promise<(StateItem | undefined)[]> {
    if (keys.length > MAX_GET_MANY) throw new Error(`getMany takes at most ${MAX_GET_MANY} keys, got ${keys.length}`);
    return keys.map((key) => this.#read(key.pk, key.sk));
  }

  /** Closes the database (idempotent). Later calls throw. */
  close(): void {
    if (this.#db.open) this.#db.close();
  }
}

interface PageRow {
  readonly sk: string;
  readonly item: string;
}
