import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../shared/errors.js';
import {
  fetchQueueMessage,
  pageRecordSchema,
  parseMessage,
  parseTaskMessage,
  s3NotificationMessage,
} from '../../../shared/pipeline/messages.js';

const fetchTask = { type: 'fetch', job: 'books', runId: 'r-1', url: 'https://a.example/', depth: 0, hosts: ['a.example'] };
const parseTask = {
  type: 'parse',
  job: 'books',
  runId: 'r-1',
  url: 'https://a.example/',
  depth: 1,
  hosts: ['a.example'],
  raw: { key: 'raw/x.warc.gz', offset: 0, length: 10 },
};

describe('Messages', () => {
  it('applies the defaults and leaves absent optional keys absent', () => {
    // Act
    const task = fetchQueueMessage.parse(fetchTask);

    // Assess
    expect(task).toEqual({ ...fetchTask, attempt: 0 });
    expect(task).not.toHaveProperty('template');
    expect(parseTaskMessage.parse(parseTask)).toMatchObject({ follow: true });
  });

  it('chooses the shape of a fetch queue message by its type', () => {
    expect(fetchQueueMessage.parse({ type: 'start-run', job: 'books', scheduledAt: '2026-12-01T06:00:00Z' })).toEqual({
      type: 'start-run',
      job: 'books',
      scheduledAt: '2026-12-01T06:00:00Z',
    });
    expect(fetchQueueMessage.safeParse({ type: 'parse', job: 'books' })).toMatchObject({
      success: false,
      error: { issues: [{ path: ['type'], message: 'invalid input: expected one of "start-run"|"fetch"' }] },
    });
  });

  it('names every problem with its path: unknown keys, wrong types, missing keys, bad values', () => {
    // Act
    const result = parseTaskMessage.safeParse({
      ...parseTask,
      extra: 1,
      depth: -1,
      hosts: [],
      raw: { key: 'k', offset: 0.5 },
      job: 'Not A Job',
    });

    // Assess
    expect(result.success).toBe(false);
    expect(result.success ? [] : result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`)).toEqual([
      ': unrecognized key: "extra"',
      'job: invalid string: must match /^[a-z0-9][a-z0-9-]{0,47}$/',
      'depth: too small: expected number to be >=0',
      'hosts: too small: expected array to have >=1 items',
      'raw.offset: expected int, received number',
      'raw.length: required',
    ]);
    expect(fetchQueueMessage.safeParse({ ...fetchTask, scheduledAt: 'yesterday' }).success).toBe(false);
    expect(fetchQueueMessage.safeParse({ type: 'start-run', job: 'books', scheduledAt: 'yesterday' }).success).toBe(false);
  });

  it('reads a queue body into a non-retryable error naming the message', () => {
    expect(() => parseMessage(parseTaskMessage, '{', 'parse queue message m-1')).toThrow(InvalidInputError);
    expect(() => parseMessage(parseTaskMessage, '{"type":"parse"}', 'parse queue message m-1')).toThrow(
      /^parse queue message m-1: job: required; runId: required/,
    );
  });

  it('checks page records by status, tuples and nullable fields included', () => {
    const parsed = {
      status: 'parsed',
      url: 'https://a.example/',
      finalUrl: 'https://a.example/',
      depth: 0,
      template: null,
      fetchedAt: '2026-12-01T00:00:00.000Z',
      items: [{ key: 'k', data: { title: 'x' }, problems: [] }],
      links: [['https://a.example/b', null]],
      etag: null,
      lastModified: null,
      hash: 'sha256:00',
      wireBytes: 1,
      bodyBytes: 1,
      fetchMs: 1,
    };
    expect(pageRecordSchema.parse(parsed)).toEqual(parsed);
    expect(pageRecordSchema.safeParse({ ...parsed, links: [['https://a.example/b', 1]] }).success).toBe(false);
    expect(
      pageRecordSchema.safeParse({
        status: 'unchanged',
        url: 'u',
        depth: 0,
        reason: 'same-content',
        keys: null,
        add: { items: 2 },
        wireBytes: 0,
        bodyBytes: 0,
        fetchMs: 0,
      }).success,
    ).toBe(true);
  });

  it('reads S3 notifications with the fields S3 adds, and the test event', () => {
    const body = JSON.stringify({
      Records: [
        {
          eventVersion: '2.1',
          eventName: 'ObjectCreated:Put',
          s3: { bucket: { name: 'b' }, object: { key: 'records/a', size: 3 } },
        },
      ],
    });
    expect(parseMessage(s3NotificationMessage, body, 'm')).toEqual({
      Records: [{ eventName: 'ObjectCreated:Put', s3: { object: { key: 'records/a' } } }],
    });
    expect(parseMessage(s3NotificationMessage, '{"Event":"s3:TestEvent","Bucket":"b"}', 'm')).toEqual({ Event: 's3:TestEvent' });
    expect(() => parseMessage(s3NotificationMessage, '{"Records":[{"eventName":1}]}', 'm')).toThrow(InvalidInputError);
  });
});
