import { closeSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { NonRetryableError } from '../errors.js';

/** What a lock file says about its holder. */
export interface LockHolder {
  readonly pid: number;
  readonly hostname: string;
  readonly startedAt: string;
  readonly command: string;
}

/**
 * Another live process holds the data folder: two runtimes on one folder would run the same work twice (two
 * processes resuming one run wrote every item twice). Not retryable until the holder ends.
 */
export class DataDirLockedError extends NonRetryableError {
  override readonly name: string = 'DataDirLockedError';
  readonly holder: LockHolder;

  constructor(dataDir: string, file: string, holder: LockHolder) {
    super(
      `the data folder ${dataDir} is in use by process ${holder.pid} on ${holder.hostname} since ${holder.startedAt} ` +
        `(${holder.command}): wait for it to end or stop it. A lock left by a killed process is taken over by the next ` +
        `run; if process ${holder.pid} is no scrapeline, delete ${file}`,
      'locked',
    );
    this.holder = holder;
  }
}

function readHolder(file: string): LockHolder | undefined {
  try {
    const holder = JSON.parse(readFileSync(file, 'utf8')) as Partial<LockHolder>;
    if (!Number.isInteger(holder.pid) || typeof holder.hostname !== 'string') return undefined;
    return {
      pid: holder.pid as number,
      hostname: holder.hostname,
      startedAt: String(holder.startedAt ?? 'unknown'),
      command: String(holder.command ?? 'unknown'),
    };
  } catch {
    // Missing (released meanwhile) or torn (its writer was killed while writing it): nobody holds it.
    return undefined;
  }
}

/** Whether the holder may be alive: a process on another machine (a shared folder) cannot be checked, so it may. */
function alive(holder: LockHolder): boolean {
  if (holder.hostname !== hostname()) return true;
  if (holder.pid === process.pid) return true;
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A held lock on a data folder. */
export interface DataDirLock {
  readonly file: string;
  /** Releases the lock (once; later calls do nothing). */
  release(): void;
}

/**
 * Locks a data folder for this process: creates `<dataDir>/lock` exclusively, holding the pid, the host, the start
 * time and the command. A lock whose holder is no longer alive (killed) is taken over: renamed away first, an atomic
 * step only one contender wins, then created anew.
 *
 * @throws {DataDirLockedError} when a live process holds the folder
 */
export function lockDataDir(dataDir: string): DataDirLock {
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, 'lock');
  const me: LockHolder = {
    pid: process.pid,
    hostname: hostname(),
    startedAt: new Date().toISOString(),
    command: ['scrapeline', ...process.argv.slice(2)].join(' ').slice(0, 200),
  };
  for (let attempt = 0; attempt < 10; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      try {
        writeSync(fd, JSON.stringify(me));
      } finally {
        closeSync(fd);
      }
      let released = false;
      return {
        file,
        release() {
          if (released) return;
          released = true;
          // Only our own lock is removed (one taken over from us while we hung is the taker's).
          if (readHolder(file)?.pid === me.pid && readHolder(file)?.startedAt === me.startedAt) rmSync(file, { force: true });
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = readHolder(file);
    if (holder && alive(holder)) throw new DataDirLockedError(dataDir, file, holder);
    // Stale: move it aside under a name of our own (only one contender's rename finds it), then try again.
    const aside = `${file}.stale-${process.pid}`;
    try {
      renameSync(file, aside);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      continue;
    }
    const moved = readHolder(aside);
    // A contender took the stale lock over between our read and our rename: give its fresh lock back.
    if (moved && (!holder || moved.pid !== holder.pid || moved.startedAt !== holder.startedAt)) {
      try {
        linkSync(aside, file);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
    }
    unlinkSync(aside);
  }
  throw new Error(`could not lock ${file}: other processes keep taking it`);
}
