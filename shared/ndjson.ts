import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { createGzip, gunzipSync, gzipSync } from 'node:zlib';
import { InvalidInputError } from './errors.js';

/** Rows as gzip-compressed NDJSON (one JSON value a line, a newline after the last), the format of every data object. */
export function gzipNdjson(rows: readonly unknown[]): Buffer {
  return gzipSync(`${rows.map((row) => JSON.stringify(row)).join('\n')}\n`);
}

/**
 * The lines of gzip-compressed text, blank ones included (so that an error can name a line by its number); `what`
 * names the object in the error when it is not gzip.
 */
export function gunzipLines(what: string, body: Uint8Array): string[] {
  let text: string;
  try {
    text = gunzipSync(body).toString('utf8');
  } catch (error) {
    throw new InvalidInputError(`${what}: not gzip`, error);
  }
  return text.split('\n');
}

/** Text gathered before it goes to the compressor: a write per few dozen rows, not one per row. */
const PENDING_CHARS = 64 * 1024;

/**
 * One gzip NDJSON object built a row at a time: each row is serialized and compressed as it comes, so that only
 * the compressed bytes (and about {@link PENDING_CHARS} of text waiting for the compressor) are held, never the
 * rows. The bytes are those {@link gzipNdjson} makes of the same rows (one or more).
 */
export class GzipNdjsonWriter {
  readonly #gzip = createGzip();
  readonly #chunks: Buffer[] = [];
  #pending = '';
  #failure: Error | undefined;
  /** Rows written so far. */
  rows = 0;

  constructor() {
    this.#gzip.on('data', (chunk: Buffer) => this.#chunks.push(chunk));
    this.#gzip.on('error', (error) => {
      this.#failure = error;
    });
  }

  async write(row: unknown): Promise<void> {
    this.#pending += `${JSON.stringify(row)}\n`;
    this.rows++;
    if (this.#pending.length >= PENDING_CHARS) await this.#send();
  }

  /** The whole object: ends the stream and hands back its bytes; write nothing after. */
  async end(): Promise<Buffer> {
    if (this.#pending !== '') await this.#send();
    this.#gzip.end();
    await finished(this.#gzip);
    return Buffer.concat(this.#chunks);
  }

  async #send(): Promise<void> {
    const text = this.#pending;
    this.#pending = '';
    if (this.#failure) throw this.#failure;
    if (!this.#gzip.write(text)) await once(this.#gzip, 'drain');
  }
}

/**
 * Rows as gzip NDJSON objects of `partRows` rows each (the last one holding the rest), compressed as they are
 * pushed ({@link GzipNdjsonWriter}): the parts {@link gzipNdjson} would make of the same rows in batches of
 * `partRows`, without holding them.
 */
export class GzipNdjsonParts {
  readonly #partRows: number;
  readonly #write: (body: Buffer, index: number) => Promise<void>;
  #part: GzipNdjsonWriter | undefined;
  /** Rows pushed so far. */
  count = 0;
  /** Parts written so far. */
  written = 0;

  /**
   * @param partRows rows per part
   * @param write called with each part's bytes and its index (0, 1, …), one at a time
   */
  constructor(partRows: number, write: (body: Buffer, index: number) => Promise<void>) {
    if (!Number.isInteger(partRows) || partRows < 1) throw new RangeError(`partRows must be a positive integer, got ${partRows}`);
    this.#partRows = partRows;
    this.#write = write;
  }

  async push(row: unknown): Promise<void> {
    this.#part ??= new GzipNdjsonWriter();
    await this.#part.write(row);
    this.count++;
    if (this.#part.rows >= this.#partRows) await this.flush();
  }

  /** Writes the part of the rows pushed since the last one, if any. */
  async flush(): Promise<void> {
    const part = this.#part;
    if (!part) return;
    this.#part = undefined;
    await this.#write(await part.end(), this.written++);
  }
}
