import { describe, expect, it } from 'vitest';
import { deferralDelayMs } from '../../../shared/pipeline/fetch.js';

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
