import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync, inflateRawSync } from 'node:zlib';
import { InvalidInputError } from '../errors.js';

/**
 * WARC/1.1 (ISO 28500) records, each compressed as its own gzip member so that any record can be read alone
 * with a ranged read. Record ids derive from the content's identity, so writing the same fetch twice (at-least-once
 * delivery) produces the same bytes.
 */

/** Headers HTTP/1.1 framing added on the wire; the archived body is stored decompressed and unchunked. */
const WIRE_ONLY_HEADERS = new Set(['content-encoding', 'transfer-encoding', 'content-length', 'connection', 'keep-alive']);

/** An HTTP exchange to archive. */
export interface ArchivedExchange {
  /** Where the response came from (after redirects). */
  readonly targetUri: string;
  readonly date: Date;
  readonly status: number;
  readonly statusText?: string;
  readonly responseHeaders: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
  readonly requestHeaders: Readonly<Record<string, string>>;
  /** Extension fields (`Scrapeline-*`) carried on the response record: requested URL, depth, template. */
  readonly extensions?: Readonly<Record<string, string>>;
}

/** Byte range of one gzip member in an archive object. */
export interface MemberRange {
  readonly offset: number;
  readonly length: number;
}

function recordId(...parts: string[]): string {
  const hex = createHash('sha256').update(parts.join('\n')).digest('hex');
  return `<urn:uuid:${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}>`;
}

/** `sha256:<hex>` of some bytes: the payload digest, and the content hash pages are compared by. */
export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

function headerBlock(lines: readonly string[]): Buffer {
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'utf8');
}

function safeHeaderValue(value: string): string {
  return value.replace(/[\r\n]+/g, ' ');
}

function warcMember(fields: Record<string, string>, block: Buffer): Buffer {
  const head = [
    'WARC/1.1',
    ...Object.entries(fields).map(([name, value]) => `${name}: ${safeHeaderValue(value)}`),
    `Content-Length: ${block.byteLength}`,
  ];
  return gzipSync(Buffer.concat([headerBlock(head), block, Buffer.from('\r\n\r\n')]), { level: 1 });
}

/** Encodes a request record and a response record; returns both gzip members and the response member's range. */
export function encodeExchange(exchange: ArchivedExchange): { members: Buffer[]; responseIndex: number } {
  const date = exchange.date.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const url = new URL(exchange.targetUri);
  const responseId = recordId('response', exchange.targetUri, date, sha256Digest(exchange.body));
  const requestBlock = headerBlock([
    `GET ${url.pathname}${url.search} HTTP/1.1`,
    `Host: ${url.host}`,
    ...Object.entries(exchange.requestHeaders).map(([name, value]) => `${name}: ${safeHeaderValue(value)}`),
  ]);
  const responseHead = headerBlock([
    `HTTP/1.1 ${exchange.status} ${exchange.statusText ?? 'OK'}`,
    ...Object.entries(exchange.responseHeaders)
      .filter(([name]) => !WIRE_ONLY_HEADERS.has(name.toLowerCase()))
      .map(([name, value]) => `${name}: ${safeHeaderValue(value)}`),
    `Content-Length: ${exchange.body.byteLength}`,
  ]);
  const responseBlock = Buffer.concat([responseHead, exchange.body]);
  const request = warcMember(
    {
      'WARC-Type': 'request',
      'WARC-Record-ID': recordId('request', responseId),
      'WARC-Date': date,
      'WARC-Target-URI': exchange.targetUri,
      'WARC-Concurrent-To': responseId,
      'WARC-Block-Digest': sha256Digest(requestBlock),
      'Content-Type': 'application/http;msgtype=request',
    },
    requestBlock,
  );
  const response = warcMember(
    {
      'WARC-Type': 'response',
      'WARC-Record-ID': responseId,
      'WARC-Date': date,
      'WARC-Target-URI': exchange.targetUri,
      'WARC-Payload-Digest': sha256Digest(exchange.body),
      'WARC-Block-Digest': sha256Digest(responseBlock),
      ...Object.fromEntries(Object.entries(exchange.extensions ?? {}).map(([name, value]) => [`Scrapeline-${name}`, value])),
      'Content-Type': 'application/http;msgtype=response',
    },
    responseBlock,
  );
  return { members: [request, response], responseIndex: 1 };
}

/** Accumulates exchanges into one archive object and remembers where each response record is. */
export class WarcBatch {
  readonly #members: Buffer[] = [];
  #size = 0;

  /** Adds an exchange; returns the byte range of its response record in the finished archive. */
  add(exchange: ArchivedExchange): MemberRange {
    const { members, responseIndex } = encodeExchange(exchange);
    let range: MemberRange = { offset: 0, length: 0 };
    members.forEach((member, index) => {
      if (index === responseIndex) range = { offset: this.#size, length: member.byteLength };
      this.#members.push(member);
      this.#size += member.byteLength;
    });
    return range;
  }

  get size(): number {
    return this.#size;
  }

  get isEmpty(): boolean {
    return this.#members.length === 0;
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.#members, this.#size);
  }
}

/** A WARC record read back. */
export interface WarcRecord {
  readonly fields: Readonly<Record<string, string>>;
  readonly block: Buffer;
}

/** An archived HTTP response read back from a response record. */
export interface ArchivedResponse {
  readonly targetUri: string;
  readonly date: string;
  readonly status: number;
  /** Lowercased names. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  /** `WARC-Payload-Digest` (`sha256:<hex>` as written here). */
  readonly payloadDigest: string;
  readonly extensions: Readonly<Record<string, string>>;
}

function splitHead(bytes: Buffer, what: string): { head: string[]; rest: Buffer } {
  const end = bytes.indexOf('\r\n\r\n');
  if (end < 0) throw new InvalidInputError(`${what}: no end of headers`);
  return { head: bytes.subarray(0, end).toString('utf8').split('\r\n'), rest: bytes.subarray(end + 4) };
}

/** Decompresses a gzip member; bytes that are not a whole member (a wrong range, a truncated object) are input errors. */
function gunzipMember(bytes: Buffer): Buffer {
  try {
    return gunzipSync(bytes);
  } catch (error) {
    throw new InvalidInputError(`WARC record: not a whole gzip member (${(error as Error).message})`, error);
  }
}

/**
 * Reads one WARC record (one gzip member, or its decompressed bytes).
 *
 * @throws {InvalidInputError} when the bytes are not a whole, well-formed record
 */
export function readWarcRecord(member: Uint8Array): WarcRecord {
  const bytes = Buffer.from(member.buffer, member.byteOffset, member.byteLength);
  const raw = bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipMember(bytes) : bytes;
  const { head, rest } = splitHead(raw, 'WARC record');
  if (!head[0]?.startsWith('WARC/'))
    throw new InvalidInputError(`not a WARC record (starts with ${JSON.stringify(head[0]?.slice(0, 20))})`);
  const fields: Record<string, string> = {};
  for (const line of head.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) fields[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  const length = Number(fields['Content-Length']);
  if (!Number.isInteger(length) || length < 0 || length > rest.byteLength) {
    throw new InvalidInputError('WARC record: Content-Length missing or beyond the record');
  }
  return { fields, block: rest.subarray(0, length) };
}

/** Reads the HTTP response stored in a WARC response record. */
export function readArchivedResponse(member: Uint8Array): ArchivedResponse {
  const record = readWarcRecord(member);
  if (record.fields['WARC-Type'] !== 'response') {
    throw new InvalidInputError(`expected a WARC response record, got "${record.fields['WARC-Type']}"`);
  }
  const { head, rest } = splitHead(record.block, 'archived HTTP response');
  const status = Number(/^HTTP\/\d(?:\.\d)? (\d{3})/.exec(head[0] ?? '')?.[1]);
  if (!Number.isInteger(status)) throw new InvalidInputError('archived HTTP response: bad status line');
  const headers: Record<string, string> = {};
  for (const line of head.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const extensions: Record<string, string> = {};
  for (const [name, value] of Object.entries(record.fields)) {
    if (name.startsWith('Scrapeline-')) extensions[name.slice('Scrapeline-'.length)] = value;
  }
  return {
    targetUri: record.fields['WARC-Target-URI'] ?? '',
    date: record.fields['WARC-Date'] ?? '',
    status,
    headers,
    body: rest,
    payloadDigest: record.fields['WARC-Payload-Digest'] ?? sha256Digest(rest),
    extensions,
  };
}

/** Gzip header flags (RFC 1952) that add optional fields after the fixed 10-byte header. */
const FHCRC = 0x02;
const FEXTRA = 0x04;
const FNAME = 0x08;
const FCOMMENT = 0x10;

function headerLength(bytes: Buffer, offset: number): number {
  if (bytes[offset] !== 0x1f || bytes[offset + 1] !== 0x8b || bytes[offset + 2] !== 8) {
    throw new InvalidInputError(`no gzip member at byte ${offset}`);
  }
  const flags = bytes[offset + 3] ?? 0;
  let position = offset + 10;
  if (flags & FEXTRA) position += 2 + (bytes.readUInt16LE(position) ?? 0);
  if (flags & FNAME) position = bytes.indexOf(0, position) + 1;
  if (flags & FCOMMENT) position = bytes.indexOf(0, position) + 1;
  if (flags & FHCRC) position += 2;
  if (position <= offset || position > bytes.byteLength) throw new InvalidInputError(`truncated gzip header at byte ${offset}`);
  return position - offset;
}

/**
 * Finds the gzip members of a WARC file (one record each, as written here and by most crawlers), so each record can
 * be read alone with a ranged read.
 */
export function gzipMembers(file: Uint8Array): MemberRange[] {
  const bytes = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  const members: MemberRange[] = [];
  let offset = 0;
  while (offset < bytes.byteLength) {
    const header = headerLength(bytes, offset);
    let deflated: number;
    try {
      const result = inflateRawSync(bytes.subarray(offset + header), { info: true }) as unknown as {
        engine: { bytesWritten: number };
      };
      deflated = result.engine.bytesWritten;
    } catch (error) {
      throw new InvalidInputError(`gzip member at byte ${offset} cannot be inflated`, error);
    }
    const length = header + deflated + 8;
    if (offset + length > bytes.byteLength) throw new InvalidInputError(`gzip member at byte ${offset} is truncated`);
    members.push({ offset, length });
    offset += length;
  }
  return members;
}
