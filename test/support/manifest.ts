import { expect } from 'vitest';
import type { RunManifest } from '../../shared/pipeline/finalize.js';

/** The manifest invariant: every accepted URL ended in exactly one terminal state, and every failure has a reason. */
export function expectManifestInvariant(manifest: RunManifest): void {
  const { accepted, parsed, unchanged, skipped, failed } = manifest.urls;
  expect(parsed + unchanged + skipped + failed, `terminal states of run ${manifest.runId}`).toBe(accepted);
  const reasons = Object.values(manifest.reasons).reduce((sum, count) => sum + count, 0);
  expect(reasons, 'every failed or skipped URL has a reason').toBe(failed + skipped);
}
