import { gunzipSync, gzipSync } from 'node:zlib';
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
