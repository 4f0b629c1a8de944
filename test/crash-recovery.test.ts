import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../cli/common.js';
import { main } from '../cli/main.js';
import { type DemoServer, startDemoServer } from '../demo/server.js';
import { generateSite, type Site } from '../demo/site.js';
import { tempDirAll } from './fixtures/temp-dir.js';
import { demoItemKeys, demoResumeArgs, killedDemoRun, quietIo, storedRun } from './support/cli-io.js';
import { expectManifestInvariant } from './support/manifest.js';

describe('Crash recovery of the local runner', () => {
  let site: Site;
  let server: DemoServer;
  const dataDir = tempDirAll('crash');

  beforeAll(async () => {
    site = generateSite();
    server = await startDemoServer({ site });
  });

  afterAll(async () => {
    await server?.close();
  });

  it('finishes a run killed with SIGKILL mid-way with --resume: no URL lost, no item written twice', async () => {
    // Prepare: a real CLI process running the demo job, killed once it is well into the run (about a third of the
    // pages requested).
    const killed = await killedDemoRun(dataDir.path, server, 350);
    expect(killed.exit).toBe(-1);
    expect(killed.runs).toHaveLength(1);
    const runId = killed.runs[0] as string;
    expect((await storedRun(dataDir.path, 'books', runId)).manifest.state).toBe('running');

    // Act
    const code = await main(demoResumeArgs(dataDir.path, runId), quietIo);

    // Assess: the run finished with every URL accounted for and the exact dataset.
    expect(code).toBe(EXIT.partial);
    const { manifest, rows } = await storedRun(dataDir.path, 'books', runId);
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
    const keys = demoItemKeys(site);
    expect(rows).toHaveLength(keys.length);
    expect(new Set(rows.map((row) => row._key))).toEqual(new Set(keys));
    expect(manifest.items).toMatchObject({ written: keys.length, duplicates: 0 });
  });
});
