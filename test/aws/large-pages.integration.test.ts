import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoStateStore } from '../../shared/aws/dynamo-state-store.js';
import { S3ObjectStore } from '../../shared/aws/s3-object-store.js';
import { parseJob } from '../../shared/job/load.js';
import { layout } from '../../shared/layout.js';
import type { PipelineContext } from '../../shared/pipeline/context.js';
import type { RunManifest } from '../../shared/pipeline/finalize.js';
import { templateCounters } from '../../shared/pipeline/ledger.js';
import type { PageRecord } from '../../shared/pipeline/messages.js';
import { INLINE_LISTS_BYTES } from '../../shared/pipeline/pages.js';
import { type AwsPeers, startAwsPeers } from '../support/aws-peers.js';
import { offlineContext, parsedPageRecord, runOnePage } from '../support/one-page-runs.js';

const JOB = 'big';
const HUGE = 'huge';
const PAGE = 'https://big.example/all-items';

/** Keys `k0`, `k1`… of `count` items. */
const itemKeys = (count: number) => Array.from({ length: count }, (_, index) => `k${index}`);

/**
 * Pages of tens of thousands of items through post-processing on the cloud adapters (dynalite, s3rver): their key
 * lists are far over DynamoDB's 400 KB item limit, and must not reach a state item.
 */
describe('Pages with many items, over the local AWS peers', () => {
  let peers: AwsPeers;
  let context: PipelineContext;
  let store: S3ObjectStore;

  beforeAll(async () => {
    peers = await startAwsPeers();
    store = new S3ObjectStore({ client: peers.clients.s3, bucket: peers.bucket });
    // Two jobs alike: each test has a job of its own (a quality baseline of one would judge the other).
    const jobs = [JOB, HUGE].map((name) =>
      parseJob(
        { name, start: { urls: [PAGE], template: 'row' }, templates: { row: { key: 'id', fields: { id: 'td' } } } },
        `${name}.ts`,
      ),
    );
    context = offlineContext(jobs, store, new DynamoStateStore({ client: peers.clients.dynamodb, tableName: peers.tableName }));
  });
  afterAll(async () => {
    await peers?.stop();
  });

  const run = (runId: string, page: PageRecord, job = JOB): Promise<RunManifest> => runOnePage(context, job, runId, page);

  it('keeps the keys of a page of 20,000 items in the object store, and the page holds them when unchanged next run', async () => {
    // Act: a first run; then a second in which the page is unchanged (its record carries the remembered keys, as the
    // fetcher builds it from the page memory)
    const first = await run('r1', parsedPageRecord(PAGE, itemKeys(20_000)));
    const entry = await context.ledger.getUrl(JOB, 'r1', PAGE);
    const memory = await context.pages.get(JOB, PAGE);
    const second = await run('r2', {
      status: 'unchanged',
      url: PAGE,
      depth: 0,
      reason: 'not-modified',
      keys: [...(memory?.keys ?? [])],
      add: { unchangedItems: memory?.items ?? 0, ...(memory ? templateCounters('row', memory) : {}) },
      wireBytes: 1,
      bodyBytes: 0,
      fetchMs: 1,
    });

    // Assess: both finished; the first run's entry and the page memory point at the lists, which hold every key; the
    // unchanged page kept its items (none removed)
    expect(first).toMatchObject({ state: 'succeeded', items: { written: 20_000 }, changes: { new: 20_000 } });
    expect(entry?.keys).toBeUndefined();
    expect(entry?.keysRef).toBe(layout.pageLists(JOB, 'r1', 'b1', entry?.id ?? ''));
    expect(memory?.listsRef).toBe(entry?.keysRef);
    expect(memory?.keys).toHaveLength(20_000);
    expect(second).toMatchObject({
      state: 'succeeded',
      urls: { unchanged: 1 },
      items: { onUnchangedPages: 20_000 },
      changes: { removed: 0, removalsInferred: true },
    });
    expect((await context.ledger.getUrl(JOB, 'r2', PAGE))?.keysRef).toBeDefined();
  }, 240_000);

  it('finishes a page of 100,000 items (quarantined, so their keys are held but nothing is written for them)', async () => {
    // Act
    const manifest = await run('r3', parsedPageRecord(PAGE, itemKeys(100_000), { valid: false }), HUGE);

    // Assess: the page's 100,000 keys (2.4 MB) did not go to a state item; its items are held, not removed
    expect(manifest).toMatchObject({ state: 'succeeded', items: { written: 0, invalid: 100_000 } });
    const entry = await context.ledger.getUrl(HUGE, 'r3', PAGE);
    expect(entry?.keysRef).toBeDefined();
    const item = await context.state.get(`run#${HUGE}#r3`, `url#${entry?.id}`);
    expect(JSON.stringify(item).length).toBeLessThan(INLINE_LISTS_BYTES);
    const memory = await context.pages.get(HUGE, PAGE);
    expect(memory?.keys).toHaveLength(100_000);
  }, 240_000);
});
