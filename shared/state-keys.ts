import { urlId } from './url.js';

/**
 * The state table's key layout, the one owner of every `pk`/`sk` the pipeline writes (as `layout.ts` is for object
 * keys). Keys derive from job names (validated), run ids made here, and hashes of URLs and item keys, never from
 * raw user data.
 *
 * | pk | sk | what |
 * | --- | --- | --- |
 * | `run#<job>#<runId>` | `meta` | the run: state, start time; the page budget used (reserved before the entries are written) |
 * | `run#<job>#<runId>` | `start` | what the run started with: hosts, start URLs (apart: the meta item is written often) |
 * | `run#<job>#<runId>` | `c#<nn>` | counter shards: terminal states, items, bytes, template yields |
 * | `run#<job>#<runId>` | `c#a<nn>` | accepted counter shards: URLs accepted (and skipped on offer), counted after their entries are written |
 * | `run#<job>#<runId>` | `c#r<nn>` | request counter shards: the AWS requests and units the run's invocations made |
 * | `run#<job>#<runId>` | `url#<urlId>` | one URL of the run and its state |
 * | `run#<job>#<runId>` | `r#<batchId>` | receipt: the counters of a records object were applied |
 * | `run#<job>#<runId>` | `a#<acceptance>` | receipt: the URLs an acceptance wrote were counted (the entries name their acceptance in `source`) |
 * | `run#<job>#<runId>` | `item#<keyId>` | the page that owns an item key in the run (dedup), for keys the job knew before the run (a new key is claimed by creating its memory) |
 * | `run#<job>#<runId>` | `robots#<robotsUrl>` | a robots.txt policy fetched for the run |
 * | `runs#active` | `<job>#<runId>` | runs not finished, for the watchdog |
 * | `pages#<job>` | `<urlId>` | page memory between runs |
 * | `items#<job>` | `k#<keyId>` | item memory between runs |
 * | `job#<job>` | `baseline` | the quality baseline |
 * | `host#<host>` | `gate` | fleet politeness |
 */
export const stateKeys = {
  run: (job: string, runId: string) => `run#${job}#${runId}`,
  meta: 'meta',
  start: 'start',
  counterShard: (shard: number) => `c#${String(shard).padStart(2, '0')}`,
  /** Request counts of the run's invocations: counter shards too (their prefix), kept apart so they stay small. */
  requestShard: (shard: number) => `c#r${String(shard).padStart(2, '0')}`,
  /** Accepted counts: counter shards too (their prefix), kept apart so they stay one write unit. */
  acceptShard: (shard: number) => `c#a${String(shard).padStart(2, '0')}`,
  counterShardPrefix: 'c#',
  url: (url: string) => `url#${urlId(url)}`,
  urlPrefix: 'url#',
  receipt: (batchId: string) => `r#${batchId}`,
  acceptance: (acceptance: string) => `a#${acceptance}`,
  item: (key: string) => `item#${urlId(key)}`,
  robots: (robotsUrl: string) => `robots#${robotsUrl}`,
  /** Under `run#<job>#<runId>`: the run's login session (its cookies, or why the login failed), shared by its fetchers. */
  session: 'session',
  activeRuns: 'runs#active',
  activeRun: (job: string, runId: string) => `${job}#${runId}`,
  pages: (job: string) => `pages#${job}`,
  page: (url: string) => urlId(url),
  items: (job: string) => `items#${job}`,
  itemKey: (key: string) => `k#${urlId(key)}`,
  itemKeyPrefix: 'k#',
  job: (job: string) => `job#${job}`,
  baseline: 'baseline',
  host: (host: string) => `host#${host}`,
  gate: 'gate',
} as const;

/** Counter shards per run: counter updates spread over this many items, so no single item is hot. */
export const COUNTER_SHARDS = 16;
