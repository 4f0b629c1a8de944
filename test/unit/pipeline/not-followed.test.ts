import { describe, expect, it } from 'vitest';
import { RECORDED_SKIPS } from '../../../shared/pipeline/ledger.js';
import { collect } from '../../fixtures/iterables.js';
import { JOB, NOW, newRun, offer, RUN } from '../../fixtures/ledger.js';

describe('Class: RunLedger (links past a budget)', () => {
  it('records the first skipped URLs past the page budget and only counts the rest', async () => {
    // Prepare
    const ledger = await newRun();
    const offers = Array.from({ length: RECORDED_SKIPS + 1500 }, (_, index) => offer(`p/${index}`));

    // Act: one page with all of them, then another page with more
    const outcomes = await ledger.acceptMany(JOB, RUN, offers, { maxPages: 3, now: NOW });
    await ledger.acceptMany(
      JOB,
      RUN,
      Array.from({ length: 200 }, (_, index) => offer(`q/${index}`, 'p1')),
      { maxPages: 3, now: NOW },
    );

    // Assess
    expect(outcomes.filter((outcome) => outcome === 'accepted')).toHaveLength(3);
    expect(outcomes.filter((outcome) => outcome === 'over-budget')).toHaveLength(RECORDED_SKIPS + 1497);
    const meta = await ledger.getRun(JOB, RUN);
    expect(meta?.counters).toMatchObject({ accepted: 3 + RECORDED_SKIPS, admitted: 3, skipped: RECORDED_SKIPS });
    expect(meta?.notFollowed).toEqual({ 'budget:maxPages': 1497 + 200 });
    expect(await collect(ledger.urls(JOB, RUN))).toHaveLength(3 + RECORDED_SKIPS);
  });

  it('does the same for a time or cost budget (skipMany)', async () => {
    const ledger = await newRun();
    const offers = Array.from({ length: RECORDED_SKIPS + 10 }, (_, index) => offer(`p/${index}`));

    await ledger.skipMany(JOB, RUN, offers, 'budget:maxDuration', 'too old', NOW);

    const meta = await ledger.getRun(JOB, RUN);
    expect(meta?.counters).toMatchObject({ accepted: RECORDED_SKIPS, skipped: RECORDED_SKIPS });
    expect(meta?.notFollowed).toEqual({ 'budget:maxDuration': 10 });
  });

  it('grants a per-run quota once, however the requests are split', async () => {
    const ledger = await newRun();

    const grants = [
      await ledger.takeQuota(JOB, RUN, 'sitemaps', 4, 10),
      await ledger.takeQuota(JOB, RUN, 'sitemaps', 4, 10),
      await ledger.takeQuota(JOB, RUN, 'sitemaps', 4, 10),
      await ledger.takeQuota(JOB, RUN, 'sitemaps', 4, 10),
    ];

    expect(grants).toEqual([4, 4, 2, 0]);
  });
});
