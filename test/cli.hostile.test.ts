import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../cli/common.js';
import { main } from '../cli/main.js';
import { type DemoServer, startDemoServer } from '../demo/server.js';
import { generateSite } from '../demo/site.js';
import { capture, demoRunArgs } from './support/cli-io.js';

const SITE = generateSite({ books: 10, perPage: 10, brokenNotFound: 0, brokenServerError: 0 });

describe('CLI on hostile conditions', () => {
  let dataDir: string;
  let server: DemoServer;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'scrapeline-cli-hostile-'));
    server = await startDemoServer({ site: SITE });
  });

  afterAll(async () => {
    await server?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  const runArgs = () => demoRunArgs(dataDir, server.url);

  it('refuses to run on a data folder another live process holds, naming its pid (exit 1, nothing run)', async () => {
    // Prepare: a live process holds the folder
    const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' });
    try {
      writeFileSync(
        join(dataDir, 'lock'),
        JSON.stringify({ pid: holder.pid, hostname: hostname(), startedAt: 'now', command: 'scrapeline run books --run-id R1' }),
      );
      const refused = capture();

      // Act
      const code = await main([...runArgs(), '--run-id', 'R2'], refused.io);

      // Assess
      expect(code).toBe(EXIT.error);
      expect(refused.stderr()).toContain(`in use by process ${holder.pid}`);
      expect(refused.stderr()).not.toMatch(/\n\s+at /);
    } finally {
      holder.kill('SIGKILL');
      await new Promise((resolve) => holder.on('exit', resolve));
    }

    // The holder was killed: its stale lock is taken over and the run goes ahead
    const after = capture();
    expect(await main([...runArgs(), '--run-id', 'R2'], after.io), after.stderr()).toBe(EXIT.ok);
  }, 60_000);

  it.each([
    [['--start-url', 'ftp://x/'], 'only http and https URLs can be fetched, got "ftp:"'],
    [['--start-url', 'http://user:pw@127.0.0.1/'], 'URLs with credentials are refused'],
    [['--start-url', 'http://[fe80::1%25lo]:9101/'], 'not an absolute URL'],
    [['--run-id', 'a/b'], 'run id "a/b": use 1 to 80 letters'],
    [['--run-id', '../../x'], 'run id "../../x"'],
    [['--resume', '../x'], 'run id "../x"'],
  ])('refuses %j up front with exit 2 and says what is wrong', async (extra, message) => {
    const refused = capture();
    const args = ['run', 'books', '--data-dir', dataDir, ...extra];
    expect(await main(args, refused.io)).toBe(EXIT.usage);
    expect(refused.stderr()).toContain(message);
  });

  it('takes the latest run by start time, not by run id: a custom id that sorts last is not the latest', async () => {
    // Prepare: a run with an id that sorts after every time-based id, then a newer run
    const dir = await mkdtemp(join(tmpdir(), 'scrapeline-cli-latest-'));
    try {
      const args = [
        'books',
        '--data-dir',
        dir,
        '--start-url',
        `${server.url}/catalogue/page-1.html`,
        '--allow-address',
        '127.0.0.1',
      ];
      expect(await main(['run', ...args, '--run-id', 'zzz-custom'], capture().io)).toBe(EXIT.ok);
      const second = capture();
      expect(await main(['run', ...args], second.io)).toBe(EXIT.ok);
      const newest = /Run (\S+) of books/.exec(second.stdout())?.[1];

      // Act
      const runs = capture();
      await main(['runs', 'books', '--data-dir', dir, '--format', 'json'], runs.io);
      const changes = capture();
      await main(['changes', 'books', '--data-dir', dir, '--format', 'json'], changes.io);

      // Assess
      expect((JSON.parse(runs.stdout()) as { runId: string }[]).map((run) => run.runId)).toEqual(['zzz-custom', newest]);
      expect(changes.stderr()).toContain(`run ${newest} (`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
