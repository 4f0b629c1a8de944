import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../cli/common.js';
import { main } from '../cli/main.js';
import { type DemoServer, startDemoServer } from '../demo/server.js';
import { generateSite } from '../demo/site.js';
import type { RunManifest } from '../shared/pipeline/finalize.js';
import { tempDirAll } from './fixtures/temp-dir.js';
import { capture } from './support/cli-io.js';
import { expectManifestInvariant } from './support/manifest.js';

const SITE = generateSite({ books: 300, perPage: 20, brokenNotFound: 0, brokenServerError: 0 });
const ITEMS = SITE.books.length + SITE.authors.length + SITE.quotes.length;
const root = process.getuid?.() === 0 && process.platform === 'linux';

/**
 * Chaos: the data folder's disk fills up in the middle of a run (a real tmpfs with 400 KB free). The run must stop
 * with a clear message (exit 1, no stack trace), keep what it acknowledged, and finish on `run --resume` once space
 * is freed, each item written once and every URL accounted for.
 */
describe.runIf(root)('Chaos: the disk fills up during a run', () => {
  let server: DemoServer;
  const dir = tempDirAll('disk-full');
  let mountPoint: string;
  let mounted = false;

  beforeAll(async () => {
    server = await startDemoServer({ site: SITE });
    mountPoint = join(dir.path, 'tiny');
    mkdirSync(mountPoint);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', mountPoint], { stdio: 'ignore' });
      mounted = true;
    } catch {
      // Not permitted here (a container without CAP_SYS_ADMIN): the state store's max_page_count test covers it.
    }
  });

  afterAll(async () => {
    if (mounted) execFileSync('umount', ['-l', mountPoint]);
    await server?.close();
  });

  it('stops with "disk full: free space, then run --resume", then finishes on resume with every item once', async (context) => {
    if (!mounted) context.skip('mounting a tmpfs is not permitted here');
    // Prepare: leave 400 KB free
    const dataDir = join(mountPoint, 'data');
    const ballast = join(mountPoint, 'ballast');
    const free = () => {
      const stats = statfsSync(mountPoint);
      return stats.bavail * stats.bsize;
    };
    writeFileSync(ballast, Buffer.alloc(free() - 400 * 1024));
    const args = ['books', '--data-dir', dataDir, '--allow-address', '127.0.0.1'];
    const first = capture();

    // Act: the run hits the full disk
    const code = await main(['run', ...args, '--start-url', `${server.url}/catalogue/page-1.html`], first.io);

    // Assess: a clear error naming the command that finishes the run
    expect(code, first.stdout() + first.stderr()).toBe(EXIT.error);
    const resume = /disk full: free space, then `scrapeline run books --resume (\S+)`/.exec(first.stderr());
    expect(resume, first.stderr()).not.toBeNull();
    expect(first.stderr()).not.toMatch(/\n\s+at /);
    const runId = resume?.[1] as string;

    // Act: space is freed, the run resumed
    rmSync(ballast);
    const second = capture();
    const resumed = await main(['run', ...args, '--resume', runId], second.io);

    // Assess: finished, the invariant intact, every item written once
    expect(resumed, second.stdout() + second.stderr()).toBe(EXIT.ok);
    const manifest = JSON.parse(
      await readFile(join(dataDir, 'store', 'runs', 'books', runId, 'manifest.json'), 'utf8'),
    ) as RunManifest;
    expectManifestInvariant(manifest);
    expect(manifest.state).toBe('succeeded');
    const query = capture();
    expect(await main(['query', 'books', '--data-dir', dataDir, '--run', runId, '--format', 'ndjson'], query.io)).toBe(EXIT.ok);
    const keys = query
      .stdout()
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { _key: string })._key);
    expect(new Set(keys).size).toBe(ITEMS);
    expect(keys).toHaveLength(ITEMS);
  }, 180_000);
});
