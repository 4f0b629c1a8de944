import { describe, expect, it } from 'vitest';
import {
  changesTable,
  DATASET_METADATA_COLUMNS,
  datasetTable,
  fieldColumns,
  fieldType,
  glueTableInput,
  JSON_SERDE,
  jobTables,
  TEXT_INPUT_FORMAT,
  TEXT_OUTPUT_FORMAT,
  tableNameProblems,
  tableNames,
} from '../../../shared/athena/table.js';
import { parseJob } from '../../../shared/job/load.js';
import type { Job } from '../../../shared/job/schema.js';

const BUCKET = 'pipeline-bucket';

/** A valid job with the given templates (the first one's first field is its key). */
function jobWith(name: string, templates: Record<string, Record<string, unknown>>): Job {
  return parseJob(
    {
      name,
      start: { urls: ['https://shop.example/'] },
      templates: Object.fromEntries(
        Object.entries(templates).map(([template, fields]) => [template, { key: Object.keys(fields)[0], fields }]),
      ),
    },
    `${name}.yaml`,
  );
}

/** Every field type, once plain and once as a list. */
const EVERY_TYPE = jobWith('every-type', {
  product: {
    sku: '.sku',
    title: { selector: 'h1', type: 'string' },
    price: { selector: '.price', type: 'number' },
    stock: { selector: '.stock', type: 'integer' },
    onSale: { selector: '.sale', extract: 'exists', type: 'boolean' },
    link: { selector: 'a', attr: 'href', type: 'url' },
    published: { selector: 'time', type: 'date' },
    tags: { selector: '.tag', many: true },
    sizes: { selector: '.size', many: true, type: 'integer' },
    images: { selector: 'img', attr: 'src', many: true, type: 'url' },
  },
});

/** Two templates sharing fields: the same type, another type, another list-ness, another case. */
const TWO_TEMPLATES = jobWith('two-templates', {
  product: {
    sku: '.sku',
    price: { selector: '.price', type: 'number' },
    rating: { selector: '.rating', type: 'integer' },
    colour: '.colour',
    Title: 'h1',
  },
  listing: {
    sku: '.sku',
    price: { selector: '.price', type: 'number' },
    rating: { selector: '.stars', type: 'number' },
    colour: { selector: '.colour', many: true },
    title: 'h2',
    seller: '.seller',
  },
});

const columnsOf = (table: { columns: readonly { name: string; type: string }[] }) =>
  table.columns.map(({ name, type }) => [name, type]);

describe('Function: fieldType', () => {
  it('maps every field type, and many to an array of it', () => {
    // Act
    const types = Object.fromEntries(
      Object.entries(EVERY_TYPE.templates.product?.fields ?? {}).map(([name, field]) => [name, fieldType(field)]),
    );

    // Assess
    expect(types).toEqual({
      sku: 'string',
      title: 'string',
      price: 'double',
      stock: 'bigint',
      onSale: 'boolean',
      link: 'string',
      published: 'string',
      tags: 'array<string>',
      sizes: 'array<bigint>',
      images: 'array<string>',
    });
  });

  it('keeps the type when the default fits it, and reads the field as text when it does not', () => {
    // Assess
    expect(fieldType({ type: 'number', many: false, default: 0 })).toBe('double');
    expect(fieldType({ type: 'number', many: false, default: 'n/a' })).toBe('string');
    expect(fieldType({ type: 'integer', many: false, default: 1.5 })).toBe('string');
    expect(fieldType({ type: 'boolean', many: false, default: false })).toBe('boolean');
    expect(fieldType({ type: 'boolean', many: false, default: 'no' })).toBe('string');
    expect(fieldType({ type: 'integer', many: true, default: [1, 2] })).toBe('array<bigint>');
    expect(fieldType({ type: 'integer', many: true, default: 1 })).toBe('string');
    expect(fieldType({ type: 'date', many: false, default: 'unknown' })).toBe('string');
  });
});

describe('Function: fieldColumns', () => {
  it('takes the union over the templates, lowercased, in order of first appearance', () => {
    // Act
    const { columns, warnings } = fieldColumns(TWO_TEMPLATES);

    // Assess
    expect(columnsOf({ columns })).toEqual([
      ['sku', 'string'],
      ['price', 'double'],
      ['rating', 'string'],
      ['colour', 'string'],
      ['title', 'string'],
      ['seller', 'string'],
    ]);
    expect(columns.find((column) => column.name === 'title')?.sources).toEqual(['product.Title', 'listing.title']);
    expect(columns.find((column) => column.name === 'rating')?.comment).toBe(
      'Field product.rating, listing.rating (string: the fields have types bigint, double)',
    );
    expect(columns.find((column) => column.name === 'colour')?.comment).toBe(
      'Field product.colour, listing.colour (string: the fields have types string, array<string>)',
    );
    expect(warnings).toEqual([]);
  });

  it('warns when one template has two fields that differ only in case', () => {
    // Prepare
    const job = jobWith('cased', { item: { id: '.id', Price: '.p1', price: '.p2' } });

    // Act
    const { columns, warnings } = fieldColumns(job);

    // Assess
    expect(columnsOf({ columns })).toEqual([
      ['id', 'string'],
      ['price', 'string'],
    ]);
    expect(warnings).toEqual([
      'job "cased", template "item": fields Price, price are one column "price" in Athena, which reads names without case; rows holding both fail to read (duplicate key): rename all but one',
    ]);
  });

  it('has no columns for a job without templates', () => {
    // Prepare
    const job = parseJob({ name: 'crawl-only', start: { urls: ['https://shop.example/'] } }, 'crawl-only.json');

    // Assess
    expect(fieldColumns(job)).toEqual({ columns: [], warnings: [] });
  });
});

describe('Function: datasetTable', () => {
  it('has the fields, then _key, _url, _runid and _fetchedat, over datasets/<job>/', () => {
    // Act
    const table = datasetTable(EVERY_TYPE, { bucket: BUCKET });

    // Assess
    expect(table.name).toBe('every_type');
    expect(table.kind).toBe('dataset');
    expect(table.location).toBe('s3://pipeline-bucket/datasets/every-type/');
    expect(columnsOf(table)).toEqual([
      ['sku', 'string'],
      ['title', 'string'],
      ['price', 'double'],
      ['stock', 'bigint'],
      ['onsale', 'boolean'],
      ['link', 'string'],
      ['published', 'string'],
      ['tags', 'array<string>'],
      ['sizes', 'array<bigint>'],
      ['images', 'array<string>'],
      ['_key', 'string'],
      ['_url', 'string'],
      ['_runid', 'string'],
      ['_fetchedat', 'string'],
    ]);
    expect(table.columns.slice(-4)).toEqual(DATASET_METADATA_COLUMNS);
    expect(table.warnings).toEqual([]);
  });

  it('projects the dt partitions day by day from 2024-01-01 to now, at the layout of shared/layout.ts', () => {
    // Act
    const table = datasetTable(EVERY_TYPE, { bucket: BUCKET });

    // Assess
    expect(table.partitionKeys).toEqual([
      { name: 'dt', type: 'string', comment: 'Day the run that wrote the row started (YYYY-MM-DD, UTC): filter on it' },
    ]);
    expect(table.parameters).toEqual({
      EXTERNAL: 'TRUE',
      classification: 'json',
      compressionType: 'gzip',
      typeOfData: 'file',
      'projection.enabled': 'true',
      'projection.dt.type': 'date',
      'projection.dt.format': 'yyyy-MM-dd',
      'projection.dt.range': '2024-01-01,NOW',
      'projection.dt.interval': '1',
      'projection.dt.interval.unit': 'DAYS',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Athena's own placeholder, written as it is
      'storage.location.template': 's3://pipeline-bucket/datasets/every-type/dt=${dt}/',
    });
  });

  it('reads keys without case and needs no mapping for _runId and _fetchedAt', () => {
    // Act
    const table = datasetTable(EVERY_TYPE, { bucket: BUCKET });

    // Assess
    expect(table.serdeParameters).toEqual({ 'case.insensitive': 'true' });
  });

  it('starts the projection on the day given, and refuses a day that is not one', () => {
    // Act
    const table = datasetTable(EVERY_TYPE, { bucket: BUCKET, projectionStart: '2026-02-28' });

    // Assess
    expect(table.parameters['projection.dt.range']).toBe('2026-02-28,NOW');
    expect(() => datasetTable(EVERY_TYPE, { bucket: BUCKET, projectionStart: '2026-02-30' })).toThrow(
      'projectionStart must be a date as YYYY-MM-DD, got "2026-02-30"',
    );
  });

  it('renames a field called dt (the partition column) through a SerDe mapping', () => {
    // Prepare
    const job = jobWith('dated', { item: { id: '.id', DT: '.day', dt_field: '.other' } });

    // Act
    const table = datasetTable(job, { bucket: BUCKET });

    // Assess
    expect(columnsOf(table).slice(0, 3)).toEqual([
      ['id', 'string'],
      ['dt_field2', 'string'],
      ['dt_field', 'string'],
    ]);
    expect(table.serdeParameters).toEqual({ 'case.insensitive': 'true', 'mapping.dt_field2': 'dt' });
    expect(table.columns.filter((column) => column.name === 'dt')).toEqual([]);
  });

  it('leaves out a field named like a metadata column, with a warning', () => {
    // Prepare
    const job = jobWith('shadowed', { item: { id: '.id', _URL: '.url' } });

    // Act
    const table = datasetTable(job, { bucket: BUCKET });

    // Assess
    expect(table.columns.map((column) => column.name)).toEqual(['id', '_key', '_url', '_runid', '_fetchedat']);
    expect(table.warnings).toEqual([
      'job "shadowed": field item._URL is hidden in the dataset table by the metadata column "_url" (its value is in the changes table\'s data._url); rename the field',
    ]);
  });
});

describe('Function: changesTable', () => {
  it('has type, key, runid, url, the item as a struct and the diff as a struct of before and after, over changes/<job>/', () => {
    // Act
    const table = changesTable(TWO_TEMPLATES, { bucket: BUCKET });

    // Assess
    expect(table.name).toBe('two_templates_changes');
    expect(table.location).toBe('s3://pipeline-bucket/changes/two-templates/');
    expect(columnsOf(table)).toEqual([
      ['type', 'string'],
      ['key', 'string'],
      ['runid', 'string'],
      ['url', 'string'],
      ['data', 'struct<sku:string,price:double,rating:string,colour:string,title:string,seller:string>'],
      [
        'diff',
        'struct<sku:struct<before:string,after:string>,price:struct<before:double,after:double>,rating:struct<before:string,after:string>,colour:struct<before:string,after:string>,title:struct<before:string,after:string>,seller:struct<before:string,after:string>>',
      ],
    ]);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Athena's own placeholder, written as it is
    expect(table.parameters['storage.location.template']).toBe('s3://pipeline-bucket/changes/two-templates/dt=${dt}/');
    expect(table.parameters['projection.dt.range']).toBe('2024-01-01,NOW');
    expect(table.serdeParameters).toEqual({ 'case.insensitive': 'true' });
  });

  it('reads data and diff as JSON text for a job without fields (Hive has no empty struct)', () => {
    // Prepare
    const job = parseJob({ name: 'crawl-only', start: { urls: ['https://shop.example/'] } }, 'crawl-only.json');

    // Act
    const table = changesTable(job, { bucket: BUCKET });

    // Assess
    expect(columnsOf(table).slice(4)).toEqual([
      ['data', 'string'],
      ['diff', 'string'],
    ]);
  });
});

describe('Function: tableNames', () => {
  it('replaces - by _ and names the changes table <job>_changes', () => {
    // Assess
    expect(tableNames('shop-de')).toEqual({ dataset: 'shop_de', changes: 'shop_de_changes' });
  });

  it('reports jobs whose tables would share a name', () => {
    // Assess
    expect(tableNameProblems([{ name: 'shop' }, { name: 'shop-changes' }, { name: 'books' }])).toEqual([
      'table name "shop_changes" would be the changes table of job "shop" and the dataset table of job "shop-changes": rename one of the jobs',
    ]);
    expect(tableNameProblems([{ name: 'shop' }, { name: 'books' }])).toEqual([]);
  });
});

describe('Function: glueTableInput', () => {
  it("is CloudFormation's TableInput: an external table of gzip JSON lines read by the OpenX SerDe", () => {
    // Prepare
    const { dataset } = jobTables(EVERY_TYPE, { bucket: BUCKET });

    // Act
    const input = glueTableInput(dataset);

    // Assess
    expect(input).toMatchObject({
      name: 'every_type',
      tableType: 'EXTERNAL_TABLE',
      parameters: dataset.parameters,
      partitionKeys: dataset.partitionKeys,
      storageDescriptor: {
        columns: dataset.columns,
        location: 's3://pipeline-bucket/datasets/every-type/',
        inputFormat: TEXT_INPUT_FORMAT,
        outputFormat: TEXT_OUTPUT_FORMAT,
        compressed: true,
        serdeInfo: { serializationLibrary: JSON_SERDE, parameters: { 'case.insensitive': 'true' } },
      },
    });
    expect(JSON_SERDE).toBe('org.openx.data.jsonserde.JsonSerDe');
    expect(TEXT_INPUT_FORMAT).toBe('org.apache.hadoop.mapred.TextInputFormat');
    for (const column of [...input.storageDescriptor.columns, ...input.partitionKeys]) {
      expect(column.name).toMatch(/^[a-z_][a-z0-9_]*$/);
      expect(column.comment.length).toBeLessThanOrEqual(255);
    }
  });
});
