import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../cli/common.js';
import { EXIT } from '../cli/common.js';
import { main } from '../cli/main.js';
import { type DemoServer, startDemoServer } from '../demo/server.js';
import { generateSite, type Site } from '../demo/site.js';
import { FileSystemObjectStore } from '../shared/local/object-store.js';
import { type Row, readManifest, runRows } from '../shared/query.js';
import { demoRunArgs } from './support/cli-io.js';
import { expectManifestInvariant } from './support/manifest.js';

const quiet: CliIo = { stdout: { write: () => {} }, stderr: { write: () => {} }, interactive: false, env: {} };

describe('Crash recovery of the local runner', () => {
  let site: Site;
  let server: DemoServer;
  let dataDir: string;

  beforeAll(async () => {
    site = generateSite();
    server = await startDemoServer({ site });
    dataDir = await mkdtemp(join(tmpdir(), 'scrapeline-crash-'));
  });

  afterAll(async () => {
    await server?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('finishes a run killed with SIGKILL mid-way with --resume: no URL lost, no item written twice', async () => {
    // Prepare: a real CLI process running the demo job.
    const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...demoRunArgs(dataDir, server.url)], {
      stdio: 'ignore',
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code, signal) => resolve(signal ? -1 : code)));
    // Act: kill it once it is well into the run (about a third of the pages requested).
    const deadline = Date.now() + 60_000;
    while (server.requests.length < 350 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    child.kill('SIGKILL');
    expect(await exited).toBe(-1);
    const runs = await readdir(join(dataDir, 'store', 'runs', 'books'));
    expect(runs).toHaveLength(1);
    const runId = runs[0] as string;
    const store = new FileSystemObjectStore({ root: join(dataDir, 'store') });
    expect((await readManifest(store, 'books', runId))?.state).toBe('running');

    const code = await main(['run', 'books', '--data-dir', dataDir, '--resume', runId, '--allow-address', '127.0.0.1'], quiet);

    // Assess: the run finished with every URL accounted for and the exact dataset.
    expect(code).toBe(EXIT.partial);
    const manifest = await readManifest(store, 'books', runId);
    if (!manifest) throw new Error('no manifest');
    expectManifestInvariant(manifest);
    // Listing, book, author (one URL per redirected author link) and quote pages.
    const pages = site.listingPaths.length + site.books.length + site.authors.length + site.quotePaths.length;
    expect(manifest.urls).toEqual({
      accepted: pages + site.broken.length,
      parsed: pages,
      unchanged: 0,
      skipped: 0,
      failed: site.broken.length,
    });
    const keys = [
      ...site.books.map((book) => book.upc),
      ...site.authors.map((author) => author.name),
      ...site.quotes.map((quote) => quote.id),
    ];
    const rows: Row[] = [];
    for await (const row of runRows(store, manifest)) rows.push(row);
    expect(rows).toHaveLength(keys.length);
    expect(new Set(rows.map((row) => row._key))).toEqual(new Set(keys));
    expect(manifest.items).toMatchObject({ written: keys.length, duplicates: 0 });
  });
});
