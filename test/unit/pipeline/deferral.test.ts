import { describe, expect, it } from 'vitest';
import { deferralDelayMs, delaySecondsOf } from '../../../shared/pipeline/fetch.js';
import { SLOT_LEAD_MS } from '../../../shared/pipeline/politeness.js';

describe('Function: deferralDelayMs', () => {
  const middle = () => 0.5;

  it('waits at least the gate’s estimate, and at least 1 s doubled per earlier hand-back', () => {
    expect([1, 2, 3, 4, 5].map((deferrals) => deferralDelayMs(300, deferrals, middle))).toEqual([1000, 2000, 4000, 8000, 16000]);
    expect(deferralDelayMs(7000, 1, middle)).toBe(7000);
  });

  it('never waits longer than the SQS maximum delay of 15 minutes', () => {
    expect(deferralDelayMs(300, 30, middle)).toBe(900_000);
    expect(deferralDelayMs(300, 30, () => 0.999)).toBe(900_000);
  });

  it('spreads the tasks of a busy host by ±25 %', () => {
    expect(deferralDelayMs(300, 3, () => 0)).toBe(3000);
    expect(deferralDelayMs(300, 3, () => 0.999_999)).toBe(5000);
  });
});

describe('Function: delaySecondsOf', () => {
  const now = Date.UTC(2026, 11, 2);

  it('sends a task carrying a booked start to be visible SLOT_LEAD_MS before it, rounded down to whole seconds', () => {
    expect(delaySecondsOf(now + SLOT_LEAD_MS + 30_700, 999, now)).toBe(30);
    expect(delaySecondsOf(now + SLOT_LEAD_MS - 1, 999, now)).toBe(0);
    expect(delaySecondsOf(now + 3_600_000, 999, now)).toBe(900);
  });

  it('uses the delay given for a task without a start ahead (none, or one that passed), rounded up', () => {
    expect(delaySecondsOf(undefined, 1_200, now)).toBe(2);
    expect(delaySecondsOf(now - 5, 1_200, now)).toBe(2);
    expect(delaySecondsOf(undefined, 0, now)).toBe(0);
    expect(delaySecondsOf(undefined, 5_000_000, now)).toBe(900);
  });
});
