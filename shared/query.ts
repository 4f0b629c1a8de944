import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { InvalidInputError } from './errors.js';
import type { Job } from './job/schema.js';
import { layout, partitionDate } from './layout.js';
import type { CurrentSnapshot } from './pipeline/current-state.js';
import type { RunManifest } from './pipeline/finalize.js';
import type { ObjectStore } from './ports.js';

/** A dataset row: the item's fields plus `_key`, `_url`, `_runId`, `_fetchedAt`. */
export type Row = Record<string, unknown>;

/**
 * The columns the pipeline adds to an item's fields: in a run's dataset (shared/pipeline/postprocess.ts) and in the
 * current-state snapshot (shared/pipeline/finalize.ts). test/cli.query.test.ts checks them against written rows.
 */
export const METADATA_COLUMNS = {
  run: ['_key', '_url', '_runId', '_fetchedAt'],
  current: ['_key', '_url', '_changedIn'],
} as const;

/** The columns of a change record (shared/pipeline/changes.ts `ChangeRecord`) besides its `data`. */
export const CHANGE_COLUMNS = ['type', 'key', 'runId', 'url', 'diff'] as const;

/** Which rows a query reads: the current state of every item, or the items of one run. */
export type RowView = keyof typeof METADATA_COLUMNS;

/** Every field of a job's templates, each once, in declaration order (templates in order, then their fields). */
export function templateFields(job: Pick<Job, 'templates'>): string[] {
  return [...new Set(Object.values(job.templates).flatMap((template) => Object.keys(template.fields)))];
}

/**
 * The columns of a job's rows, known before the first row streams by: the union of its templates' fields, then
 * the metadata columns of the view. Output formats that need a header (CSV, table) use these, so a template whose
 * items come later in the stream still has its columns.
 */
export function rowColumns(job: Pick<Job, 'templates'>, view: RowView): string[] {
  return [...templateFields(job), ...METADATA_COLUMNS[view]];
}

/** The columns of a job's change records, flattened for CSV: `type`, `key`, `runId`, `url`, `diff`, `data.<field>`. */
export function changeColumns(job: Pick<Job, 'templates'>): string[] {
  return [...CHANGE_COLUMNS, ...templateFields(job).map((field) => `data.${field}`)];
}

/** A change record with its `data` spread into `data.<field>` keys (the rest as it is), for CSV. */
export function flattenChange(change: Row): Row {
  const { data, ...rest } = change;
  const flat: Row = { ...rest };
  if (data !== null && typeof data === 'object') {
    for (const [field, value] of Object.entries(data as Record<string, unknown>)) flat[`data.${field}`] = value;
  }
  return flat;
}

/**
 * Checks that every field a query names (`--where`, `--fields`; for `a.b` the part before the dot) is one of the
 * columns.
 *
 * @returns a message naming the unknown fields and the valid ones, or `undefined` when all are known
 */
export function unknownFieldsProblem(option: string, names: readonly string[], columns: readonly string[]): string | undefined {
  const unknown = [...new Set(names.filter((name) => !columns.includes(name.split('.')[0] ?? name)))];
  if (unknown.length === 0) return undefined;
  const which = unknown.map((name) => `"${name}"`).join(', ');
  return `${option}: unknown field${unknown.length > 1 ? 's' : ''} ${which} (fields: ${columns.join(', ')})`;
}

/**
 * A stored manifest. One written before the failures file came in parts names its single file in `failuresKey` only:
 * it gets the `failuresKeys` list a current manifest has.
 */
function parseManifest(body: Uint8Array): RunManifest {
  const manifest = JSON.parse(Buffer.from(body).toString('utf8')) as RunManifest;
  if (manifest.failuresKeys !== undefined) return manifest;
  return { ...manifest, failuresKeys: manifest.failuresKey === null ? [] : [manifest.failuresKey] };
}

/** Every manifest of a job, in run id order (time-based ids sort by start time; ids chosen with --run-id need not). */
export async function* listManifests(store: ObjectStore, job: string): AsyncIterable<RunManifest> {
  for await (const object of store.list(layout.runsPrefix(job))) {
    if (!object.key.endsWith('/manifest.json')) continue;
    const body = await store.get(object.key);
    if (body) yield parseManifest(body);
  }
}

/** The manifest of one run, or `undefined`. */
export async function readManifest(store: ObjectStore, job: string, runId: string): Promise<RunManifest | undefined> {
  const body = await store.get(layout.manifest(job, runId));
  return body ? parseManifest(body) : undefined;
}

/** The most recent finished run (any final state), or `undefined` when the job has none. */
export async function latestFinishedRun(store: ObjectStore, job: string): Promise<RunManifest | undefined> {
  let latest: RunManifest | undefined;
  for await (const manifest of listManifests(store, job)) {
    // Run ids sort by start time to the second only: two runs started within a second are ordered by start time.
    if (manifest.state !== 'running' && (!latest || Date.parse(manifest.startedAt) >= Date.parse(latest.startedAt))) {
      latest = manifest;
    }
  }
  return latest;
}

/** Streams the lines of a gzip-compressed NDJSON object as parsed rows. */
export async function* readNdjsonGzip(store: ObjectStore, key: string): AsyncIterable<Row> {
  const stream = await store.getStream(key);
  if (!stream) return;
  const lines = createInterface({ input: Readable.from(stream).pipe(createGunzip()), crlfDelay: Number.POSITIVE_INFINITY });
  let number = 0;
  for await (const line of lines) {
    number++;
    if (line.trim() === '') continue;
    try {
      yield JSON.parse(line) as Row;
    } catch (error) {
      throw new InvalidInputError(`${key}: line ${number} is not JSON`, error);
    }
  }
}

/** Streams the dataset rows of one run, batch by batch, without holding the dataset in memory. */
export async function* runRows(store: ObjectStore, manifest: RunManifest): AsyncIterable<Row> {
  const dt = partitionDate(Date.parse(manifest.startedAt));
  const prefix = `${layout.datasetPrefix(manifest.job, dt)}${manifest.runId}-`;
  for await (const object of store.list(prefix)) yield* readNdjsonGzip(store, object.key);
}

/** The pointer to a job's newest current-state snapshot, or `undefined` before the first finished run. */
export async function readSnapshot(store: ObjectStore, job: string): Promise<CurrentSnapshot | undefined> {
  const body = await store.get(layout.currentPointer(job));
  return body ? (JSON.parse(Buffer.from(body).toString('utf8')) as CurrentSnapshot) : undefined;
}

/** Streams the current state of every item (latest value per key across runs, removed items left out). */
export async function* currentRows(store: ObjectStore, snapshot: CurrentSnapshot): AsyncIterable<Row> {
  for (const key of snapshot.parts) yield* readNdjsonGzip(store, key);
}

/** Streams the change records (new, changed, removed) of one run. */
export async function* runChanges(store: ObjectStore, manifest: RunManifest): AsyncIterable<Row> {
  const dt = partitionDate(Date.parse(manifest.startedAt));
  for await (const object of store.list(`${layout.changesPrefix(manifest.job, dt)}${manifest.runId}-`)) {
    yield* readNdjsonGzip(store, object.key);
  }
}

/** A `--where` condition. */
export interface Condition {
  readonly field: string;
  readonly operator: '=' | '!=' | '>' | '>=' | '<' | '<=' | '~';
  readonly value: string;
}

/**
 * Parses `field=value`, `field!=value`, `field>10`, `field>=10`, `field<10`, `field<=10`, `field~text`
 * (contains, case-insensitive).
 */
export function parseCondition(expression: string): Condition {
  const match = /^([A-Za-z_][A-Za-z0-9_.]*)\s*(!=|>=|<=|=|>|<|~)\s*(.*)$/s.exec(expression);
  if (!match) {
    throw new InvalidInputError(`--where "${expression}": expected <field><op><value> with op one of = != > >= < <= ~`);
  }
  return { field: match[1] ?? '', operator: match[2] as Condition['operator'], value: match[3] ?? '' };
}

function fieldValue(row: Row, path: string): unknown {
  let value: unknown = row;
  for (const part of path.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

function compare(value: unknown, condition: Condition): boolean {
  if (Array.isArray(value)) return value.some((element) => compare(element, condition));
  const text = value === undefined || value === null ? '' : typeof value === 'object' ? JSON.stringify(value) : String(value);
  const number = Number(condition.value);
  const numeric = typeof value === 'number' && condition.value.trim() !== '' && Number.isFinite(number);
  switch (condition.operator) {
    case '=':
      return numeric ? value === number : text === condition.value;
    case '!=':
      return numeric ? value !== number : text !== condition.value;
    case '~':
      return text.toLowerCase().includes(condition.value.toLowerCase());
    default: {
      const left = numeric ? (value as number) : text;
      const right = numeric ? number : condition.value;
      if (condition.operator === '>') return left > right;
      if (condition.operator === '>=') return left >= right;
      if (condition.operator === '<') return left < right;
      return left <= right;
    }
  }
}

/** Whether a row meets every condition (arrays match when any element does). */
export function matches(row: Row, conditions: readonly Condition[]): boolean {
  return conditions.every((condition) => compare(fieldValue(row, condition.field), condition));
}

/** Options of {@link queryRows}. */
export interface QueryOptions {
  readonly where?: readonly Condition[];
  /** Fields to keep, in order. @default every field */
  readonly fields?: readonly string[];
  /** Rows to return at most. @default no limit */
  readonly limit?: number;
}

/** Filters, projects and limits rows as they stream by. */
export async function* queryRows(rows: AsyncIterable<Row>, options: QueryOptions = {}): AsyncIterable<Row> {
  let count = 0;
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  if (limit <= 0) return;
  for await (const row of rows) {
    if (!matches(row, options.where ?? [])) continue;
    yield options.fields ? Object.fromEntries(options.fields.map((field) => [field, fieldValue(row, field)])) : row;
    if (++count >= limit) return;
  }
}
