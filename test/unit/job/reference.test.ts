import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import books from '../../../jobs/books.js';
import { parseJob } from '../../../shared/job/load.js';
import {
  JSON_SCHEMA_PATH,
  jobJsonSchema,
  REFERENCE_PATH,
  renderJobReference,
  renderJsonSchema,
} from '../../../shared/job/reference.js';

const ROOT = new URL('../../../', import.meta.url);
const read = (path: string) => readFile(new URL(path, ROOT), 'utf8');

type Schema = Record<string, unknown> & {
  type?: string | string[];
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  required?: string[];
  items?: Schema;
  anyOf?: Schema[];
  not?: Schema;
  enum?: unknown[];
  propertyNames?: Schema;
};

const KEYWORDS = new Set([
  '$schema',
  'title',
  'description',
  'default',
  'type',
  'properties',
  'additionalProperties',
  'required',
  'items',
  'anyOf',
  'not',
  'enum',
  'pattern',
  'minLength',
  'minItems',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'propertyNames',
]);

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

/**
 * A JSON Schema (2020-12) validator for exactly the keywords the generated schema uses (no validator is installed;
 * an unknown keyword fails the test, so the schema cannot outgrow it unnoticed). Returns the failing paths.
 */
function validate(schema: Schema, value: unknown, path = ''): string[] {
  for (const keyword of Object.keys(schema)) if (!KEYWORDS.has(keyword)) return [`${path}: unsupported keyword ${keyword}`];
  const errors: string[] = [];
  if (schema.not !== undefined && validate(schema.not, value, path).length === 0) errors.push(`${path}: not allowed`);
  if (schema.anyOf?.every((branch) => validate(branch, value, path).length > 0)) errors.push(`${path}: no anyOf branch`);
  if (schema.enum && !schema.enum.includes(value)) errors.push(`${path}: not in enum`);
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    const actual = typeName(value);
    if (!types.includes(actual) && !(actual === 'integer' && types.includes('number')))
      return [...errors, `${path}: not ${types}`];
  }
  if (typeof value === 'string') {
    if (typeof schema.minLength === 'number' && value.length < schema.minLength) errors.push(`${path}: too short`);
    if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(value)) errors.push(`${path}: pattern`);
  }
  if (typeof value === 'number') {
    if (typeof schema.minimum === 'number' && value < schema.minimum) errors.push(`${path}: below minimum`);
    if (typeof schema.maximum === 'number' && value > schema.maximum) errors.push(`${path}: above maximum`);
    if (typeof schema.exclusiveMinimum === 'number' && value <= schema.exclusiveMinimum) errors.push(`${path}: not above`);
  }
  if (Array.isArray(value)) {
    if (typeof schema.minItems === 'number' && value.length < schema.minItems) errors.push(`${path}: too few items`);
    const items = schema.items;
    if (items) for (const [index, item] of value.entries()) errors.push(...validate(items, item, `${path}[${index}]`));
  }
  if (typeName(value) === 'object') {
    const object = value as Record<string, unknown>;
    for (const key of schema.required ?? []) if (!(key in object)) errors.push(`${path}.${key}: required`);
    for (const [key, child] of Object.entries(object)) {
      if (schema.propertyNames) errors.push(...validate(schema.propertyNames, key, `${path}.${key} (name)`));
      const property = schema.properties?.[key];
      if (property) errors.push(...validate(property, child, `${path}.${key}`));
      else if (schema.additionalProperties === false) errors.push(`${path}.${key}: unknown key`);
      else if (typeof schema.additionalProperties === 'object')
        errors.push(...validate(schema.additionalProperties, child, `${path}.${key}`));
    }
  }
  return errors;
}

async function readmeQuotesJob(): Promise<unknown> {
  const readme = await read('README.md');
  const block = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)]
    .map((match) => match[1] ?? '')
    .find((text) => /^name: quotes$/m.test(text));
  return parseYaml(block ?? '');
}

function loaderAccepts(input: unknown): boolean {
  try {
    parseJob(input, 'job.yaml');
    return true;
  } catch {
    return false;
  }
}

describe('the job reference and JSON Schema (generated from shared/job/schema.ts)', () => {
  it(`${REFERENCE_PATH} and ${JSON_SCHEMA_PATH} are current: run npm run docs:jobs after changing the schema`, async () => {
    expect(await read(REFERENCE_PATH)).toBe(renderJobReference());
    // Compared as JSON: the file is laid out by Biome (npm run docs:jobs formats it).
    expect(JSON.parse(await read(JSON_SCHEMA_PATH))).toEqual(JSON.parse(renderJsonSchema()));
    expect(JSON.parse(await read('package.json')).scripts['docs:jobs']).toBe('tsx shared/job/write-reference.ts');
  });

  it('describes every key of the schema', () => {
    const missing: string[] = [];
    const walk = (schema: Schema, path: string) => {
      for (const [key, child] of Object.entries(schema.properties ?? {})) {
        if (typeof child.description !== 'string' || child.description.length < 10) missing.push(`${path}${key}`);
        walk(child, `${path}${key}.`);
      }
      if (schema.items) walk(schema.items, `${path}[].`);
      if (typeof schema.additionalProperties === 'object') walk(schema.additionalProperties, `${path}<name>.`);
      for (const branch of schema.anyOf ?? []) walk(branch, path);
    };
    walk(jobJsonSchema() as Schema, '');
    expect(missing).toEqual([]);
  });

  it('documents what a new user looked for', () => {
    const reference = renderJobReference();
    for (const key of ['templates.<name>.items', 'start.template', 'follow[].from', 'follow[].pattern', 'fetch.allowedHosts']) {
      expect(reference).toContain(`| \`${key}\``);
    }
    expect(reference).toContain('## `quality`');
    expect(reference).toMatch(/\| `limits\.maxDepth` \| integer ≥ 0 \| `10` \|/);
    for (const property of ['`url`', '`finalUrl`', '`$`', '`template`', '`resolve(href)`'])
      expect(reference).toContain(`| ${property} |`);
    expect(reference).toContain("'scrapeline/shared/job/define.js'");
    expect(reference).toContain('# yaml-language-server: $schema=../docs/job.schema.json');
  });

  it('accepts the example jobs the loader accepts (toscrape.yaml, the README quotes job, books.ts)', async () => {
    const schema = jobJsonSchema() as Schema;
    const toscrape = await read('jobs/toscrape.yaml');
    expect(toscrape.split('\n')[0]).toBe('# yaml-language-server: $schema=../docs/job.schema.json');
    for (const input of [parseYaml(toscrape), await readmeQuotesJob(), JSON.parse(JSON.stringify(books))]) {
      expect(loaderAccepts(input)).toBe(true);
      expect(validate(schema, input)).toEqual([]);
    }
  });

  it.each([
    ['an unknown top-level key', { schedul: 'rate(1 day)' }],
    ['an unknown field key', { templates: { t: { key: 'a', fields: { a: { selector: 'a', kind: 'x' } } } } }],
    ['a field type not in the list', { templates: { t: { key: 'a', fields: { a: { selector: 'a', type: 'money' } } } } }],
    ['a code extractor in YAML', { templates: { t: { key: 'a', fields: { a: 'a' }, extractor: 'page => []' } } }],
    ['a bad field name', { templates: { t: { key: 'a', fields: { a: 'a', 'b-c': 'b' } } } }],
    ['a bad job name', { name: 'Shop!' }],
    ['a negative maxDepth', { limits: { maxDepth: -1 } }],
    ['too much concurrency', { politeness: { perHostConcurrency: 100 } }],
    ['an empty follow.from', { follow: [{ selector: 'a', from: [] }] }],
    ['no start', { start: undefined }],
  ])('refuses %s, as the loader does', (_, change) => {
    const input = JSON.parse(JSON.stringify({ name: 'shop', start: { urls: ['https://shop.example/'] }, ...change }));
    expect(loaderAccepts(input)).toBe(false);
    expect(validate(jobJsonSchema() as Schema, input)).not.toEqual([]);
  });
});
