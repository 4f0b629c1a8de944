import { describe, expect, it } from 'vitest';
import { STAGE_DEFAULTS } from '../../cdk/stack.js';
import { LOCAL_BATCHING } from '../../shared/local/runtime.js';

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
});
