import { createHash } from 'node:crypto';
import { createReadStream, type Dirent } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { InvalidInputError, ObjectNotFoundError } from '../errors.js';
import type { ObjectInfo, ObjectStore, PutOptions } from '../ports.js';

/** Longest key accepted (S3's limit). */
const MAX_KEY_BYTES = 1024;

/** Longest file name most file systems accept (ext4, APFS, NTFS, tmpfs: 255). */
const MAX_NAME_BYTES = 255;

/**
 * The store's own folder under the root (temporary files, names of hashed segments) and the start of every
 * hashed file name. No key segment is written literally with this start (see {@link fileName}), so neither
 * can collide with an object.
 */
const RESERVED = '.scrapeline~';

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
 * The file name of a key segment: the segment itself, or, when it is longer than a file name may be or starts
 * like the store's reserved names, `.scrapeline~<sha-256 of the segment>` (its original is kept in the store's
 * folder, for {@link FileSystemObjectStore.list}).
 */
function fileName(segment: string): string {
  if (Buffer.byteLength(segment) <= MAX_NAME_BYTES && !segment.toLowerCase().startsWith(RESERVED)) return segment;
  return `${RESERVED}${createHash('sha256').update(segment).digest('hex')}`;
}

/** The error of a file operation on a path that is not a file: missing, a folder, or below a file. */
function isNotFile(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR';
}

/**
 * An object store on the local file system with the S3 key layout: key `a/b/c` is the file `<root>/a/b/c`.
 * Writes are atomic (write to a temporary file, then rename) and raise object-created events.
 *
 * The store keeps its own files in `<root>/.scrapeline~/`: temporary files while writing, and the original of
 * every key segment stored under a hashed name (longer than 255 bytes, or starting with `.scrapeline~`).
 */
export class FileSystemObjectStore implements ObjectStore {
  readonly #root: string;
  readonly #temporary: string;
  readonly #names: string;
  readonly #listeners: ObjectCreatedListener[] = [];
  readonly #folders = new Set<string>();
  #sequence = 0;

  constructor(options: FileSystemObjectStoreOptions) {
    this.#root = resolve(options.root);
    this.#temporary = join(this.#root, RESERVED, 'tmp');
    this.#names = join(this.#root, RESERVED, 'names');
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
    const path = resolve(this.#root, ...key.split('/').map(fileName));
    if (!path.startsWith(this.#root + sep)) throw new InvalidInputError(`object key escapes the store: ${JSON.stringify(key)}`);
    return path;
  }

  /** Writes `body` to a temporary file, then renames it to `path`: readers see the old or the new file, whole. */
  async #writeAtomically(path: string, body: Uint8Array | string): Promise<void> {
    await mkdir(this.#temporary, { recursive: true });
    const temporary = join(this.#temporary, `${process.pid}.${++this.#sequence}`);
    try {
      await writeFile(temporary, body);
      await rename(temporary, path);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
  }

  /** Deletes the folder holding every object under `folder` (a prefix ending in `/`). */
  async discard(folder: string): Promise<void> {
    if (!folder.endsWith('/')) throw new InvalidInputError(`not a folder prefix: ${JSON.stringify(folder)}`);
    const path = this.#path(folder.slice(0, -1));
    await rm(path, { recursive: true, force: true });
    for (const known of this.#folders) if (known === path || known.startsWith(path + sep)) this.#folders.delete(known);
  }

  async put(key: string, body: Uint8Array | string, _options?: PutOptions): Promise<void> {
    const path = this.#path(key);
    for (const segment of key.split('/')) {
      const name = fileName(segment);
      if (name === segment) continue;
      await mkdir(this.#names, { recursive: true });
      await this.#writeAtomically(join(this.#names, name), segment);
    }
    const folder = dirname(path);
    // Objects of a run share a handful of folders: create each once per process, not once per write.
    if (!this.#folders.has(folder)) {
      await mkdir(folder, { recursive: true });
      this.#folders.add(folder);
    }
    await this.#writeAtomically(path, body);
    const size = typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
    for (const listener of this.#listeners) await listener(key, size);
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      return await readFile(this.#path(key));
    } catch (error) {
      if (isNotFile(error)) return undefined;
      throw error;
    }
  }

  async getRange(key: string, offset: number, length: number): Promise<Uint8Array> {
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(this.#path(key), 'r');
    } catch (error) {
      if (isNotFile(error)) throw new ObjectNotFoundError(key);
      throw error;
    }
    try {
      // A key that is only a prefix of others is a folder, which opens for reading on some systems.
      if (!(await handle.stat()).isFile()) throw new ObjectNotFoundError(key);
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
      if (!(await stat(path)).isFile()) return undefined;
    } catch (error) {
      if (isNotFile(error)) return undefined;
      throw error;
    }
    return createReadStream(path);
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const slash = prefix.lastIndexOf('/');
    const folder = slash < 0 ? '' : prefix.slice(0, slash);
    if (folder !== '') assertSafeKey(folder);
    yield* this.#walk(folder, folder === '' ? this.#root : this.#path(folder), prefix);
  }

  /** The key segment a file name stands for; `undefined` for a hashed name whose original is lost. */
  async #segment(name: string): Promise<string | undefined> {
    if (!name.startsWith(RESERVED)) return name;
    try {
      return await readFile(join(this.#names, name), 'utf8');
    } catch (error) {
      if (isNotFile(error)) return undefined;
      throw error;
    }
  }

  /** Walks a folder in key order (S3 lists keys in UTF-8 byte order; `/` sorts before letters and digits). */
  async *#walk(folder: string, dir: string, prefix: string): AsyncIterable<ObjectInfo> {
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (error) {
      if (isNotFile(error)) return;
      throw error;
    }
    const named: { entry: Dirent; key: string; sortKey: string }[] = [];
    for (const entry of entries) {
      if (folder === '' && entry.name === RESERVED) continue;
      const segment = await this.#segment(entry.name);
      if (segment === undefined) continue;
      const key = folder === '' ? segment : `${folder}/${segment}`;
      named.push({ entry, key, sortKey: entry.isDirectory() ? `${key}/` : key });
    }
    named.sort((a, b) => Buffer.compare(Buffer.from(a.sortKey), Buffer.from(b.sortKey)));
    for (const { entry, key, sortKey } of named) {
      if (!sortKey.startsWith(prefix) && !prefix.startsWith(sortKey)) continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) yield* this.#walk(key, path, prefix);
      else if (key.startsWith(prefix)) yield { key, size: (await stat(path)).size };
    }
  }
}
