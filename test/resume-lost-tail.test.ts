import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../cli/common.js';
import { main } from '../cli/main.js';
import { type DemoServer, startDemoServer } from '../demo/server.js';
import { generateSite, type Site } from '../demo/site.js';
import { tempDirAll } from './fixtures/temp-dir.js';
import { demoItemKeys, demoResumeArgs, killedDemoRun, quietIo, storedRun } from './support/cli-io.js';
import { expectManifestInvariant } from './support/manifest.js';

describe('Resume after the end of the state was lost', () => {
  let site: Site;
  let server: DemoServer;
  const dataDir = tempDirAll('lost-tail');

  beforeAll(async () => {
    site = generateSite({ books: 400, brokenNotFound: 0, brokenServerError: 0 });
    server = await startDemoServer({ site });
  });

  afterAll(async () => {
    await server?.close();
  });

  it('re-derives pending work from the stored page records: a lost tail costs fetches, never items', async () => {
    // Prepare: a CLI process killed mid-run, then the URL entries it wrote last (those still pending) lost, as an
    // OS crash after the last checkpoint would lose them
    const { runs } = await killedDemoRun(dataDir.path, server, 150);
    const [runId] = runs;
    if (!runId) throw new Error('no run');
    const db = new Database(join(dataDir.path, 'state.db'));
    const lost = db
      .prepare("DELETE FROM items WHERE pk = ? AND sk LIKE 'url#%' AND json_extract(item, '$.status') = 'accepted'")
      .run(`run#books#${runId}`).changes;
    db.close();
    expect(lost).toBeGreaterThan(0);

    // Act
    const code = await main(demoResumeArgs(dataDir.path, runId), quietIo);

    // Assess: every item of the site is in the run's dataset, once
    const { manifest, rows } = await storedRun(dataDir.path, 'books', runId);
    expect(code).toBe(EXIT.ok);
    expectManifestInvariant(manifest);
    const keys = demoItemKeys(site);
    expect(new Set(rows.map((row) => row._key))).toEqual(new Set(keys));
    expect(rows).toHaveLength(keys.length);
  }, 120_000);
});
