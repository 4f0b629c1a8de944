import { describeError, NonRetryableError } from '../errors.js';
import { DiskFullError } from './state-errors.js';

const FULL_CODES = new Set(['ENOSPC', 'EDQUOT', 'SQLITE_FULL']);

/** Whether an error (or one of its causes) says the disk is full. */
export function isDiskFull(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth++) {
    if (current instanceof DiskFullError) return true;
    if (FULL_CODES.has(String((current as { code?: unknown }).code))) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * A local run stopped because the data folder's disk is full. Every write acknowledged before is kept (state writes
 * are transactions, objects are written to a temporary file and renamed), so the run resumes once space is freed.
 */
export class DataDirFullError extends NonRetryableError {
  override readonly name: string = 'DataDirFullError';

  constructor(job: string, runId: string, cause: unknown) {
    super(
      `disk full: free space, then \`scrapeline run ${job} --resume ${runId}\` (the run stopped: ${describeError(cause)}; ` +
        'every write acknowledged before is kept)',
      'disk-full',
      cause,
    );
  }
}

/**
 * Wraps a port (object store, state store) so that a disk-full error from any of its async methods is reported to
 * `onFull` before it is thrown as it was.
 */
export function watchDiskFull<T extends object>(port: T, onFull: (error: unknown) => void): T {
  return new Proxy(port, {
    get(target, property) {
      const value = Reflect.get(target, property);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const note = (error: unknown) => {
          if (isDiskFull(error)) onFull(error);
          throw error;
        };
        try {
          const result = value.apply(target, args);
          return result instanceof Promise ? result.catch(note) : result;
        } catch (error) {
          return note(error);
        }
      };
    },
  });
}
