import { createServer, type Server } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT, exitCodeOf } from '../cli/common.js';
import { RetryableError } from '../shared/errors.js';
import { parseJob } from '../shared/job/load.js';
import { DEAD_LETTERED } from '../shared/pipeline/dead-letters.js';
import { STALLED } from '../shared/pipeline/watchdog.js';
import { closeServer, htmlPage, listenOnLoopback } from './fixtures/http-fixture.js';
import { tempRuntime } from './support/local-run.js';
import { expectManifestInvariant, runFailures } from './support/manifest.js';

function site(): Server {
  return createServer((request, response) => {
    response.writeHead(request.url === '/' || request.url === '/ok' || request.url === '/poison' ? 200 : 404, {
      'content-type': 'text/html; charset=utf-8',
    });
    if (request.url === '/') response.end(htmlPage('<a href="/ok">ok</a><a href="/poison">poison</a>'));
    else response.end(htmlPage(`<h1 id="title">${request.url}</h1>`));
  });
}

const job = (base: string) =>
  parseJob(
    {
      name: 'poison',
      start: { urls: [`${base}/`] },
      follow: [{ selector: 'a', template: 'page' }],
      templates: { page: { key: 'title', fields: { title: { selector: '#title', required: true } } } },
      politeness: { robotsTxt: 'ignore' },
    },
    'poison.ts',
  );

describe('Local runtime: dead letters and stalls', () => {
  let server: Server;
  let base: string;

  beforeAll(async () => {
    server = site();
    base = await listenOnLoopback(server);
  });
  afterAll(async () => {
    await closeServer(server);
  });

  it('ends a page whose parse task keeps failing failed (dead-lettered, with the last error) and the run partial', async () => {
    // Prepare: reading the archived /poison page fails every time (a retryable error), so its parse task is
    // received 3 times (maxReceiveCount), then dead-lettered. (A visibility timeout long enough for a busy machine:
    // a message still being handled when it runs out is received again, and could be dead-lettered too.) Batches of
    // one page: the parser reads an archive object by range only when its batch holds one page of it.
    const local = await tempRuntime([job(base)], { maxReceiveCount: 3, visibilityTimeoutMs: 1500, batchSize: 1 });
    const store = local.runtime.store;
    const getRange = store.getRange.bind(store);
    let poisonReads = 0;
    store.getRange = async (key, offset, length) => {
      const member = await getRange(key, offset, length);
      if (gunzipSync(member).toString('latin1').includes(`WARC-Target-URI: ${base}/poison`)) {
        poisonReads++;
        throw new RetryableError('the archive is unreadable right now', 'internal');
      }
      return member;
    };
    try {
      // Act
      const { outcome } = await local.runtime.run('poison');

      // Assess
      if (outcome.kind !== 'finished') throw new Error(`the run did not finish: ${JSON.stringify(outcome)}`);
      const manifest = outcome.manifest;
      expect(manifest).toMatchObject({
        state: 'partial',
        urls: { accepted: 3, parsed: 2, failed: 1 },
        reasons: { [DEAD_LETTERED]: 1 },
      });
      expectManifestInvariant(manifest);
      expect(poisonReads).toBe(3);
      const failures = await runFailures(local.runtime.store, manifest);
      expect(failures).toEqual([
        expect.objectContaining({
          url: `${base}/poison`,
          reason: DEAD_LETTERED,
          message: 'dead-lettered after 3 receives by the parser; last error: the archive is unreadable right now',
        }),
      ]);
      // The message is kept in the parse dead-letter queue, for inspection (and the alarm), not lost.
      expect(local.runtime.queues.deadLetters.parse.size).toBe(1);
      expect(exitCodeOf(outcome)).toBe(EXIT.partial);
    } finally {
      await local.dispose();
    }
  });

  it('ends a run that has nothing left to do but pending URLs stalled, with a manifest (exit code 5)', async () => {
    // Prepare: a run with a URL accepted whose fetch task was lost (never sent)
    const local = await tempRuntime([job(base)]);
    const runId = '20261126T060000Z-lost01';
    const { ledger } = local.runtime.pipeline;
    try {
      await ledger.createRun('poison', runId, { hosts: ['127.0.0.1'], seeds: [`${base}/`] }, Date.now());
      await ledger.accept('poison', runId, { url: `${base}/`, depth: 0, template: undefined, parent: 'seed' }, 10, Date.now());
      await ledger.accept('poison', runId, { url: `${base}/ok`, depth: 1, template: 'page', parent: 'x' }, 10, Date.now());
      await ledger.complete('poison', runId, [{ url: `${base}/`, state: 'parsed' }]);

      // Act
      const outcome = await local.runtime.waitForRun('poison', runId);

      // Assess
      if (outcome.kind !== 'finished') throw new Error(`no manifest: ${JSON.stringify(outcome)}`);
      expect(outcome.manifest).toMatchObject({
        state: 'stalled',
        urls: { accepted: 2, parsed: 1, failed: 1 },
        reasons: { [STALLED]: 1 },
      });
      expectManifestInvariant(outcome.manifest);
      expect(await local.manifest('poison', runId)).toMatchObject({ state: 'stalled' });
      expect(exitCodeOf(outcome)).toBe(EXIT.stalled);
    } finally {
      await local.dispose();
    }
  });

  it('ends a stalled run as soon as nothing is left to do, without waiting out an idle period or a poll', async () => {
    // Prepare: as above, a URL accepted whose fetch task was lost; progress is polled only once a minute
    const local = await tempRuntime([job(base)]);
    const runId = '20261126T060000Z-lost02';
    const { ledger } = local.runtime.pipeline;
    try {
      await ledger.createRun('poison', runId, { hosts: ['127.0.0.1'], seeds: [`${base}/`] }, Date.now());
      await ledger.accept('poison', runId, { url: `${base}/ok`, depth: 1, template: 'page', parent: 'x' }, 10, Date.now());
      const started = performance.now();

      // Act
      const outcome = await local.runtime.waitForRun('poison', runId, { intervalMs: 60_000 });

      // Assess: the runtime was idle from the start (a guess after 500 ms of idleness, polled every minute, would take
      // a minute and more)
      expect(outcome).toMatchObject({ kind: 'finished', manifest: { state: 'stalled' } });
      expect(performance.now() - started).toBeLessThan(5_000);
    } finally {
      await local.dispose();
    }
  });

  it('wakes when a handler finishes the run, not when the progress interval comes round', async () => {
    // Prepare
    const local = await tempRuntime([job(base)]);
    try {
      const runId = await local.runtime.startRun('poison');
      const progress: string[] = [];
      const started = performance.now();

      // Act
      const outcome = await local.runtime.waitForRun('poison', runId, {
        intervalMs: 600_000,
        onProgress: (seen) => progress.push(seen.meta.state),
      });

      // Assess: every wake-up was a batch ending (three pages fetched, parsed and post-processed), and the last saw
      // the run finished
      expect(outcome).toMatchObject({ kind: 'finished', manifest: { state: 'succeeded', urls: { accepted: 3 } } });
      expect(performance.now() - started).toBeLessThan(30_000);
      expect(progress.length).toBeGreaterThan(1);
      expect(progress.at(-1)).not.toBe('running');
    } finally {
      await local.dispose();
    }
  });
});
