import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
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

describe('Resume after the end of the state was lost', () => {
  let site: Site;
  let server: DemoServer;
  let dataDir: string;

  beforeAll(async () => {
    site = generateSite({ books: 400, brokenNotFound: 0, brokenServerError: 0 });
    server = await startDemoServer({ site });
    dataDir = await mkdtemp(join(tmpdir(), 'scrapeline-lost-tail-'));
  });

  afterAll(async () => {
    await server?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('re-derives pending work from the stored page records: a lost tail costs fetches, never items', async () => {
    // Prepare: a CLI process killed mid-run, then the URL entries it wrote last (those still pending) lost, as an
    // OS crash after the last checkpoint would lose them
    const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...demoRunArgs(dataDir, server.url)], {
      stdio: 'ignore',
    });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    const deadline = Date.now() + 60_000;
    while (server.requests.length < 150 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    child.kill('SIGKILL');
    await exited;
    const [runId] = await readdir(join(dataDir, 'store', 'runs', 'books'));
    if (!runId) throw new Error('no run');
    const db = new Database(join(dataDir, 'state.db'));
    const lost = db
      .prepare("DELETE FROM items WHERE pk = ? AND sk LIKE 'url#%' AND json_extract(item, '$.status') = 'accepted'")
      .run(`run#books#${runId}`).changes;
    db.close();
    expect(lost).toBeGreaterThan(0);

    // Act
    const code = await main(['run', 'books', '--data-dir', dataDir, '--resume', runId, '--allow-address', '127.0.0.1'], quiet);

    // Assess: every item of the site is in the run's dataset, once
    const store = new FileSystemObjectStore({ root: join(dataDir, 'store') });
    const manifest = await readManifest(store, 'books', runId);
    if (!manifest) throw new Error('no manifest');
    expect(code).toBe(EXIT.ok);
    expectManifestInvariant(manifest);
    const keys = [
      ...site.books.map((book) => book.upc),
      ...site.authors.map((author) => author.name),
      ...site.quotes.map((quote) => quote.id),
    ];
    const rows: Row[] = [];
    for await (const row of runRows(store, manifest)) rows.push(row);
    expect(new Set(rows.map((row) => row._key))).toEqual(new Set(keys));
    expect(rows).toHaveLength(keys.length);
  }, 120_000);
});
