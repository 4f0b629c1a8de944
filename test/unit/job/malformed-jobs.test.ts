import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { JobValidationError } from '../../../shared/job/errors.js';
import { loadJobFile, parseJob } from '../../../shared/job/load.js';
import { jobInput } from '../../fixtures/jobs.js';

const CORPUS = fileURLToPath(new URL('../../fixtures/jobs-malformed/', import.meta.url));

const FIELD_TYPES = '"string", "number", "integer", "boolean", "url", "date"';
const NAME_RULE = 'lowercase letters, digits and "-", starting with a letter or digit, at most 48';

/** Every file of the corpus with the exact message loading it must produce (one line per problem). */
const EXPECTED: Record<string, string[]> = {
  'unknown-key-top.yaml': ['shedule: unknown key'],
  'secrets-proxies-session.yaml': [
    'fetch.request.headers.Authorization.secret: secret names are letters, digits and /_+=.@- (at most 512)',
    'fetch.request.headers.X-Key.stor: unknown key',
    'fetch.request.cookies.sid.store: expected one of "secrets-manager", "ssm"',
    'fetch.proxy.urls[0]: a proxy URL with credentials belongs in a secret: { secret: name }',
    'fetch.proxy.urls[1].secret: required (string)',
    'fetch.proxy.urls[1].secrets: unknown key',
    'fetch.proxy.rotate: expected one of "request", "session"',
    'session.login.url: only http and https URLs can be fetched, got "ftp:"',
    'session.login.fields.password.key: Too small: expected string to have >=1 characters',
    'session.success: give at least one of cookie, pattern and urlPattern',
    'session.loggedOut.status[0]: Too small: expected number to be >=400',
  ],
  'unknown-key-start.yaml': ['start.url: unknown key'],
  'unknown-key-field.yaml': ['templates.product.fields.sku.requried: unknown key'],
  'unknown-key-follow.json': [
    'follow[1].selectors: unknown key',
    'follow[1]: a follow rule needs a selector, a pattern or both (HTML pages), or a query or a pageCounter (JSON pages)',
  ],
  'unknown-key-limits.json': ['limits.maxPage: unknown key', 'fetch.retry: unknown key'],
  'bad-field-type.yaml': [`templates.product.fields.price.type: expected one of ${FIELD_TYPES}`],
  'bad-extract-kind.yaml': ['templates.product.fields.sku.extract: expected one of "text", "html", "attr", "exists"'],
  'bad-field-options.yaml': [
    'templates.product.fields.sku.many: expected boolean, received number',
    'templates.product.fields.sku.decimal: expected one of ".", ","',
    'templates.product.fields.sku.required: expected boolean, received string',
  ],
  'schedule-rate-unit.yaml': ['schedule: rate unit must be one of minute, minutes, hour, hours, day, days, got "seconds"'],
  'schedule-rate-singular.yaml': ['schedule: use the singular unit for a value of 1: "rate(1 hour)"'],
  'schedule-rate-plural.yaml': ['schedule: use the plural unit for a value above 1: "rate(5 minutes)"'],
  'schedule-rate-zero.yaml': ['schedule: rate value must be a positive integer'],
  'schedule-cron-five-fields.yaml': [
    'schedule: cron expressions have 6 fields (minutes hours day-of-month month day-of-week year), got 5',
  ],
  'schedule-cron-both-days.yaml': ['schedule: cron: exactly one of day-of-month and day-of-week must be "?"'],
  'schedule-cron-no-question-mark.json': ['schedule: cron: exactly one of day-of-month and day-of-week must be "?"'],
  'schedule-cron-bad-token.yaml': ['schedule: cron: invalid field "MON;TUE"'],
  'schedule-garbage.yaml': [
    'schedule: expected "rate(<value> <unit>)" or "cron(<minutes> <hours> <day-of-month> <month> <day-of-week> <year>)"',
  ],
  'unknown-template-follow.yaml': ['follow[0].template: unknown template "prodcut" (templates: product)'],
  'unknown-template-start.yaml': ['start.template: unknown template "listing" (templates: none)'],
  'unknown-template-from.yaml': ['follow[0].from[1]: unknown template "listing" (use "start" for pages without a template)'],
  'template-key-not-field.yaml': ['templates.product.key: "id" is not one of the template\'s fields (sku, title)'],
  'template-without-fields.yaml': [
    'templates.product.fields: a template needs at least one field',
    'templates.product.key: "sku" is not one of the template\'s fields (none)',
  ],
  'bad-regex-field.yaml': [
    'templates.product.fields.sku.pattern: invalid regular expression: Invalid regular expression: /SKU: (\\d+/: Unterminated group',
  ],
  'bad-regex-follow.json': [
    'follow[0].pattern: invalid regular expression: Invalid regular expression: //product/[0-9+/: Unterminated character class',
  ],
  'catastrophic-regex.yaml': [
    'follow[0].pattern: nested quantifier: "(\\w+/?)+" repeats a group that itself repeats a variable number of times, which can backtrack for minutes on a text that almost matches; repeat the group or its content, not both',
    'templates.product.fields.sku.pattern: nested quantifier: "(a+)+" repeats a group that itself repeats a variable number of times, which can backtrack for minutes on a text that almost matches; repeat the group or its content, not both',
  ],
  'bad-css-field.yaml': [
    'templates.product.fields.sku.selector: invalid CSS selector "div[data-sku": Attribute selector didn\'t terminate',
  ],
  'bad-css-items.yaml': ["templates.listing.items: invalid CSS selector \"li:nth-child(x)\": n-th rule couldn't be parsed ('x')"],
  'bad-css-follow.yaml': ['follow[1].selector: invalid CSS selector "ul > > a": Did not expect successive traversals.'],
  'empty-start-urls.yaml': ['start.urls: at least one start URL or sitemap is needed'],
  'missing-start.json': ['start: required (object)'],
  'non-http-start-url.yaml': ['start.urls[0]: only http and https URLs can be fetched, got "ftp:"'],
  'relative-start-url.yaml': ['start.urls[0]: not an absolute URL: "/catalogue/page-1.html"'],
  'credentials-start-url.yaml': ['start.urls[0]: URLs with credentials are refused'],
  'bad-job-name.yaml': [`name: ${NAME_RULE}`],
  'job-name-too-long.json': [`name: ${NAME_RULE}`],
  'job-name-not-string.yaml': ['name: expected string, received number'],
  'negative-limits.yaml': [
    'limits.maxPages: Too small: expected number to be >0',
    'limits.maxDepth: Too small: expected number to be >=0',
  ],
  'fractional-limit.json': ['limits.maxPages: expected int, received number'],
  'politeness-out-of-range.yaml': [
    'politeness.perHostConcurrency: Too small: expected number to be >=1',
    'politeness.minDelayMs: Too big: expected number to be <=600000',
    'politeness.robotsTxt: expected one of "respect", "ignore"',
  ],
  'fetch-out-of-range.yaml': [
    'fetch.timeoutMs: Too small: expected number to be >=100',
    'fetch.maxBytes: Too small: expected number to be >=1024',
    'fetch.maxRedirects: Too big: expected number to be <=20',
  ],
  'extract-attr-without-attr.yaml': ['templates.product.fields.image.attr: required with extract: "attr"'],
  'attr-with-extract-text.yaml': ['templates.product.fields.image.extract: must be "attr" (or omitted) when attr is set'],
  'exists-without-boolean.yaml': [
    'templates.product.fields.onSale.type: extract: "exists" yields a boolean: set type: "boolean"',
  ],
  'selector-with-from-url.yaml': [
    'templates.product.fields.url.selector: not allowed with from: "url" (only with from: "selector")',
  ],
  'field-without-selector.yaml': [
    'templates.product.fields.sku.selector: required unless from is "url", "jsonld", "microdata", "meta", "json"',
  ],
  'structured-field-keys.yaml': [
    'templates.product.fields.sku.itemType: required with from: "jsonld"',
    'templates.product.fields.price.path: not allowed with from: "meta" (only with from: "jsonld" or "microdata")',
    'templates.product.fields.brand.path: property names separated by dots, e.g. "offers.price"',
  ],
  'request-get-with-body.yaml': [
    'fetch.request.headers.Content-Type: not allowed: the fetcher sets it from the body: use form or json',
    'fetch.request.method: a GET request has no body: use POST (or leave method out: a body means POST)',
  ],
  'request-rules-disagree.yaml': [
    'follow[1].request: differs from follow[0].request: rules leading to template "product" must have the same request options (a URL is fetched once per run, whichever rule found it)',
  ],
  'follow-rule-without-selector-or-pattern.yaml': [
    'follow[0]: a follow rule needs a selector, a pattern or both (HTML pages), or a query or a pageCounter (JSON pages)',
  ],
  'bad-field-name.yaml': ['templates.product.fields.unit-price: invalid name: field names are letters, digits and _'],
  'bad-template-name.yaml': ['templates.product-page: invalid name: template names are letters, digits and _'],
  'wrong-value-types.yaml': ['start.urls: expected array, received string', 'follow: expected array, received string'],
  'top-level-list.yaml': ['expected object, received array'],
  'yaml-empty.yaml': ['expected object, received null'],
  'multiple-problems.yaml': [
    `name: ${NAME_RULE}`,
    'schedule: use the singular unit for a value of 1: "rate(1 day)"',
    'start.urls[0]: only http and https URLs can be fetched, got "mailto:"',
    'start.urls[1]: URLs with credentials are refused',
    'follow[0].depth: unknown key',
    `templates.product.fields.sku.type: expected one of ${FIELD_TYPES}`,
    'limits.maxPages: Too small: expected number to be >0',
  ],
};

/** Files with their own tests below (syntax errors, known bugs). */
const TESTED_SEPARATELY = new Set([
  'json-syntax-error.json',
  'yaml-syntax-error.yaml',
  'yaml-bad-indentation.yaml',
  'yaml-duplicate-key.yaml',
  'multiple-problems-cross-checks.yaml',
  'bad-map-value.yaml',
]);

async function loadError(file: string): Promise<JobValidationError> {
  try {
    await loadJobFile(`${CORPUS}${file}`, CORPUS);
  } catch (error) {
    if (error instanceof JobValidationError) return error;
    throw error;
  }
  throw new Error(`${file} loaded without an error`);
}

describe('Function: loadJobFile (malformed corpus)', () => {
  it('has an expectation for every file of the corpus, and at least 30 files', async () => {
    // Prepare
    const files = (await readdir(CORPUS)).sort();

    // Act
    const untested = files.filter((file) => !(file in EXPECTED) && !TESTED_SEPARATELY.has(file));

    // Assess
    expect(untested).toEqual([]);
    expect(files.length).toBeGreaterThanOrEqual(30);
  });

  it.each(Object.entries(EXPECTED))('reports %s with its exact message', async (file, lines) => {
    // Act
    const error = await loadError(file);

    // Assess
    expect(error.message).toBe(lines.map((line) => `${file}: ${line}`).join('\n'));
    expect(error.source).toBe(file);
    expect(error.problems).toHaveLength(lines.length);
    expect(error.reason).toBe('invalid-job');
    expect(error.retryable).toBe(false);
  });

  it('reports a JSON syntax error under (file) with the parser message', async () => {
    // Prepare
    const text = await readFile(`${CORPUS}json-syntax-error.json`, 'utf8');
    let native = '';
    try {
      JSON.parse(text);
    } catch (error) {
      native = (error as Error).message;
    }

    // Act
    const error = await loadError('json-syntax-error.json');

    // Assess
    expect(native).not.toBe('');
    expect(error.message).toBe(`json-syntax-error.json: (file): ${native}`);
  });

  it.each([
    ['yaml-syntax-error.yaml', 4, 'Flow sequence in block collection must be sufficiently indented and end with a ]'],
    ['yaml-bad-indentation.yaml', 5, 'All mapping items must start at the same column'],
    ['yaml-duplicate-key.yaml', 4, 'Map keys must be unique'],
  ])('reports the YAML error of %s at line %i', async (file, line, message) => {
    // Act
    const error = await loadError(file);

    // Assess
    expect(error.problems[0]?.path).toBe(`line ${line}`);
    expect(error.message.startsWith(`${file}: line ${line}: ${message}`)).toBe(true);
  });

  it.each([
    ['yaml-syntax-error.yaml', 4, 'Flow sequence in block collection must be sufficiently indented and end with a ]'],
    ['yaml-duplicate-key.yaml', 4, 'Map keys must be unique'],
  ])('reports the YAML error of %s on one line', async (file, line, message) => {
    // Act
    const error = await loadError(file);

    // Assess
    const escaped = message.replace(/[\]\\^$.*+?()[{}|]/g, '\\$&');
    expect(error.message).toMatch(new RegExp(`^${file}: line ${line}: ${escaped}( at line ${line}, column \\d+)?$`));
  });

  it('names every accepted type when a map value has none of them', async () => {
    // Act
    const error = await loadError('bad-map-value.yaml');

    // Assess
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]?.path).toBe('templates.product.fields.rating.map.One');
    expect(error.problems[0]?.message).toMatch(/string.*number.*boolean/);
  });

  it('reports cross-reference problems together with type errors', async () => {
    // Act
    const error = await loadError('multiple-problems-cross-checks.yaml');

    // Assess
    expect(error.message).toBe(
      [
        `templates.product.fields.sku.type: expected one of ${FIELD_TYPES}`,
        'templates.product.key: "id" is not one of the template\'s fields (sku)',
        'start.template: unknown template "listing" (templates: product)',
      ]
        .map((line) => `multiple-problems-cross-checks.yaml: ${line}`)
        .join('\n'),
    );
  });
});

describe('Function: parseJob (problems reported together)', () => {
  it('reports unknown keys and unknown template references of one job at once', () => {
    // Prepare
    const input = { ...jobInput({ start: { urls: ['https://shop.example/'], template: 'listing' } }), extra: 1 };

    // Act & Assess
    expect(() => parseJob(input, 'jobs/shop.yaml')).toThrow(
      new JobValidationError('jobs/shop.yaml', [
        { path: 'extra', message: 'unknown key' },
        { path: 'start.template', message: 'unknown template "listing" (templates: none)' },
      ]),
    );
  });

  it('reports an invalid CSS selector together with schema problems', () => {
    // Prepare
    const input = { ...jobInput({ follow: [{ selector: 'a[' }] }), extra: 1 };

    // Act
    let message = '';
    try {
      parseJob(input, 'shop.yaml');
    } catch (error) {
      message = (error as Error).message;
    }

    // Assess
    expect(message.split('\n')).toEqual([
      'shop.yaml: extra: unknown key',
      expect.stringMatching(/^shop\.yaml: follow\[0\]\.selector: invalid CSS selector "a\[": /),
    ]);
  });

  it('checks the selectors of templates (shorthand and full fields, items) next to schema problems', () => {
    // Prepare
    const input = {
      ...jobInput({
        templates: {
          product: { key: 'sku', items: 'li[', fields: { sku: 'div[', title: { selector: 'h1[', type: 'text' } } },
        },
      } as never),
    };

    // Act
    let message = '';
    try {
      parseJob(input, 'shop.yaml');
    } catch (error) {
      message = (error as Error).message;
    }

    // Assess
    expect(message.split('\n').map((line) => line.replace(/ selector "[^"]*": .*$/, ''))).toEqual([
      `shop.yaml: templates.product.fields.title.type: expected one of ${FIELD_TYPES}`,
      'shop.yaml: templates.product.items: invalid CSS',
      'shop.yaml: templates.product.fields.sku.selector: invalid CSS',
      'shop.yaml: templates.product.fields.title.selector: invalid CSS',
    ]);
  });
});
