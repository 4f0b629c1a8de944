import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DataDirLockedError, lockDataDir } from '../../../shared/local/lock.js';
import { tempDirEach } from '../../fixtures/temp-dir.js';

describe('Function: lockDataDir', () => {
  const dataDir = tempDirEach('lock');

  it('refuses a second holder while the first holds the folder, naming its pid, and allows one after release', () => {
    const lock = lockDataDir(dataDir.path);

    const error = (() => {
      try {
        lockDataDir(dataDir.path);
      } catch (caught) {
        return caught;
      }
    })();
    lock.release();
    const again = lockDataDir(dataDir.path);
    again.release();

    expect(error).toBeInstanceOf(DataDirLockedError);
    expect((error as DataDirLockedError).message).toContain(`in use by process ${process.pid}`);
    expect((error as DataDirLockedError).retryable).toBe(false);
    expect(existsSync(join(dataDir.path, 'lock'))).toBe(false);
  });

  it('refuses while another live process holds the folder', async () => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' });
    try {
      writeFileSync(
        join(dataDir.path, 'lock'),
        JSON.stringify({ pid: child.pid, hostname: (await import('node:os')).hostname(), startedAt: 'then', command: 'x' }),
      );
      expect(() => lockDataDir(dataDir.path)).toThrow(`in use by process ${child.pid}`);
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
    writeFileSync(join(dataDir.path, 'lock'), JSON.stringify({ pid, hostname: hostname(), startedAt: 'then', command: 'x' }));

    const lock = lockDataDir(dataDir.path);
    const holder = JSON.parse(readFileSync(lock.file, 'utf8')) as { pid: number };
    lock.release();
    writeFileSync(join(dataDir.path, 'lock'), '{"pid": 12');
    const afterTorn = lockDataDir(dataDir.path);
    afterTorn.release();

    expect(holder.pid).toBe(process.pid);
  });
});
