import type { FieldType } from '../job/schema.js';

/**
 * Glue Data Catalog definitions of the tables Athena reads a job's output through: pure functions of the job, with
 * no CDK or SDK dependency, so the CDK construct, the CLI and the tests share them.
 *
 * Per job, two tables over gzip NDJSON (shared/layout.ts):
 * - `<job>` over `datasets/<job>/dt=YYYY-MM-DD/`: one row per item written, the template fields (the union over the
 *   job's templates) then `_key`, `_url`, `_runid`, `_fetchedat`;
 * - `<job>_changes` over `changes/<job>/dt=YYYY-MM-DD/`: `type`, `key`, `runid`, `url`, `data` (a struct of the
 *   fields) and `diff` (a struct of `{before, after}` per field).
 *
 * Both are partitioned by `dt` through partition projection (no crawler, no `MSCK REPAIR`, no partitions to add).
 * Glue and Athena names are lowercase, so job names have `-` replaced by `_` and column names are lowercased.
 */

/** The OpenX JSON SerDe: reads one JSON object per line, nested structs and arrays included. */
export const JSON_SERDE = 'org.openx.data.jsonserde.JsonSerDe';
/** Plain text lines; gzip objects (`.gz`) are decompressed by their extension. */
export const TEXT_INPUT_FORMAT = 'org.apache.hadoop.mapred.TextInputFormat';
export const TEXT_OUTPUT_FORMAT = 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat';

/** The partition column of both tables. */
export const PARTITION_COLUMN = 'dt';
/** First day of the `dt` projection unless told otherwise. */
export const DEFAULT_PROJECTION_START = '2024-01-01';

/** What the table definitions need to know of a job: a validated `Job` is one. */
export interface TableSourceJob {
  readonly name: string;
  readonly templates: Readonly<Record<string, { readonly fields: Readonly<Record<string, TableSourceField>> }>>;
}

/** What a column needs to know of a field. */
export interface TableSourceField {
  readonly type: FieldType;
  readonly many: boolean;
  /** Written as it is when nothing matched: a default of another type widens the column to `string`. */
  readonly default?: unknown;
}

/** One column of a Glue table. */
export interface TableColumn {
  /** Lowercase, as Athena names it. */
  readonly name: string;
  /** Hive type: `string`, `double`, `bigint`, `boolean`, `array<...>`, `struct<...>`. */
  readonly type: string;
  /** At most 255 characters. */
  readonly comment: string;
}

/** A template field's column: the union of the fields of every template that lowercase to the same name. */
export interface FieldColumn extends TableColumn {
  /** The fields it reads, as `template.field`. */
  readonly sources: readonly string[];
}

/** What a job's tables are. */
export type TableKind = 'dataset' | 'changes';

/** A Glue table, in neutral terms; {@link glueTableInput} turns it into CloudFormation's `TableInput`. */
export interface AthenaTableDefinition {
  readonly job: string;
  readonly kind: TableKind;
  readonly name: string;
  readonly description: string;
  /** `s3://<bucket>/<datasets|changes>/<job>/` */
  readonly location: string;
  readonly columns: readonly TableColumn[];
  readonly partitionKeys: readonly TableColumn[];
  /** Table parameters: classification, compression and the partition projection. */
  readonly parameters: Readonly<Record<string, string>>;
  /** SerDe parameters: `case.insensitive` and any `mapping.<column>`. */
  readonly serdeParameters: Readonly<Record<string, string>>;
  /** Fields that cannot be read as written (see {@link fieldColumns}), one sentence each. */
  readonly warnings: readonly string[];
}

/** Options of the table definitions. */
export interface TableOptions {
  /** Name of the pipeline bucket (a CDK token is fine: it is only interpolated into strings). */
  readonly bucket: string;
  /** First day (`YYYY-MM-DD`, UTC) the `dt` projection covers. @default '2024-01-01' */
  readonly projectionStart?: string;
}

const ATHENA_TYPES: Readonly<Record<FieldType, string>> = {
  string: 'string',
  number: 'double',
  integer: 'bigint',
  boolean: 'boolean',
  url: 'string',
  // Calendar dates (`2019-03-05`) and full UTC timestamps (`2019-03-05T10:00:00.000Z`) can share one field, and the
  // JSON SerDe's timestamp type wants `yyyy-MM-dd HH:mm:ss`: text, which `from_iso8601_timestamp` reads.
  date: 'string',
};

/** The metadata columns of every dataset row, in order (`_runId` and `_fetchedAt` in the JSON). */
export const DATASET_METADATA_COLUMNS: readonly TableColumn[] = [
  { name: '_key', type: 'string', comment: "The item's key: the value of its template's key field, as text" },
  { name: '_url', type: 'string', comment: 'The page the item was extracted from (after redirects)' },
  { name: '_runid', type: 'string', comment: 'The run that wrote the row (_runId in the JSON)' },
  {
    name: '_fetchedat',
    type: 'string',
    comment: 'When the page was fetched: ISO 8601 in UTC (_fetchedAt in the JSON); from_iso8601_timestamp(_fetchedat)',
  },
];

/** A table name: the job name with `-` replaced by `_` (job names are `[a-z0-9-]`). */
export function tableNames(job: string): { readonly dataset: string; readonly changes: string } {
  const base = job.replaceAll('-', '_');
  return { dataset: base, changes: `${base}_changes` };
}

/**
 * Table names that two jobs would share (`shop-changes`'s dataset table and `shop`'s changes table are both
 * `shop_changes`), one sentence each.
 */
export function tableNameProblems(jobs: readonly Pick<TableSourceJob, 'name'>[]): string[] {
  const owners = new Map<string, string[]>();
  for (const job of jobs) {
    const names = tableNames(job.name);
    for (const [kind, name] of Object.entries(names)) {
      owners.set(name, [...(owners.get(name) ?? []), `the ${kind} table of job "${job.name}"`]);
    }
  }
  return [...owners.entries()]
    .filter(([, list]) => list.length > 1)
    .map(([name, list]) => `table name "${name}" would be ${list.join(' and ')}: rename one of the jobs`);
}

/** The Hive type of one field, `many` included; `string` when its default does not fit the type. */
export function fieldType(field: TableSourceField): string {
  const base = ATHENA_TYPES[field.type];
  const type = field.many ? `array<${base}>` : base;
  return field.default === undefined || fits(field.default, base, field.many) ? type : 'string';
}

function fits(value: unknown, base: string, many: boolean): boolean {
  if (many) return Array.isArray(value) && value.every((element) => fits(element, base, false));
  switch (base) {
    case 'double':
      return typeof value === 'number' && Number.isFinite(value);
    case 'bigint':
      return Number.isSafeInteger(value);
    case 'boolean':
      return typeof value === 'boolean';
    default:
      return value === null || ['string', 'number', 'boolean'].includes(typeof value);
  }
}

function clip(text: string, max = 255): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

interface MergedField {
  readonly name: string;
  readonly types: Set<string>;
  readonly sources: string[];
  /** Original spellings per template, to find fields one template spells twice. */
  readonly spellings: Map<string, Set<string>>;
}

/**
 * The field columns of a job, in order of first appearance: one per field name, lowercased (Athena lowercases
 * names, and the JSON SerDe lowercases keys with `case.insensitive`). A name with two types across templates
 * (`number` in one, `string` or `many` in another) is a `string` column: the SerDe reads any JSON value as text.
 */
export function fieldColumns(job: TableSourceJob): { columns: FieldColumn[]; warnings: string[] } {
  const merged = new Map<string, MergedField>();
  for (const [templateName, template] of Object.entries(job.templates)) {
    for (const [fieldName, field] of Object.entries(template.fields)) {
      const name = fieldName.toLowerCase();
      let entry = merged.get(name);
      if (!entry) {
        entry = { name, types: new Set(), sources: [], spellings: new Map() };
        merged.set(name, entry);
      }
      entry.types.add(fieldType(field));
      entry.sources.push(`${templateName}.${fieldName}`);
      entry.spellings.set(templateName, new Set([...(entry.spellings.get(templateName) ?? []), fieldName]));
    }
  }
  const warnings: string[] = [];
  const columns = [...merged.values()].map((entry): FieldColumn => {
    const [only] = entry.types;
    const type = entry.types.size === 1 && only !== undefined ? only : 'string';
    for (const [template, spellings] of entry.spellings) {
      if (spellings.size > 1) {
        warnings.push(
          `job "${job.name}", template "${template}": fields ${[...spellings].join(', ')} are one column "${entry.name}" in Athena, which reads names without case; rows holding both fail to read (duplicate key): rename all but one`,
        );
      }
    }
    const widened = entry.types.size > 1 ? ` (string: the fields have types ${[...entry.types].join(', ')})` : '';
    return {
      name: entry.name,
      type,
      comment: clip(`Field ${entry.sources.join(', ')}${widened}`),
      sources: entry.sources,
    };
  });
  return { columns, warnings };
}

function partitioning(options: TableOptions, prefix: string): { keys: TableColumn[]; parameters: Record<string, string> } {
  const start = options.projectionStart ?? DEFAULT_PROJECTION_START;
  const problem = projectionStartProblem(start);
  if (problem) throw new RangeError(problem);
  return {
    keys: [
      {
        name: PARTITION_COLUMN,
        type: 'string',
        comment: 'Day the run that wrote the row started (YYYY-MM-DD, UTC): filter on it',
      },
    ],
    parameters: {
      'projection.enabled': 'true',
      'projection.dt.type': 'date',
      'projection.dt.format': 'yyyy-MM-dd',
      'projection.dt.range': `${start},NOW`,
      'projection.dt.interval': '1',
      'projection.dt.interval.unit': 'DAYS',
      'storage.location.template': `s3://${options.bucket}/${prefix}dt=\${dt}/`,
    },
  };
}

/** Why `start` cannot begin the `dt` projection, or `undefined`. */
export function projectionStartProblem(start: string): string | undefined {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(start);
  const date = match ? new Date(`${start}T00:00:00Z`) : undefined;
  if (!match || !date || Number.isNaN(date.getTime()) || date.toISOString().slice(0, 10) !== start) {
    return `projectionStart must be a date as YYYY-MM-DD, got "${start}"`;
  }
  return undefined;
}

const COMMON_PARAMETERS = { EXTERNAL: 'TRUE', classification: 'json', compressionType: 'gzip', typeOfData: 'file' };

/** A column name no other column has, for a field that would take the name of the partition column. */
function freeName(wanted: string, taken: ReadonlySet<string>): string {
  let name = `${wanted}_field`;
  for (let index = 2; taken.has(name); index++) name = `${wanted}_field${index}`;
  return name;
}

/**
 * The dataset table of a job (`datasets/<job>/`). A field whose name is a metadata column's (`_key`, any case) is
 * left out: the metadata value is what the row holds under that name. A field named `dt` (any case) is read into
 * `dt_field` through a SerDe `mapping`, as `dt` is the partition column.
 */
export function datasetTable(job: TableSourceJob, options: TableOptions): AthenaTableDefinition {
  const prefix = `datasets/${job.name}/`;
  const { columns: fields, warnings } = fieldColumns(job);
  const metadata = new Set(DATASET_METADATA_COLUMNS.map((column) => column.name));
  const taken = new Set([...fields.map((field) => field.name), ...metadata, PARTITION_COLUMN]);
  const serdeParameters: Record<string, string> = { 'case.insensitive': 'true' };
  const columns: TableColumn[] = [];
  for (const field of fields) {
    if (metadata.has(field.name)) {
      warnings.push(
        `job "${job.name}": field ${field.sources.join(', ')} is hidden in the dataset table by the metadata column "${field.name}" (its value is in the changes table's data.${field.name}); rename the field`,
      );
      continue;
    }
    if (field.name === PARTITION_COLUMN) {
      const name = freeName(field.name, taken);
      taken.add(name);
      serdeParameters[`mapping.${name}`] = field.name;
      columns.push({ name, type: field.type, comment: clip(`${field.comment}; "dt" is the partition column`) });
      continue;
    }
    columns.push({ name: field.name, type: field.type, comment: field.comment });
  }
  columns.push(...DATASET_METADATA_COLUMNS);
  const { keys, parameters } = partitioning(options, prefix);
  return {
    job: job.name,
    kind: 'dataset',
    name: tableNames(job.name).dataset,
    description: `Items of job ${job.name}: one row per item written by a run (datasets/${job.name}/, gzip NDJSON)`,
    location: `s3://${options.bucket}/${prefix}`,
    columns,
    partitionKeys: keys,
    parameters: { ...COMMON_PARAMETERS, ...parameters },
    serdeParameters,
    warnings,
  };
}

/** `struct<a:T,b:U>`, or `string` (the JSON text, `{}`) for a job without fields: Hive has no empty struct. */
function struct(members: readonly { name: string; type: string }[]): string {
  return members.length === 0 ? 'string' : `struct<${members.map((member) => `${member.name}:${member.type}`).join(',')}>`;
}

/** The changes table of a job (`changes/<job>/`): new, changed and removed items, with a field-level diff. */
export function changesTable(job: TableSourceJob, options: TableOptions): AthenaTableDefinition {
  const prefix = `changes/${job.name}/`;
  const { columns: fields, warnings } = fieldColumns(job);
  const { keys, parameters } = partitioning(options, prefix);
  return {
    job: job.name,
    kind: 'changes',
    name: tableNames(job.name).changes,
    description: `New, changed and removed items of job ${job.name} (changes/${job.name}/, gzip NDJSON)`,
    location: `s3://${options.bucket}/${prefix}`,
    columns: [
      { name: 'type', type: 'string', comment: 'new, changed or removed' },
      { name: 'key', type: 'string', comment: "The item's key" },
      { name: 'runid', type: 'string', comment: 'The run that found the change (runId in the JSON)' },
      { name: 'url', type: 'string', comment: 'The page the item was seen on (for removed: where it was last seen)' },
      { name: 'data', type: struct(fields), comment: 'The item now (new, changed) or as last seen (removed)' },
      {
        name: 'diff',
        type: struct(fields.map((field) => ({ name: field.name, type: `struct<before:${field.type},after:${field.type}>` }))),
        comment: 'Changed items: the fields that changed, each with before and after (null on the side it is missing)',
      },
    ],
    partitionKeys: keys,
    parameters: { ...COMMON_PARAMETERS, ...parameters },
    serdeParameters: { 'case.insensitive': 'true' },
    warnings,
  };
}

/** Both tables of a job. */
export function jobTables(
  job: TableSourceJob,
  options: TableOptions,
): { readonly dataset: AthenaTableDefinition; readonly changes: AthenaTableDefinition } {
  return { dataset: datasetTable(job, options), changes: changesTable(job, options) };
}

/** CloudFormation's `AWS::Glue::Table` `TableInput` (the shape of CDK's `CfnTable.TableInputProperty`). */
export interface GlueTableInput {
  readonly name: string;
  readonly description: string;
  readonly tableType: 'EXTERNAL_TABLE';
  readonly parameters: Record<string, string>;
  readonly partitionKeys: TableColumn[];
  readonly storageDescriptor: {
    readonly columns: TableColumn[];
    readonly location: string;
    readonly inputFormat: string;
    readonly outputFormat: string;
    readonly compressed: boolean;
    readonly storedAsSubDirectories: boolean;
    readonly serdeInfo: { readonly serializationLibrary: string; readonly parameters: Record<string, string> };
  };
}

/** The `TableInput` of a table definition. */
export function glueTableInput(table: AthenaTableDefinition): GlueTableInput {
  return {
    name: table.name,
    description: table.description,
    tableType: 'EXTERNAL_TABLE',
    parameters: { ...table.parameters },
    partitionKeys: table.partitionKeys.map((column) => ({ ...column })),
    storageDescriptor: {
      columns: table.columns.map((column) => ({ ...column })),
      location: table.location,
      inputFormat: TEXT_INPUT_FORMAT,
      outputFormat: TEXT_OUTPUT_FORMAT,
      compressed: true,
      storedAsSubDirectories: false,
      serdeInfo: { serializationLibrary: JSON_SERDE, parameters: { ...table.serdeParameters } },
    },
  };
}
