import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { InvalidInputError, ObjectNotFoundError } from '../errors.js';
import type { ObjectInfo, ObjectStore, PutOptions } from '../ports.js';

/** Longest key accepted (S3's limit). */
const MAX_KEY_BYTES = 1024;

/** Called after an object is written, like an S3 ObjectCreated notification. */
export type ObjectCreatedListener = (key: string, size: number) => void | Promise<void>;

/**
 * Checks that a key maps to a path inside the store: non-empty segments, no `.`/`..`, no backslashes, NUL or
 * control characters, at most 1,024 bytes.
 *
 * @throws {InvalidInputError} naming what is wrong with the key
 */
export function assertSafeKey(key: string): void {
  if (key.length === 0) throw new InvalidInputError('object key is empty');
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) throw new InvalidInputError(`object key longer than ${MAX_KEY_BYTES} bytes`);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused here
  if (/[\u0000-\u001f\u007f\\]/.test(key))
    throw new InvalidInputError(`object key has a control character or backslash: ${JSON.stringify(key)}`);
  for (const part of key.split('/')) {
    if (part === '' || part === '.' || part === '..') {
      throw new InvalidInputError(`object key has an empty, "." or ".." segment: ${JSON.stringify(key)}`);
    }
  }
}

/** Options of {@link FileSystemObjectStore}. */
export interface FileSystemObjectStoreOptions {
  /** Folder holding the objects; created when missing. */
  readonly root: string;
}

/**
 * An object store on the local file system with the S3 key layout: key `a/b/c` is the file `<root>/a/b/c`.
 * Writes are atomic (write to a temporary file, then rename) and raise object-created events.
 */
export class FileSystemObjectStore implements ObjectStore {
  readonly #root: string;
  readonly #listeners: ObjectCreatedListener[] = [];
  #sequence = 0;

  constructor(options: FileSystemObjectStoreOptions) {
    this.#root = resolve(options.root);
  }

  get root(): string {
    return this.#root;
  }

  /** Registers a listener for object-created events. */
  onObjectCreated(listener: ObjectCreatedListener): void {
    this.#listeners.push(listener);
  }

  #path(key: string): string {
    assertSafeKey(key);
    const path = resolve(this.#root, key);
    if (!path.startsWith(this.#root + sep)) throw new InvalidInputError(`object key escapes the store: ${JSON.stringify(key)}`);
    return path;
  }

  async put(key: string, body: Uint8Array | string, _options?: PutOptions): Promise<void> {
    const path = this.#path(key);
    await mkdir(dirname(path), { recursive: true });
    const temporary = `${path}.${process.pid}.${++this.#sequence}.tmp`;
    await writeFile(temporary, body);
    await rename(temporary, path);
    const size = typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
    for (const listener of this.#listeners) await listener(key, size);
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      return await readFile(this.#path(key));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'EISDIR')
        return undefined;
      throw error;
    }
  }

  async getRange(key: string, offset: number, length: number): Promise<Uint8Array> {
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(this.#path(key), 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new ObjectNotFoundError(key);
      throw error;
    }
    try {
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, offset);
      return buffer.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  }

  async getStream(key: string): Promise<AsyncIterable<Uint8Array> | undefined> {
    const path = this.#path(key);
    try {
      await stat(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    return createReadStream(path);
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const slash = prefix.lastIndexOf('/');
    const folder = slash < 0 ? '' : prefix.slice(0, slash);
    if (folder !== '') assertSafeKey(folder);
    yield* this.#walk(folder, prefix);
  }

  /** Walks a folder in key order (S3 lists keys in UTF-8 byte order; `/` sorts before letters and digits). */
  async *#walk(folder: string, prefix: string): AsyncIterable<ObjectInfo> {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(folder === '' ? this.#root : join(this.#root, folder), { withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    const named = entries
      .filter((entry) => !entry.name.endsWith('.tmp'))
      .map((entry) => ({ entry, key: folder === '' ? entry.name : `${folder}/${entry.name}` }))
      .map((item) => ({ ...item, sortKey: item.entry.isDirectory() ? `${item.key}/` : item.key }))
      .sort((a, b) => Buffer.compare(Buffer.from(a.sortKey), Buffer.from(b.sortKey)));
    for (const { entry, key, sortKey } of named) {
      if (!sortKey.startsWith(prefix) && !prefix.startsWith(sortKey)) continue;
      if (entry.isDirectory()) yield* this.#walk(key, prefix);
      else if (key.startsWith(prefix)) yield { key, size: (await stat(join(this.#root, key))).size };
    }
  }
}
