import { expect } from 'vitest';
import type { FailureLine, RunManifest } from '../../shared/pipeline/finalize.js';
import type { ObjectStore } from '../../shared/ports.js';
import { listManifests, readManifest } from '../../shared/query.js';
import { collect } from '../fixtures/iterables.js';

export type { FailureLine };

/** The manifest invariant: every accepted URL ended in exactly one terminal state, and every failure has a reason. */
export function expectManifestInvariant(manifest: RunManifest): void {
  const { accepted, parsed, unchanged, skipped, failed } = manifest.urls;
  expect(parsed + unchanged + skipped + failed, `terminal states of run ${manifest.runId}`).toBe(accepted);
  const reasons = Object.values(manifest.reasons).reduce((sum, count) => sum + count, 0);
  expect(reasons, 'every failed or skipped URL has a reason').toBe(failed + skipped);
}

/** The lines of a run's failures file, every part in order; fails the test when a part the manifest names is missing. */
export async function runFailures(store: ObjectStore, manifest: RunManifest): Promise<FailureLine[]> {
  const lines: FailureLine[] = [];
  for (const key of manifest.failuresKeys) {
    const body = await store.get(key);
    expect(body, `failures part ${key}`).toBeDefined();
    for (const line of Buffer.from(body ?? [])
      .toString('utf8')
      .split('\n')) {
      if (line.trim() !== '') lines.push(JSON.parse(line) as FailureLine);
    }
  }
  return lines;
}

/** Failure lines by the path of their URL. */
export function failuresByPath(failures: readonly FailureLine[]): Map<string, FailureLine> {
  return new Map(failures.map((failure) => [new URL(failure.url).pathname, failure]));
}

/** Options of {@link finishedManifest}. */
export interface FinishedManifestOptions {
  /** The run to wait for. @default any run of the job */
  readonly runId?: string;
  readonly timeoutMs: number;
  /** @default 100 */
  readonly intervalMs?: number;
}

/**
 * Polls `store` until a run of `job` (run `runId` when given) has a manifest in a final state, and returns it;
 * `undefined` when none has within `timeoutMs`.
 */
export async function finishedManifest(
  store: ObjectStore,
  job: string,
  options: FinishedManifestOptions,
): Promise<RunManifest | undefined> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const manifests = options.runId ? [await readManifest(store, job, options.runId)] : await collect(listManifests(store, job));
    const finished = manifests.find((manifest) => manifest !== undefined && manifest.state !== 'running');
    if (finished || Date.now() > deadline) return finished;
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 100));
  }
}
