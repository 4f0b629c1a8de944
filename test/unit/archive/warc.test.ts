import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  type ArchivedExchange,
  encodeExchange,
  readArchivedResponse,
  readWarcRecord,
  WarcBatch,
} from '../../../shared/archive/warc.js';
import { InvalidInputError } from '../../../shared/errors.js';

const ALL_BYTES = Uint8Array.from({ length: 256 }, (_, index) => index);

function exchange(overrides: Partial<ArchivedExchange> = {}): ArchivedExchange {
  return {
    targetUri: 'https://shop.example/catalogue/p/1.html?x=1',
    date: new Date('2024-05-06T07:08:09.123Z'),
    status: 200,
    responseHeaders: { 'Content-Type': 'text/html; charset=utf-8', ETag: '"abc"' },
    body: Buffer.from('<html><body>Hello</body></html>'),
    requestHeaders: { 'User-Agent': 'scrapeline-test', Accept: 'text/html' },
    extensions: { 'Requested-URI': 'https://shop.example/p/1', Depth: '2', Template: 'book' },
    ...overrides,
  };
}

function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

describe('Function: encodeExchange', () => {
  it('round-trips a response through its gzip member', () => {
    // Prepare
    const input = exchange();

    // Act
    const { members, responseIndex } = encodeExchange(input);
    const response = readArchivedResponse(members[responseIndex] ?? Buffer.alloc(0));

    // Assess
    expect(members).toHaveLength(2);
    expect(response).toEqual({
      targetUri: 'https://shop.example/catalogue/p/1.html?x=1',
      date: '2024-05-06T07:08:09Z',
      status: 200,
      headers: {
        'content-type': 'text/html; charset=utf-8',
        etag: '"abc"',
        'content-length': String(input.body.byteLength),
      },
      body: Buffer.from(input.body),
      payloadDigest: sha256(input.body),
      extensions: { 'Requested-URI': 'https://shop.example/p/1', Depth: '2', Template: 'book' },
    });
  });

  it.each([
    ['every byte value', ALL_BYTES],
    ['windows-1252 text', Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x20, 0x80, 0x9f])],
    ['Shift_JIS text', Buffer.from([0x93, 0xfa, 0x96, 0x7b])],
    ['blank lines and CRLFs', Buffer.from('\r\n\r\nbody\r\n\r\nmore\r\n\r\n')],
    ['an empty body', new Uint8Array()],
    ['a gzip-looking body', gzipSync('nested')],
    ['a large body', Buffer.alloc(2 * 1024 * 1024, 0xab)],
  ])('keeps the body bytes exactly: %s', (_what, body) => {
    // Act
    const { members, responseIndex } = encodeExchange(exchange({ body }));
    const response = readArchivedResponse(members[responseIndex] ?? Buffer.alloc(0));

    // Assess
    expect(response.body.equals(Buffer.from(body))).toBe(true);
    expect(response.headers['content-length']).toBe(String(body.byteLength));
  });

  it('strips headers only HTTP framing needs, whatever their case, and states the stored length', () => {
    // Prepare
    const input = exchange({
      responseHeaders: {
        'Content-Encoding': 'gzip',
        'transfer-encoding': 'chunked',
        'CONTENT-LENGTH': '999',
        Connection: 'keep-alive',
        'Keep-Alive': 'timeout=5',
        'content-type': 'text/html',
        vary: 'Accept-Encoding',
      },
    });

    // Act
    const { members, responseIndex } = encodeExchange(input);
    const response = readArchivedResponse(members[responseIndex] ?? Buffer.alloc(0));

    // Assess
    expect(response.headers).toEqual({
      'content-type': 'text/html',
      vary: 'Accept-Encoding',
      'content-length': String(input.body.byteLength),
    });
  });

  it('neutralises line breaks in header values, statuses included', () => {
    // Prepare
    const input = exchange({
      responseHeaders: { 'x-evil': 'a\r\nSet-Cookie: stolen=1\r\n\r\n<script>' },
      requestHeaders: { 'x-evil': 'b\nHost: other.example' },
      extensions: { Template: 'book\r\nWARC-Type: request' },
    });

    // Act
    const { members, responseIndex } = encodeExchange(input);
    const response = readArchivedResponse(members[responseIndex] ?? Buffer.alloc(0));
    const request = readWarcRecord(members[0] ?? Buffer.alloc(0));

    // Assess
    expect(response.headers['x-evil']).toBe('a Set-Cookie: stolen=1 <script>');
    expect(response.headers).not.toHaveProperty('set-cookie');
    expect(response.extensions.Template).toBe('book WARC-Type: request');
    expect(response.body.equals(input.body)).toBe(true);
    expect(request.block.toString()).toContain('x-evil: b Host: other.example\r\n');
  });

  it('writes a request record concurrent to the response, with the request line and headers', () => {
    // Prepare
    const input = exchange();

    // Act
    const { members } = encodeExchange(input);
    const request = readWarcRecord(members[0] ?? Buffer.alloc(0));
    const response = readWarcRecord(members[1] ?? Buffer.alloc(0));

    // Assess
    expect(request.fields).toMatchObject({
      'WARC-Type': 'request',
      'WARC-Date': '2024-05-06T07:08:09Z',
      'WARC-Target-URI': input.targetUri,
      'WARC-Concurrent-To': response.fields['WARC-Record-ID'],
      'Content-Type': 'application/http;msgtype=request',
      'WARC-Block-Digest': sha256(request.block),
    });
    expect(request.block.toString()).toBe(
      'GET /catalogue/p/1.html?x=1 HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: scrapeline-test\r\nAccept: text/html\r\n\r\n',
    );
  });

  it('writes a response record with digests, type and length of its block', () => {
    // Prepare
    const input = exchange({ body: ALL_BYTES });

    // Act
    const { members } = encodeExchange(input);
    const raw = gunzipSync(members[1] ?? Buffer.alloc(0));
    const record = readWarcRecord(raw);

    // Assess
    expect(raw.subarray(0, 10).toString()).toBe('WARC/1.1\r\n');
    expect(raw.subarray(-4).toString()).toBe('\r\n\r\n');
    expect(record.fields).toMatchObject({
      'WARC-Type': 'response',
      'WARC-Payload-Digest': sha256(ALL_BYTES),
      'WARC-Block-Digest': sha256(record.block),
      'Content-Type': 'application/http;msgtype=response',
      'Content-Length': String(record.block.byteLength),
      'Scrapeline-Depth': '2',
    });
    expect(record.fields['WARC-Record-ID']).toMatch(
      /^<urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-a[0-9a-f]{3}-[0-9a-f]{12}>$/,
    );
  });

  it('produces the same bytes for the same fetch, and other ids for another body, URL or date', () => {
    // Prepare
    const id = (input: ArchivedExchange) =>
      readWarcRecord(encodeExchange(input).members[1] ?? Buffer.alloc(0)).fields['WARC-Record-ID'];

    // Act
    const first = encodeExchange(exchange());
    const second = encodeExchange(exchange());

    // Assess
    expect(Buffer.concat(first.members).equals(Buffer.concat(second.members))).toBe(true);
    const ids = new Set([
      id(exchange()),
      id(exchange({ body: Buffer.from('other') })),
      id(exchange({ targetUri: 'https://shop.example/other' })),
      id(exchange({ date: new Date('2024-05-06T07:08:10Z') })),
    ]);
    expect(ids.size).toBe(4);
  });
});

describe('Class: WarcBatch', () => {
  it('starts empty', () => {
    // Act
    const batch = new WarcBatch();

    // Assess
    expect(batch.isEmpty).toBe(true);
    expect(batch.size).toBe(0);
    expect(batch.toBuffer().byteLength).toBe(0);
  });

  it('returns ranges under which each response member reads back alone', () => {
    // Prepare
    const batch = new WarcBatch();
    const inputs = [
      exchange({ targetUri: 'https://shop.example/a', body: Buffer.from('A body') }),
      exchange({ targetUri: 'https://shop.example/b', body: ALL_BYTES }),
      exchange({ targetUri: 'https://shop.example/c', body: Buffer.alloc(100_000, 1), extensions: {} }),
    ];

    // Act
    const ranges = inputs.map((input) => batch.add(input));
    const archive = batch.toBuffer();

    // Assess
    expect(batch.isEmpty).toBe(false);
    expect(batch.size).toBe(archive.byteLength);
    ranges.forEach((range, index) => {
      const slice = archive.subarray(range.offset, range.offset + range.length);
      expect(gunzipSync(slice).subarray(0, 8).toString()).toBe('WARC/1.1');
      const response = readArchivedResponse(slice);
      expect(response.targetUri).toBe(inputs[index]?.targetUri);
      expect(response.body.equals(Buffer.from(inputs[index]?.body ?? []))).toBe(true);
    });
    expect(ranges[2]?.offset).toBeGreaterThan((ranges[1]?.offset ?? 0) + (ranges[1]?.length ?? 0));
  });

  it('is one valid multi-member gzip file holding a request and a response per exchange', () => {
    // Prepare
    const batch = new WarcBatch();
    batch.add(exchange({ targetUri: 'https://shop.example/a' }));
    batch.add(exchange({ targetUri: 'https://shop.example/b' }));

    // Act
    const text = gunzipSync(batch.toBuffer()).toString('latin1');

    // Assess
    expect(text.match(/^WARC\/1\.1\r$/gm)).toHaveLength(4);
    expect(text.match(/WARC-Type: (\w+)/g)).toEqual([
      'WARC-Type: request',
      'WARC-Type: response',
      'WARC-Type: request',
      'WARC-Type: response',
    ]);
  });
});

describe('Function: readArchivedResponse', () => {
  it('reads an already decompressed record', () => {
    // Prepare
    const member = encodeExchange(exchange()).members[1] ?? Buffer.alloc(0);

    // Act
    const response = readArchivedResponse(gunzipSync(member));

    // Assess
    expect(response.status).toBe(200);
  });

  it.each([
    ['an empty buffer', Buffer.alloc(0), 'WARC record: no end of headers'],
    ['plain text', Buffer.from('hello world'), 'WARC record: no end of headers'],
    ['an HTTP response', Buffer.from('HTTP/1.1 200 OK\r\n\r\nbody'), 'not a WARC record (starts with "HTTP/1.1 200 OK")'],
    [
      'a record without Content-Length',
      Buffer.from('WARC/1.1\r\nWARC-Type: response\r\n\r\nxx'),
      'WARC record: Content-Length missing or beyond the record',
    ],
    [
      'a record shorter than its Content-Length',
      Buffer.from('WARC/1.1\r\nWARC-Type: response\r\nContent-Length: 50\r\n\r\nxx'),
      'WARC record: Content-Length missing or beyond the record',
    ],
    [
      'a negative Content-Length',
      Buffer.from('WARC/1.1\r\nWARC-Type: response\r\nContent-Length: -1\r\n\r\nxx'),
      'WARC record: Content-Length missing or beyond the record',
    ],
    [
      'a request record',
      encodeExchange(exchange()).members[0] ?? Buffer.alloc(0),
      'expected a WARC response record, got "request"',
    ],
    [
      'a response without HTTP head end',
      gzipSync('WARC/1.1\r\nWARC-Type: response\r\nContent-Length: 4\r\n\r\nHTTP'),
      'archived HTTP response: no end of headers',
    ],
    [
      'a bad status line',
      gzipSync('WARC/1.1\r\nWARC-Type: response\r\nContent-Length: 15\r\n\r\nHTTP/1.1 OK\r\n\r\n'),
      'archived HTTP response: bad status line',
    ],
  ])('refuses %s with InvalidInputError', (_what, bytes, message) => {
    // Act & Assess
    expect(() => readArchivedResponse(bytes)).toThrow(new InvalidInputError(message));
  });

  it.each([
    ['a truncated member', (encodeExchange(exchange()).members[1] ?? Buffer.alloc(0)).subarray(0, 40)],
    ['a gzip header with garbage', Buffer.from([0x1f, 0x8b, 0x08, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 9])],
  ])('refuses %s with InvalidInputError', (_what, bytes) => {
    // Act & Assess
    expect(() => readArchivedResponse(bytes)).toThrow(InvalidInputError);
  });
});
