import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WARCParser } from 'warcio';
import { type DemoServer, startDemoServer } from '../demo/server.js';
import { generateSite } from '../demo/site.js';
import { gzipMembers } from '../shared/archive/warc.js';
import { loadJobFile } from '../shared/job/load.js';
import type { RunManifest } from '../shared/pipeline/finalize.js';
import type { Row } from '../shared/query.js';
import { tempRuntime } from './support/local-run.js';
import { expectManifestInvariant } from './support/manifest.js';

describe('The WARC archive and reparse', () => {
  let server: DemoServer;
  let local: Awaited<ReturnType<typeof tempRuntime>>;
  let original: RunManifest;
  let rawKeys: string[];

  beforeAll(async () => {
    server = await startDemoServer({ site: generateSite({ books: 150, perPage: 25 }) });
    local = await tempRuntime([await loadJobFile('jobs/books.ts')]);
    original = await local.run('books', [`${server.url}/catalogue/page-1.html`]);
    rawKeys = [];
    for await (const object of local.runtime.store.list(`raw/books/${original.runId}/`)) rawKeys.push(object.key);
  });

  afterAll(async () => {
    await local?.dispose();
    await server?.close();
  });

  it('archives every parsed page as WARC/1.1 request and response records that warcio reads', async () => {
    let responses = 0;
    let requests = 0;
    for (const key of rawKeys) {
      const data = await readFile(join(local.dataDir, 'store', key));
      const parser = new WARCParser(
        (async function* () {
          yield new Uint8Array(data);
        })(),
      );
      for await (const record of parser) {
        expect(record.warcHeaders.protocol).toBe('WARC/1.1');
        expect(record.warcTargetURI).toMatch(/^http:\/\/127\.0\.0\.1:\d+\//);
        expect(record.warcDate).toMatch(/^\d{4}-\d{2}-\d{2}T/);
        if (record.warcType === 'request') requests++;
        if (record.warcType === 'response') {
          responses++;
          expect(record.httpHeaders?.statusCode).toBe(200);
          expect(record.warcPayloadDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
          expect((await record.contentText()).length).toBeGreaterThan(0);
        }
      }
    }
    expect(responses).toBe(original.urls.parsed);
    expect(requests).toBe(responses);
  });

  it('writes one gzip member per record, each readable on its own', async () => {
    const data = await readFile(join(local.dataDir, 'store', rawKeys[0] ?? ''));
    const members = gzipMembers(data);
    expect(members.length % 2).toBe(0);
    const last = members.at(-1);
    const parser = new WARCParser(
      (async function* () {
        yield new Uint8Array(data.subarray(last?.offset, (last?.offset ?? 0) + (last?.length ?? 0)));
      })(),
    );
    const record = await parser.parse();
    expect(record?.warcType).toBe('response');
  });

  it('reparse extracts the archived run again without fetching and yields the same dataset', async () => {
    const requestsBefore = server.requests.length;
    const { runId, outcome } = await (async () => {
      const started = await local.runtime.startReparse('books', original.runId);
      return { runId: started, outcome: await local.runtime.waitForRun('books', started) };
    })();
    if (outcome.kind !== 'finished') throw new Error('reparse stalled');
    const reparsed = outcome.manifest;
    expect(reparsed.runId).toBe(runId);
    expectManifestInvariant(reparsed);
    expect(server.requests.length).toBe(requestsBefore);
    expect(reparsed.urls).toEqual({
      accepted: original.urls.parsed,
      parsed: original.urls.parsed,
      unchanged: 0,
      skipped: 0,
      failed: 0,
    });
    const strip = (rows: Row[]) =>
      rows.map(({ _runId, ...rest }) => rest).sort((a, b) => String(a._key).localeCompare(String(b._key)));
    expect(strip(await local.rows(reparsed))).toEqual(strip(await local.rows(original)));
  });
});
