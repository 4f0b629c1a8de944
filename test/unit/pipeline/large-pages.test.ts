import { beforeEach, describe, expect, it } from 'vitest';
import { parseJob } from '../../../shared/job/load.js';
import { layout } from '../../../shared/layout.js';
import { FileSystemObjectStore } from '../../../shared/local/object-store.js';
import { EmbeddedStateStore } from '../../../shared/local/state.js';
import type { PipelineContext } from '../../../shared/pipeline/context.js';
import type { RunManifest } from '../../../shared/pipeline/finalize.js';
import type { PageRecord } from '../../../shared/pipeline/messages.js';
import { tempDirEach } from '../../fixtures/temp-dir.js';
import { offlineContext, parsedPageRecord, runOnePage } from '../../support/one-page-runs.js';

const JOB = 'list';
const PAGE = 'https://list.example/all';

describe('Pages whose key and link lists are too large for their state items', () => {
  const dir = tempDirEach('large-pages');
  let context: PipelineContext;

  beforeEach(() => {
    const job = parseJob(
      { name: JOB, start: { urls: [PAGE], template: 'row' }, templates: { row: { key: 'id', fields: { id: 'td' } } } },
      'list.ts',
    );
    context = offlineContext([job], new FileSystemObjectStore({ root: dir.path }), new EmbeddedStateStore());
  });

  const run = (runId: string, page: PageRecord): Promise<RunManifest> => runOnePage(context, JOB, runId, page);

  it('infers the one item removed from a page of 1,000 whose keys live in the object store', async () => {
    const keys = Array.from({ length: 1000 }, (_, index) => `item-${index}`);

    await run('r1', parsedPageRecord(PAGE, keys));
    const second = await run('r2', parsedPageRecord(PAGE, keys.slice(1)));

    expect(second).toMatchObject({ state: 'succeeded', changes: { removed: 1, removalsInferred: true } });
    const entry = await context.ledger.getUrl(JOB, 'r2', PAGE);
    expect(entry).toMatchObject({ keys: undefined, keysRef: layout.pageLists(JOB, 'r2', 'b1', entry?.id ?? '') });
  });

  it('remembers the links of a page of 2,000 links through the object store, and keeps small pages inline', async () => {
    await run('r1', parsedPageRecord(PAGE, ['only'], { links: 2000 }));
    const large = await context.pages.get(JOB, PAGE);
    await run('r2', parsedPageRecord(PAGE, ['only'], { links: 3 }));
    const small = await context.pages.get(JOB, PAGE);

    expect(large?.links).toHaveLength(2000);
    expect(large?.listsRef).toBeDefined();
    expect(small?.links).toHaveLength(3);
    expect(small?.listsRef).toBeUndefined();
  });
});
