import { expect } from 'vitest';
import type { RunManifest } from '../../shared/pipeline/finalize.js';
import type { ObjectStore } from '../../shared/ports.js';

/** The manifest invariant: every accepted URL ended in exactly one terminal state, and every failure has a reason. */
export function expectManifestInvariant(manifest: RunManifest): void {
  const { accepted, parsed, unchanged, skipped, failed } = manifest.urls;
  expect(parsed + unchanged + skipped + failed, `terminal states of run ${manifest.runId}`).toBe(accepted);
  const reasons = Object.values(manifest.reasons).reduce((sum, count) => sum + count, 0);
  expect(reasons, 'every failed or skipped URL has a reason').toBe(failed + skipped);
}

/** A line of a run's failures file (`runs/<job>/<runId>/failures.ndjson`): a URL that failed or was skipped. */
export interface FailureLine {
  readonly url: string;
  readonly state: 'failed' | 'skipped';
  readonly reason: string;
  readonly message: string | null;
  readonly depth: number;
}

/** The lines of a run's failures file, in file order; none when the manifest names no file or the file is not there. */
export async function runFailures(store: ObjectStore, manifest: RunManifest): Promise<FailureLine[]> {
  const body = manifest.failuresKey ? await store.get(manifest.failuresKey) : undefined;
  if (!body) return [];
  return Buffer.from(body)
    .toString('utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as FailureLine);
}

/** Failure lines by the path of their URL. */
export function failuresByPath(failures: readonly FailureLine[]): Map<string, FailureLine> {
  return new Map(failures.map((failure) => [new URL(failure.url).pathname, failure]));
}
