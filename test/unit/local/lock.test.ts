import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DataDirLockedError, lockDataDir } from '../../../shared/local/lock.js';

describe('Function: lockDataDir', () => {
  let dataDir: string;
  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'scrapeline-lock-'));
  });
  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('refuses a second holder while the first holds the folder, naming its pid, and allows one after release', () => {
    const lock = lockDataDir(dataDir);

    const error = (() => {
      try {
        lockDataDir(dataDir);
      } catch (caught) {
        return caught;
      }
    })();
    lock.release();
    const again = lockDataDir(dataDir);
    again.release();

    expect(error).toBeInstanceOf(DataDirLockedError);
    expect((error as DataDirLockedError).message).toContain(`in use by process ${process.pid}`);
    expect((error as DataDirLockedError).retryable).toBe(false);
    expect(existsSync(join(dataDir, 'lock'))).toBe(false);
  });

  it('refuses while another live process holds the folder', async () => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' });
    try {
      writeFileSync(
        join(dataDir, 'lock'),
        JSON.stringify({ pid: child.pid, hostname: (await import('node:os')).hostname(), startedAt: 'then', command: 'x' }),
      );
      expect(() => lockDataDir(dataDir)).toThrow(`in use by process ${child.pid}`);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('takes over a lock left by a killed process, and one torn while it was written', async () => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' });
    const pid = child.pid;
    await new Promise((resolve) => {
      child.on('exit', resolve);
      child.kill('SIGKILL');
    });
    const { hostname } = await import('node:os');
    writeFileSync(join(dataDir, 'lock'), JSON.stringify({ pid, hostname: hostname(), startedAt: 'then', command: 'x' }));

    const lock = lockDataDir(dataDir);
    const holder = JSON.parse(readFileSync(lock.file, 'utf8')) as { pid: number };
    lock.release();
    writeFileSync(join(dataDir, 'lock'), '{"pid": 12');
    const afterTorn = lockDataDir(dataDir);
    afterTorn.release();

    expect(holder.pid).toBe(process.pid);
  });
});
