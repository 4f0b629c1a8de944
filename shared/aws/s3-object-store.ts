import {
  GetObjectCommand,
  type GetObjectCommandOutput,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { ObjectNotFoundError } from '../errors.js';
import type { ObjectInfo, ObjectStore, PutOptions } from '../ports.js';

/** Options of {@link S3ObjectStore}. */
export interface S3ObjectStoreOptions {
  readonly client: S3Client;
  readonly bucket: string;
  /** Keys per ListObjectsV2 page (1–1000). @default 1000 */
  readonly listPageSize?: number;
}

/** True for the errors S3 (and S3-compatible servers) answer a missing key with. */
function isMissing(error: unknown): boolean {
  const name = (error as { name?: string } | undefined)?.name;
  return name === 'NoSuchKey' || name === 'NotFound';
}

/**
 * The object store over S3. Keys are used as they are; listings come back in S3's order (ascending UTF-8 bytes).
 * Reading a missing key needs `s3:ListBucket` on the bucket: without it S3 answers 403 instead of 404.
 */
export class S3ObjectStore implements ObjectStore {
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #listPageSize: number;

  constructor(options: S3ObjectStoreOptions) {
    const pageSize = options.listPageSize ?? 1000;
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1000) {
      throw new RangeError(`listPageSize must be an integer from 1 to 1000, got ${pageSize}`);
    }
    if (options.bucket === '') throw new RangeError('bucket must not be empty');
    this.#client = options.client;
    this.#bucket = options.bucket;
    this.#listPageSize = pageSize;
  }

  get bucket(): string {
    return this.#bucket;
  }

  async put(key: string, body: Uint8Array | string, options: PutOptions = {}): Promise<void> {
    await this.#client.send(
      new PutObjectCommand({
        Bucket: this.#bucket,
        Key: key,
        Body: body,
        ContentType: options.contentType ?? 'application/octet-stream',
      }),
    );
  }

  async #getObject(key: string, range?: string): Promise<GetObjectCommandOutput | undefined> {
    try {
      return await this.#client.send(
        new GetObjectCommand({ Bucket: this.#bucket, Key: key, ...(range === undefined ? {} : { Range: range }) }),
      );
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const output = await this.#getObject(key);
    if (!output) return undefined;
    return output.Body ? await output.Body.transformToByteArray() : new Uint8Array(0);
  }

  async getRange(key: string, offset: number, length: number): Promise<Uint8Array> {
    if (!Number.isInteger(offset) || offset < 0) throw new RangeError(`offset must be a non-negative integer, got ${offset}`);
    if (!Number.isInteger(length) || length < 0) throw new RangeError(`length must be a non-negative integer, got ${length}`);
    let output: GetObjectCommandOutput | undefined;
    try {
      // A zero-length range cannot be expressed: ask for one byte to learn whether the key exists.
      output = await this.#getObject(key, `bytes=${offset}-${offset + Math.max(length, 1) - 1}`);
    } catch (error) {
      // A range that starts past the end: like reading past the end of a file, nothing comes back.
      if ((error as { name?: string }).name === 'InvalidRange') return new Uint8Array(0);
      throw error;
    }
    if (!output) throw new ObjectNotFoundError(key);
    const bytes = output.Body ? await output.Body.transformToByteArray() : new Uint8Array(0);
    return bytes.subarray(0, length);
  }

  async getStream(key: string): Promise<AsyncIterable<Uint8Array> | undefined> {
    const output = await this.#getObject(key);
    if (!output) return undefined;
    // In Node the body is an http.IncomingMessage: an async iterable of Buffers.
    return (output.Body as AsyncIterable<Uint8Array> | undefined) ?? emptyStream();
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    let token: string | undefined;
    do {
      const page = await this.#client.send(
        new ListObjectsV2Command({
          Bucket: this.#bucket,
          Prefix: prefix,
          MaxKeys: this.#listPageSize,
          ...(token === undefined ? {} : { ContinuationToken: token }),
        }),
      );
      for (const object of page.Contents ?? []) {
        if (object.Key !== undefined) yield { key: object.Key, size: object.Size ?? 0 };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }
}

async function* emptyStream(): AsyncIterable<Uint8Array> {}
