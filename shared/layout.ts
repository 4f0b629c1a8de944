/**
 * The storage layout, the same in S3 and on local disk. Keys derive only from the job name (validated to
 * `[a-z0-9-]`), run ids and batch ids made here, never from URLs, so no key can escape its prefix.
 */

const SAFE_SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

function segment(value: string, what: string): string {
  if (!SAFE_SEGMENT.test(value) || value.includes('..')) throw new Error(`unsafe ${what} in a storage key: "${value}"`);
  return value;
}

/** `YYYY-MM-DD` (UTC) of an epoch-millisecond time: the `dt` partition. */
export function partitionDate(epochMs: number): string {
  return new Date(epochMs).toISOString().slice(0, 10);
}

export const layout = {
  /** Raw responses of one fetch batch (WARC 1.1, one gzip member per record). */
  raw: (job: string, runId: string, batchId: string) =>
    `raw/${segment(job, 'job')}/${segment(runId, 'run id')}/${segment(batchId, 'batch id')}.warc.gz`,
  /** Parser output for one parse batch; its creation triggers post-processing. */
  records: (job: string, runId: string, batchId: string) =>
    `records/${segment(job, 'job')}/${segment(runId, 'run id')}/${segment(batchId, 'batch id')}.ndjson.gz`,
  recordsPrefix: 'records/',
  /** Curated, valid, deduplicated items (Athena table with partition projection on dt). */
  dataset: (job: string, dt: string, runId: string, batchId: string) =>
    `datasets/${segment(job, 'job')}/dt=${segment(dt, 'date')}/${segment(runId, 'run id')}-${segment(batchId, 'batch id')}.ndjson.gz`,
  datasetPrefix: (job: string, dt?: string) => `datasets/${segment(job, 'job')}/${dt ? `dt=${segment(dt, 'date')}/` : ''}`,
  /** New, changed and removed items of a run (`removed` when the run finishes). */
  changes: (job: string, dt: string, runId: string, batchId: string) =>
    `changes/${segment(job, 'job')}/dt=${segment(dt, 'date')}/${segment(runId, 'run id')}-${segment(batchId, 'batch id')}.ndjson.gz`,
  changesPrefix: (job: string, dt?: string) => `changes/${segment(job, 'job')}/${dt ? `dt=${segment(dt, 'date')}/` : ''}`,
  /** The current state of every item of a job (latest value per key) as of a run, in parts. */
  currentPart: (job: string, runId: string, part: number) =>
    `current/${segment(job, 'job')}/${segment(runId, 'run id')}/part-${String(part).padStart(5, '0')}.ndjson.gz`,
  /** Points at the newest current-state snapshot of a job. */
  currentPointer: (job: string) => `current/${segment(job, 'job')}/latest.json`,
  /** Items that failed validation, with reasons. */
  quarantine: (job: string, runId: string, batchId: string) =>
    `quarantine/${segment(job, 'job')}/${segment(runId, 'run id')}/${segment(batchId, 'batch id')}.ndjson.gz`,
  /**
   * The item keys and links of one page too large for its state items (a page of thousands of items), written by the
   * records object that post-processed it; its URL entry and page memory point here.
   */
  pageLists: (job: string, runId: string, batchId: string, pageId: string) =>
    `runs/${segment(job, 'job')}/${segment(runId, 'run id')}/pages/${segment(batchId, 'batch id')}/${segment(`p${pageId}`, 'page id')}.json.gz`,
  /**
   * Scratch of one finalization attempt of a large run (the item keys its pages hold, in buckets), read back by the
   * same attempt; expires by the bucket's lifecycle rule on `scratch/`.
   */
  finalizeScratch: (job: string, runId: string, attempt: string, name: string) =>
    `${layout.finalizeScratchFolder(job, runId, attempt)}${segment(name, 'scratch name')}.gz`,
  /** The folder of {@link layout.finalizeScratch}'s objects of one attempt, discarded when the attempt ends. */
  finalizeScratchFolder: (job: string, runId: string, attempt: string) =>
    `scratch/${segment(job, 'job')}/${segment(runId, 'run id')}/finalize-${segment(attempt, 'attempt id')}/`,
  scratchPrefix: 'scratch/',
  /**
   * Every URL of a run that did not end as parsed or unchanged, with its reason (written with the manifest), in
   * parts of at most `settings.failuresPartLines` lines: part 0 is `failures.ndjson`, part n `failures-<n>.ndjson`.
   */
  failures: (job: string, runId: string, part = 0) =>
    `runs/${segment(job, 'job')}/${segment(runId, 'run id')}/failures${part === 0 ? '' : `-${part}`}.ndjson`,
  manifest: (job: string, runId: string) => `runs/${segment(job, 'job')}/${segment(runId, 'run id')}/manifest.json`,
  runsPrefix: (job: string) => `runs/${segment(job, 'job')}/`,
} as const;

/** Splits a records key back into its parts; `undefined` for any other key. */
export function parseRecordsKey(key: string): { job: string; runId: string; batchId: string } | undefined {
  const match = /^records\/([a-z0-9-]+)\/([A-Za-z0-9._-]+)\/([A-Za-z0-9._-]+)\.ndjson\.gz$/.exec(key);
  if (!match) return undefined;
  return { job: match[1] ?? '', runId: match[2] ?? '', batchId: match[3] ?? '' };
}
