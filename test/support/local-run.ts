import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Job } from '../../shared/job/schema.js';
import { LocalRuntime, type LocalRuntimeOptions, type LocalRuntimeParts } from '../../shared/local/runtime.js';
import type { PipelineSettings } from '../../shared/pipeline/context.js';
import type { RunManifest } from '../../shared/pipeline/finalize.js';
import { type Row, readManifest, runRows } from '../../shared/query.js';

/** Fast retries for tests: the behaviour is the same, the waits are short. */
export const FAST_RETRIES: Partial<PipelineSettings> = { retryBaseMs: 5, inlineRetryMaxMs: 2000 };

/** The test sites listen on 127.0.0.1, which the SSRF guard refuses by default. */
export const LOOPBACK_ALLOWED = { allow: ['127.0.0.1'] } as const;

/** A local runtime on a temporary data folder, removed by `dispose`. */
export async function tempRuntime(
  jobs: readonly Job[],
  options: LocalRuntimeOptions = {},
  settings = FAST_RETRIES,
  parts: Partial<LocalRuntimeParts> = {},
) {
  const dataDir = await mkdtemp(join(tmpdir(), 'scrapeline-test-'));
  let runtime = new LocalRuntime({ jobs, settings, ssrf: LOOPBACK_ALLOWED, ...parts }, { dataDir, ...options });
  return {
    dataDir,
    get runtime() {
      return runtime;
    },
    /** Closes the runtime and opens a new one on the same data folder (a restart). */
    async reopen() {
      await runtime.close();
      runtime = new LocalRuntime({ jobs, settings, ssrf: LOOPBACK_ALLOWED, ...parts }, { dataDir, ...options });
      return runtime;
    },
    /** Runs a job to the end; fails the test when the run stalls. */
    async run(job: string, startUrls?: string[]): Promise<RunManifest> {
      const { outcome } = await runtime.run(job, startUrls ? { startUrls } : {});
      if (outcome.kind !== 'finished') throw new Error(`run stalled: ${JSON.stringify(outcome)}`);
      return outcome.manifest;
    },
    async rows(manifest: RunManifest): Promise<Row[]> {
      const rows: Row[] = [];
      for await (const row of runRows(runtime.store, manifest)) rows.push(row);
      return rows;
    },
    manifest: (job: string, runId: string) => readManifest(runtime.store, job, runId),
    async dispose() {
      await runtime.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
