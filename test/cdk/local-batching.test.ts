import { describe, expect, it } from 'vitest';
import { STAGE_DEFAULTS } from '../../cdk/stack.js';
import { LOCAL_BATCHING } from '../../shared/local/runtime.js';
import { SLOT_LEAD_MS } from '../../shared/pipeline/politeness.js';

describe('Constant: LOCAL_BATCHING', () => {
  it("mirrors the batch sizes, batching windows and timeouts of the stack's event source mappings", () => {
    // Prepare
    const stages = [
      ['fetch', 'fetcher'],
      ['parse', 'parser'],
      ['postprocess', 'postprocessor'],
    ] as const;

    // Assess: local manifests count the requests (objects, messages, invocations) a run on AWS makes.
    for (const [local, stage] of stages) {
      const cloud = STAGE_DEFAULTS[stage];
      expect(LOCAL_BATCHING[local]).toEqual({
        size: cloud.batchSize,
        windowMs: cloud.maxBatchingWindow.toMilliseconds(),
        timeoutMs: cloud.timeout.toMilliseconds(),
      });
    }
  });

  it("sends a task handed back with a booked start early enough for the fetch queue's batching window", () => {
    // A task visible SLOT_LEAD_MS before its start is delivered within the window, and delays are whole seconds.
    expect(SLOT_LEAD_MS).toBeGreaterThanOrEqual(STAGE_DEFAULTS.fetcher.maxBatchingWindow.toMilliseconds() + 1000);
  });
});
