import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { JobValidationError } from '../../../shared/job/errors.js';
import {
  AggregateJobError,
  defineJob,
  formatPath,
  loadJobDirectory,
  loadJobFile,
  loadJobs,
  parseJob,
} from '../../../shared/job/load.js';
import { scheduleProblem } from '../../../shared/job/schedule.js';
import { tempDirEach } from '../../fixtures/temp-dir.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));

const YAML_JOB = `name: shop
start:
  urls: [https://shop.example/]
  template: product
templates:
  product:
    key: sku
    fields:
      sku: .sku
`;

const TS_IMPORT = `import { defineJob } from '${join(REPO, 'shared/job/load.ts')}';`;

describe('Function: parseJob', () => {
  it('applies every default of a minimal job', () => {
    // Act
    const job = parseJob({ name: 'shop', start: { urls: ['https://shop.example/'] } }, 'shop.yaml');

    // Assess
    expect(job).toMatchObject({
      name: 'shop',
      start: { urls: ['https://shop.example/'] },
      follow: [],
      templates: {},
      limits: { maxPages: 10_000, maxDepth: 10 },
      politeness: {
        perHostConcurrency: 4,
        minDelayMs: 0,
        userAgent: 'scrapeline/0.1 (+https://github.com/scrapeline/scrapeline)',
        robotsTxt: 'respect',
      },
      fetch: { timeoutMs: 15_000, maxBytes: 5 * 1024 * 1024, maxRedirects: 5, retries: 3 },
      quality: { maxFillRateDrop: 0.2, minItemRatio: 0.5, minItemsForFillRates: 20 },
    });
    expect(job.schedule).toBeUndefined();
    expect(job.description).toBeUndefined();
    expect(job.fetch.allowedHosts).toBeUndefined();
  });

  it('fills the defaults of a partly given section', () => {
    // Act
    const job = parseJob(
      { name: 'shop', start: { urls: ['https://shop.example/'] }, limits: { maxDepth: 0 }, fetch: { retries: 0 } },
      'shop.yaml',
    );

    // Assess
    expect(job.limits).toEqual({
      maxPages: 10_000,
      maxDepth: 0,
      maxLinksPerPage: 10_000,
      maxSitemaps: 1_000,
      maxSitemapEntries: 1_000_000,
    });
    expect(job.fetch).toEqual({ timeoutMs: 15_000, maxBytes: 5 * 1024 * 1024, maxRedirects: 5, retries: 0 });
  });

  it('expands a selector string into a full text field', () => {
    // Act
    const job = parseJob(
      { name: 'shop', start: { urls: ['https://shop.example/'] }, templates: { p: { key: 'sku', fields: { sku: '.sku' } } } },
      'shop.yaml',
    );

    // Assess
    expect(job.templates.p?.fields.sku).toEqual({
      selector: '.sku',
      from: 'selector',
      extract: 'text',
      many: false,
      type: 'string',
      trim: true,
      decimal: '.',
      required: false,
      attr: undefined,
      pattern: undefined,
      map: undefined,
      default: undefined,
    });
  });

  it('defaults extract to attr when attr is given, and to text otherwise', () => {
    // Act
    const job = parseJob(
      {
        name: 'shop',
        start: { urls: ['https://shop.example/'] },
        templates: {
          p: {
            key: 'sku',
            fields: { sku: { selector: '.sku' }, image: { selector: 'img', attr: 'src' }, here: { from: 'url' } },
          },
        },
      },
      'shop.yaml',
    );

    // Assess
    const fields = job.templates.p?.fields;
    expect(fields?.sku).toMatchObject({ extract: 'text', from: 'selector', many: false, type: 'string', trim: true });
    expect(fields?.image).toMatchObject({ extract: 'attr', attr: 'src' });
    expect(fields?.here).toMatchObject({ from: 'url', extract: 'text' });
    expect(fields?.here?.selector).toBeUndefined();
  });

  it.each([
    'rate(1 minute)',
    'rate(5 minutes)',
    'rate(1 hour)',
    'rate(12 hours)',
    'rate(1 day)',
    'rate(7 days)',
    'cron(0 6 * * ? *)',
    'cron(15 10 ? * MON-FRI *)',
    'cron(0/15 * * * ? *)',
    'cron(0 8 1W * ? 2030)',
    'cron(0 8 ? * 6L *)',
    'cron(0 8 ? * 2#1 *)',
  ])('accepts the schedule %s', (schedule) => {
    // Act
    const job = parseJob({ name: 'shop', schedule, start: { urls: ['https://shop.example/'] } }, 'shop.yaml');

    // Assess
    expect(job.schedule).toBe(schedule);
    expect(scheduleProblem(schedule)).toBeUndefined();
  });

  it('accepts job names at the limits of the name rule', () => {
    // Prepare
    const names = ['a', '0', `a${'-'.repeat(47)}`, 'books-2024'];

    // Act
    const parsed = names.map((name) => parseJob({ name, start: { urls: ['http://shop.example/'] } }, 'x.yaml').name);

    // Assess
    expect(parsed).toEqual(names);
  });

  it('refuses a name of 49 characters and one starting with "-"', () => {
    // Act & Assess
    expect(() => parseJob({ name: 'a'.repeat(49), start: { urls: ['http://s.example/'] } }, 'x.yaml')).toThrow(
      JobValidationError,
    );
    expect(() => parseJob({ name: '-a', start: { urls: ['http://s.example/'] } }, 'x.yaml')).toThrow(JobValidationError);
  });

  it('accepts follow rules with from: start and a known template', () => {
    // Act
    const job = parseJob(
      {
        name: 'shop',
        start: { urls: ['https://shop.example/'] },
        follow: [{ pattern: '/p/\\d+$', template: 'product', from: ['start', 'product'] }],
        templates: { product: { key: 'sku', fields: { sku: '.sku' } } },
      },
      'shop.yaml',
    );

    // Assess
    expect(job.follow).toEqual([{ pattern: '/p/\\d+$', template: 'product', from: ['start', 'product'] }]);
  });

  it('keeps a code extractor function as given', () => {
    // Prepare
    const extractor = () => [];

    // Act
    const job = parseJob(
      {
        name: 'shop',
        start: { urls: ['https://shop.example/'] },
        templates: { p: { key: 'sku', fields: { sku: '.sku' }, extractor } },
      },
      'shop.ts',
    );

    // Assess
    expect(job.templates.p?.extractor).toBe(extractor);
  });

  it('does not modify its input', () => {
    // Prepare
    const input = { name: 'shop', start: { urls: ['https://shop.example/'] } };
    const copy = structuredClone(input);

    // Act
    parseJob(input, 'shop.yaml');

    // Assess
    expect(input).toEqual(copy);
  });

  it('throws a JobValidationError whose problems carry paths and messages', () => {
    // Act
    let error: unknown;
    try {
      parseJob({ name: 'shop', start: { urls: [] }, limits: { maxDepth: -1 } }, 'jobs/shop.json');
    } catch (caught) {
      error = caught;
    }

    // Assess
    expect(error).toBeInstanceOf(JobValidationError);
    expect((error as JobValidationError).problems).toEqual([
      { path: 'limits.maxDepth', message: 'Too small: expected number to be >=0' },
      { path: 'start.urls', message: 'at least one start URL or sitemap is needed' },
    ]);
    expect((error as JobValidationError).message).toBe(
      'jobs/shop.json: limits.maxDepth: Too small: expected number to be >=0\njobs/shop.json: start.urls: at least one start URL or sitemap is needed',
    );
  });
});

describe('Function: defineJob', () => {
  it('returns its argument unchanged', () => {
    // Prepare
    const input = { name: 'shop', start: { urls: ['https://shop.example/'] } };

    // Act
    const defined = defineJob(input);

    // Assess
    expect(defined).toBe(input);
  });
});

describe('Function: formatPath', () => {
  it('renders keys with dots and indexes in brackets', () => {
    // Act & Assess
    expect(formatPath(['follow', 0, 'from', 2])).toBe('follow[0].from[2]');
    expect(formatPath(['templates', 'p', 'fields', 'price'])).toBe('templates.p.fields.price');
    expect(formatPath([])).toBe('');
  });
});

describe('Function: loadJobFile', () => {
  const dir = tempDirEach('jobs');

  it('loads the bundled books job', async () => {
    // Act
    const job = await loadJobFile(join(REPO, 'jobs/books.ts'), REPO);

    // Assess
    expect(job.name).toBe('books');
    expect(job.schedule).toBeUndefined();
    expect(job.templates.book?.key).toBe('upc');
    expect(job.follow).toHaveLength(4);
    expect(Object.keys(job.templates)).toEqual(['book', 'author', 'quote']);
    expect(job.limits).toEqual({
      maxPages: 5000,
      maxDepth: 100,
      maxLinksPerPage: 10_000,
      maxSitemaps: 1_000,
      maxSitemapEntries: 1_000_000,
    });
    expect(job.politeness.perHostConcurrency).toBe(8);
    expect(job.fetch.retries).toBe(3);
  });

  it('loads the YAML twin of the books job with the same templates and a schedule', async () => {
    // Act
    const yaml = await loadJobFile(join(REPO, 'jobs/toscrape.yaml'), REPO);
    const books = await loadJobFile(join(REPO, 'jobs/books.ts'), REPO);

    // Assess
    expect(yaml.schedule).toBe('cron(0 6 * * ? *)');
    expect(Object.keys(yaml.templates.book?.fields ?? {})).toEqual(
      Object.keys(books.templates.book?.fields ?? {}).filter((field) => !['tags', 'published', 'author'].includes(field)),
    );
  });

  it.each([
    ['shop.yaml', YAML_JOB],
    ['shop.yml', YAML_JOB],
    [
      'shop.json',
      JSON.stringify({
        name: 'shop',
        start: { urls: ['https://shop.example/'], template: 'product' },
        templates: { product: { key: 'sku', fields: { sku: '.sku' } } },
      }),
    ],
  ])('loads %s', async (name, text) => {
    // Prepare
    await writeFile(join(dir.path, name), text);

    // Act
    const job = await loadJobFile(join(dir.path, name), dir.path);

    // Assess
    expect(job.name).toBe('shop');
    expect(job.templates.product?.fields.sku?.selector).toBe('.sku');
  });

  it('loads a TypeScript module exporting defineJob(...)', async () => {
    // Prepare
    const file = join(dir.path, 'shop.ts');
    await writeFile(
      file,
      `${TS_IMPORT}\nexport default defineJob({ name: 'shop-ts', start: { urls: ['https://shop.example/'] } });\n`,
    );

    // Act
    const job = await loadJobFile(file, dir.path);

    // Assess
    expect(job.name).toBe('shop-ts');
    expect(job.limits.maxPages).toBe(10_000);
  });

  it('names the file relative to cwd in every problem', async () => {
    // Prepare
    await mkdir(join(dir.path, 'jobs'));
    await writeFile(join(dir.path, 'jobs', 'bad.yaml'), 'name: Bad\nstart:\n  urls: []\n');

    // Act & Assess
    await expect(loadJobFile(join(dir.path, 'jobs', 'bad.yaml'), dir.path)).rejects.toThrow(
      'jobs/bad.yaml: name: lowercase letters, digits and "-", starting with a letter or digit, at most 48',
    );
  });

  it('refuses a TypeScript module without a default export', async () => {
    // Prepare
    const file = join(dir.path, 'nodefault.ts');
    await writeFile(file, "export const job = { name: 'shop', start: { urls: ['https://shop.example/'] } };\n");

    // Act & Assess
    await expect(loadJobFile(file, dir.path)).rejects.toThrow(
      'nodefault.ts: (module): has no default export: export default defineJob({...})',
    );
  });

  it('reports a module that throws while loading', async () => {
    // Prepare
    const file = join(dir.path, 'throws.mjs');
    await writeFile(file, "throw new Error('boom at import');\n");

    // Act
    const promise = loadJobFile(file, dir.path);

    // Assess
    await expect(promise).rejects.toBeInstanceOf(JobValidationError);
    await expect(promise).rejects.toThrow(/^throws\.mjs: \(module\): cannot be loaded: .*boom at import/);
  });

  it('validates the default export of a module like any other job', async () => {
    // Prepare
    const file = join(dir.path, 'invalid.mjs');
    await writeFile(file, "export default { name: 'shop', start: { urls: ['https://shop.example/'] }, follow: [{}] };\n");

    // Act & Assess
    await expect(loadJobFile(file, dir.path)).rejects.toThrow(
      'invalid.mjs: follow[0]: a follow rule needs a selector, a pattern or both',
    );
  });
});

describe('Function: loadJobDirectory', () => {
  const dir = tempDirEach('jobdir');

  it('loads every job file in name order, skipping helpers, declarations, tests and other files', async () => {
    // Prepare
    await writeFile(join(dir.path, 'b.yaml'), YAML_JOB.replace('name: shop', 'name: b'));
    await writeFile(join(dir.path, 'a.json'), JSON.stringify({ name: 'a', start: { urls: ['https://a.example/'] } }));
    await writeFile(
      join(dir.path, 'c.ts'),
      `${TS_IMPORT}\nexport default defineJob({ name: 'c', start: { urls: ['https://c.example/'] } });\n`,
    );
    await writeFile(join(dir.path, '_helper.ts'), 'export const x = 1;\n');
    await writeFile(join(dir.path, 'types.d.ts'), 'export type X = 1;\n');
    await writeFile(join(dir.path, 'c.test.ts'), 'throw new Error("never imported");\n');
    await writeFile(join(dir.path, 'README.md'), '# jobs\n');
    await mkdir(join(dir.path, 'nested.yaml'));

    // Act
    const loaded = await loadJobDirectory(dir.path, dir.path);

    // Assess
    expect(loaded.map((entry) => entry.file)).toEqual(['a.json', 'b.yaml', 'c.ts'].map((name) => join(dir.path, name)));
    expect(loaded.map((entry) => ('job' in entry ? entry.job.name : entry.error.message))).toEqual(['a', 'b', 'c']);
  });

  it('reports each invalid file without stopping at the first', async () => {
    // Prepare
    await writeFile(join(dir.path, 'a.yaml'), 'name: A\nstart:\n  urls: [https://a.example/]\n');
    await writeFile(join(dir.path, 'b.yaml'), 'name: b\nstart:\n  urls: [https://b.example/]\n');
    await writeFile(join(dir.path, 'c.json'), '{ "name": "c", ');

    // Act
    const loaded = await loadJobDirectory(dir.path, dir.path);

    // Assess
    expect(loaded.map((entry) => ('job' in entry ? `ok ${entry.job.name}` : entry.error.source))).toEqual([
      'a.yaml',
      'ok b',
      'c.json',
    ]);
  });

  it('refuses a job name already used by an earlier file', async () => {
    // Prepare
    await writeFile(join(dir.path, 'a.yaml'), 'name: shop\nstart:\n  urls: [https://a.example/]\n');
    await writeFile(join(dir.path, 'b.json'), JSON.stringify({ name: 'shop', start: { urls: ['https://b.example/'] } }));
    await writeFile(join(dir.path, 'c.yaml'), 'name: shop\nstart:\n  urls: [https://c.example/]\n');

    // Act
    const loaded = await loadJobDirectory(dir.path, dir.path);

    // Assess
    const first = loaded[0];
    expect(first && 'job' in first ? first.job.start.urls : undefined).toEqual(['https://a.example/']);
    expect(loaded.slice(1).map((entry) => ('error' in entry ? entry.error.message : 'loaded'))).toEqual([
      'b.json: name: "shop" is already the name of a.yaml',
      'c.yaml: name: "shop" is already the name of a.yaml',
    ]);
  });
});

describe('Function: loadJobs', () => {
  const dir = tempDirEach('loadjobs');

  it('returns the jobs of a valid folder', async () => {
    // Prepare
    await writeFile(join(dir.path, 'one.yaml'), 'name: one\nstart:\n  urls: [https://a.example/]\n');
    await writeFile(join(dir.path, 'two.yaml'), 'name: two\nstart:\n  urls: [https://b.example/]\n');

    // Act
    const jobs = await loadJobs(dir.path, dir.path);

    // Assess
    expect(jobs.map((job) => job.name)).toEqual(['one', 'two']);
  });

  it('returns no jobs for an empty folder', async () => {
    // Act & Assess
    await expect(loadJobs(dir.path, dir.path)).resolves.toEqual([]);
  });

  it('throws one AggregateJobError listing every problem of every invalid file', async () => {
    // Prepare
    await writeFile(join(dir.path, 'a.yaml'), 'name: a\nstart:\n  urls: []\n');
    await writeFile(join(dir.path, 'b.yaml'), 'name: b\nstart:\n  urls: [https://b.example/]\n');
    await writeFile(join(dir.path, 'c.json'), JSON.stringify({ name: 'c', start: { urls: ['x'] }, extra: true }));

    // Act
    let error: unknown;
    try {
      await loadJobs(dir.path, dir.path);
    } catch (caught) {
      error = caught;
    }

    // Assess
    expect(error).toBeInstanceOf(AggregateJobError);
    expect((error as AggregateJobError).errors).toHaveLength(2);
    expect((error as AggregateJobError).message).toBe(
      [
        'a.yaml: start.urls: at least one start URL or sitemap is needed',
        'c.json: start.urls[0]: not an absolute URL: "x"',
        'c.json: extra: unknown key',
      ].join('\n'),
    );
  });
});
