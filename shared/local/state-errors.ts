import { NonRetryableError } from '../errors.js';

/** What to tell the user to run once space is free: the exact command when the write names its run. */
function resumeCommand(pk: string | undefined): string {
  const run = pk === undefined ? null : /^run#([^#]+)#(.+)$/.exec(pk);
  return run ? `scrapeline run ${run[1]} --resume ${run[2]}` : 'scrapeline run <job> --resume <runId>';
}

/**
 * The disk holding the local state database is full (SQLite answered `SQLITE_FULL`). The write that hit it was
 * rolled back whole: the database holds every write acknowledged before it and stays readable. Not retryable:
 * trying again fails the same way until space is freed; the run is then finished with `scrapeline run --resume`.
 */
export class DiskFullError extends NonRetryableError {
  override readonly name: string = 'DiskFullError';
  /** The database file that could not grow. */
  readonly file: string;

  /**
   * @param file - the database file
   * @param pk - partition key of the failed write, to name the run to resume when it is a run's partition
   * @param cause - the SQLite error
   */
  constructor(file: string, pk: string | undefined, cause?: unknown) {
    super(
      `disk full: free space, then \`${resumeCommand(pk)}\` (the state database ${file} could not grow; ` +
        'the failed write was rolled back, every acknowledged write is kept)',
      'disk-full',
      cause,
    );
    this.file = file;
  }
}
