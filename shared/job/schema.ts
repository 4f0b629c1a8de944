import { z } from 'zod';
import { jmespathProblem } from '../extract/json.js';
import { nestedQuantifierProblem } from '../extract/regex-safety.js';
import { normaliseUrl } from '../url.js';
import { readsJson } from './formats.js';
import { JOB_NAME_PATTERN, JOB_NAME_RULE } from './name.js';
import { PRESET_FIELDS, PRESET_KEY, TEMPLATE_PRESETS } from './presets.js';
import { jobReferenceIssues, templateReferenceIssues } from './references.js';
import { scheduleProblem } from './schedule.js';

/**
 * The job model: what a user writes in `jobs/` (TypeScript through `defineJob`, or YAML/JSON).
 *
 * Every object is strict (unknown keys are errors) and every default is applied here, in one place,
 * so the rest of the pipeline works with a fully resolved {@link Job}.
 */

const FIELD_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/** A JMESPath query, compiled when the job is validated so that a typo fails validation, not every page of a run. */
const jmespathString = z.string().superRefine((value, ctx) => {
  const problem = jmespathProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

const regexString = z.string().superRefine((value, ctx) => {
  try {
    new RegExp(value);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: `invalid regular expression: ${(error as Error).message}` });
    return;
  }
  const problem = nestedQuantifierProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** Run ids name folders and state keys: letters, digits, `.`, `_` and `-`, starting with a letter or digit. */
const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$/;

/** What is wrong with a run id chosen by a user (`--run-id`), if anything. */
export function runIdProblem(runId: string): string | undefined {
  if (!RUN_ID.test(runId) || runId.includes('..')) {
    return `run id "${runId}": use 1 to 80 letters, digits, ".", "_" and "-", starting with a letter or digit (no "..")`;
  }
  return undefined;
}

/** What is wrong with a start URL (in a job or given for one run), if anything: the rules of `start.urls`. */
export function startUrlProblem(value: string): string | undefined {
  const result = httpUrl.safeParse(value);
  if (!result.success) return `start URL "${value}": ${result.error.issues.map((issue) => issue.message).join('; ')}`;
  const normalised = normaliseUrl(value);
  return normalised.ok ? undefined : `start URL "${value}": ${normalised.reason}`;
}

const httpUrl = z.string().superRefine((value, ctx) => {
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: `not an absolute URL: "${value}"` });
    return;
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    ctx.addIssue({ code: 'custom', message: `only http and https URLs can be fetched, got "${parsed.protocol}"` });
  }
  if (parsed.username || parsed.password) {
    ctx.addIssue({ code: 'custom', message: 'URLs with credentials are refused' });
  }
});

export const FIELD_TYPES = ['string', 'number', 'integer', 'boolean', 'url', 'date'] as const;
export type FieldType = (typeof FIELD_TYPES)[number];

export const EXTRACT_KINDS = ['text', 'html', 'attr', 'exists'] as const;
export type ExtractKind = (typeof EXTRACT_KINDS)[number];

/** Where a field's value comes from. */
export const FIELD_SOURCES = ['selector', 'url', 'jsonld', 'microdata', 'meta', 'json'] as const;
export type FieldSource = (typeof FIELD_SOURCES)[number];

/** A property path of structured data: names separated by dots (`offers.price`, `@id`). */
const PROPERTY_PATH = /^[^.\s]+(?:\.[^.\s]+)*$/;

/** The keys that belong to some sources only: required with them, refused with the others. */
const SOURCE_KEYS: readonly {
  readonly name: 'selector' | 'itemType' | 'path' | 'name' | 'query';
  readonly sources: readonly FieldSource[];
}[] = [
  { name: 'selector', sources: ['selector'] },
  { name: 'itemType', sources: ['jsonld', 'microdata'] },
  { name: 'path', sources: ['jsonld', 'microdata'] },
  { name: 'name', sources: ['meta'] },
  { name: 'query', sources: ['json'] },
];

/** Where a value is read: the keys a field and each of its fallbacks have. */
const sourceShape = {
  selector: z
    .string()
    .min(1)
    .optional()
    .describe('CSS selector, relative to the item root. Required with `from: selector` (the default), refused otherwise.'),
  from: z
    .enum(FIELD_SOURCES)
    .default('selector')
    .describe(
      'Where the value comes from: a selector match (default); the page URL after redirects (`url`: where the item lives, as its `_url`); the structured data a page publishes: a JSON-LD node (`jsonld`) or a microdata item (`microdata`) of an `itemType`, read at a `path`, or a `<meta>` tag by its `name` (`meta`: OpenGraph, Twitter cards, `description`…); a JSON body by a JMESPath `query` (`json`).',
    ),
  itemType: z
    .string()
    .regex(/^\S+$/, 'one schema.org type or type IRI, without spaces')
    .optional()
    .describe(
      'For `from: jsonld` and `from: microdata`: the schema.org type of the node to read (`Product`, `Article`, or a full IRI such as `https://schema.org/Product`), matched against every type a node has; the first node of the type in document order is read.',
    ),
  path: z
    .string()
    .regex(PROPERTY_PATH, 'property names separated by dots, e.g. "offers.price"')
    .optional()
    .describe(
      'For `from: jsonld` and `from: microdata`: the property to read, property names separated by dots (`offers.price`, `author.name`). Each step reads every value of a property (a property may hold one value or a list), a JSON-LD reference `{"@id": …}` leads to the node of that id, and `{"@value": …}` is its value.',
    ),
  query: jmespathString
    .optional()
    .describe(
      "For `from: json`: a JMESPath query (https://jmespath.org) over the JSON body, or over each item of `items`: `price.amount`, `offers[0].price`, `tags[*].name` (with `many`), `join(', ', authors)`.",
    ),
  name: z
    .string()
    .min(1)
    .optional()
    .describe(
      'For `from: meta`: the `property` or `name` of the `<meta>` tags to read (`og:title`, `product:price:amount`, `twitter:image`, `description`), in any case; the value is their `content`.',
    ),
  extract: z.enum(EXTRACT_KINDS).optional().describe("What to read from the match. Default: 'text' ('attr' when `attr` is set)."),
  attr: z.string().min(1).optional().describe("Attribute name, for `extract: 'attr'`."),
};

type SourceInput = z.output<z.ZodObject<typeof sourceShape>>;

/** Each source has its own keys: a key of another source is a mistake, not something to ignore. */
function checkSource(field: SourceInput, ctx: z.RefinementCtx): void {
  for (const key of SOURCE_KEYS) {
    const needed = key.sources.includes(field.from);
    if (needed && field[key.name] === undefined) {
      const message =
        key.name === 'selector'
          ? `required unless from is ${FIELD_SOURCES.filter((source) => source !== 'selector')
              .map((source) => `"${source}"`)
              .join(', ')}`
          : `required with from: "${field.from}"`;
      ctx.addIssue({ code: 'custom', path: [key.name], message });
    }
    if (!needed && field[key.name] !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: [key.name],
        message: `not allowed with from: "${field.from}" (only with from: ${key.sources.map((source) => `"${source}"`).join(' or ')})`,
      });
    }
  }
  if (field.from !== 'selector') {
    // `extract: text` is the default every field has once validated: a validated job validates again.
    for (const key of ['extract', 'attr'] as const) {
      if (field[key] !== undefined && !(key === 'extract' && field.extract === 'text')) {
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: `reads a selector match: not allowed with from: "${field.from}"`,
        });
      }
    }
  }
  if (field.extract === 'attr' && field.attr === undefined) {
    ctx.addIssue({ code: 'custom', path: ['attr'], message: 'required with extract: "attr"' });
  }
  if (field.attr !== undefined && field.extract !== undefined && field.extract !== 'attr') {
    ctx.addIssue({ code: 'custom', path: ['extract'], message: `must be "attr" (or omitted) when attr is set` });
  }
}

/** Defaults `extract` by `attr`. */
function withExtract<T extends { extract?: ExtractKind | undefined; attr?: string | undefined }>(source: T) {
  return { ...source, extract: source.extract ?? (source.attr !== undefined ? ('attr' as const) : ('text' as const)) };
}

/** A fallback of a field: only where to read; the field's own keys type and clean whatever it yields. */
const fallbackSource = z.strictObject(sourceShape).superRefine(checkSource).transform(withExtract);

const fieldObject = z
  .strictObject({
    ...sourceShape,
    fallback: z
      .array(fallbackSource)
      .min(1)
      .optional()
      .describe(
        'Other places to read, in order, when this one gives no value: sources with their keys only (`from`, `selector`, `extract`, `attr`, `itemType`, `path`, `name`), e.g. `[{ from: microdata, itemType: Product, path: sku }, { selector: ".sku" }]`; the field\'s other keys (`type`, `pattern`, `many`…) apply to whichever source gives the value. Problems of the sources that gave none are reported only when no source gives a value.',
      ),
    many: z.boolean().default(false).describe('Collect every match as an array instead of the first.'),
    type: z.enum(FIELD_TYPES).default('string').describe('Value type after parsing.'),
    trim: z
      .boolean()
      .default(true)
      .describe(
        'Collapse runs of white space (no-break spaces included) into one space and trim: both the text a selector reads and the strings (also inside arrays) a code extractor returns for this field; a string left empty counts as no value. `false` keeps them as they are.',
      ),
    pattern: regexString
      .optional()
      .describe('Regular expression applied to the raw text; the first capture group (or the whole match) is kept.'),
    map: z
      .record(z.string(), z.union([z.string(), z.number(), z.boolean()]))
      .optional()
      .describe('Replaces the text (after `pattern`) by a value, e.g. `{ One: 1, Two: 2 }`; text without an entry is a problem.'),
    decimal: z.enum(['.', ',']).default('.').describe('Decimal separator for numbers.'),
    default: z.unknown().optional().describe('Value used when nothing matched.'),
    required: z.boolean().default(false).describe('An item without this field is invalid (quarantined).'),
  })
  .superRefine((field, ctx) => {
    checkSource(field, ctx);
    if (field.extract === 'exists' && field.type !== 'boolean') {
      ctx.addIssue({ code: 'custom', path: ['type'], message: 'extract: "exists" yields a boolean: set type: "boolean"' });
    }
  })
  .transform(withExtract);

/** A field: a CSS selector string (text, string type) or a full field definition. */
const fieldSchema = z.union([z.string().min(1), fieldObject]).transform((field) =>
  typeof field === 'string'
    ? {
        selector: field,
        from: 'selector' as FieldSource,
        extract: 'text' as const,
        many: false,
        type: 'string' as const,
        trim: true,
        decimal: '.' as const,
        required: false,
        attr: undefined,
        pattern: undefined,
        map: undefined,
        default: undefined,
        itemType: undefined,
        path: undefined,
        name: undefined,
        query: undefined,
        fallback: undefined,
      }
    : field,
);

/** A code extractor: gets the page, returns items (plain objects). */
export type CodeExtractor = (page: PageContext) => Record<string, unknown>[] | Promise<Record<string, unknown>[]>;

/** What a code extractor sees of a page. `$` is a cheerio root loaded with the page. */
export interface PageContext {
  /** The URL that was requested. */
  readonly url: string;
  /** The URL after redirects; relative links resolve against the page's `<base href>`, else against it. */
  readonly finalUrl: string;
  /** The cheerio API over the page (from `cheerio/slim`). */
  readonly $: import('cheerio').CheerioAPI;
  /** The template this page was fetched for. */
  readonly template: string;
  /** Resolves a (relative) link against the page. */
  resolve(href: string): string | undefined;
}

const templateSchema = z
  .strictObject({
    preset: z
      .enum(TEMPLATE_PRESETS)
      .optional()
      .describe(
        'A ready-made template: schema.org `Product` (url, name, sku, gtin, brand, description, image, price, currency, availability, rating, reviewCount) or `Article` (url, headline, description, author, published, modified, section, publisher, image) items, each field read from JSON-LD, else microdata, else OpenGraph/meta tags. `key` defaults to `url`; `fields` may override preset fields or add others.',
      ),
    format: z
      .enum(['html', 'json'])
      .optional()
      .describe(
        'How the pages of this template are read, whatever their Content-Type says: `json` for an API that answers JSON as `text/plain` or `text/html`, `html` for the reverse. Default: by the Content-Type (`application/json` and `+json` types are JSON). A template whose fields read `from: json` is a JSON template, the others read HTML: a page of the other kind fails (`format-mismatch`).',
      ),
    key: z
      .string()
      .regex(FIELD_NAME, 'must be a field name')
      .optional()
      .describe('Name of the field that identifies an item across pages and runs. Required unless `preset` (then `url`).'),
    items: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Selector whose every match is one item (several items per page, e.g. `div.quote`); fields select inside each match. In a JSON template, a JMESPath query giving the list of items (`products`, `data.items[?available]`); fields query each. Without it the whole page is one item.',
      ),
    fields: z
      .record(z.string().regex(FIELD_NAME, 'field names are letters, digits and _'), fieldSchema)
      .optional()
      .describe(
        'The fields of an item, by name (letters, digits and _): a CSS selector string (its trimmed text) or a field object. Required unless `preset`.',
      ),
    extractor: z
      .custom<CodeExtractor>((value) => typeof value === 'function', { message: 'must be a function (page) => items' })
      .optional()
      .meta({
        description:
          'TypeScript jobs only: a function `(page) => items` (or a promise of items) replacing the declarative selectors; `fields` still type and validate its items. `page` has `url` (requested), `finalUrl` (after redirects), `$` (cheerio loaded with the page), `template` (its name) and `resolve(href)` (an absolute URL, or undefined).',
        typescriptOnly: true,
      }),
  })
  .superRefine((template, ctx) => {
    if (template.preset !== undefined) return;
    if (template.key === undefined)
      ctx.addIssue({ code: 'custom', path: ['key'], message: 'required (string) unless preset is set' });
    if (template.fields === undefined)
      ctx.addIssue({ code: 'custom', path: ['fields'], message: 'required (object) unless preset is set' });
  })
  .transform((template) => {
    // A preset's fields come first; the template's own fields override them by name.
    const presetFields =
      template.preset === undefined
        ? {}
        : Object.fromEntries(
            Object.entries(PRESET_FIELDS[template.preset]).map(([name, field]) => [name, fieldSchema.parse(field)]),
          );
    return {
      ...template,
      key: template.key ?? PRESET_KEY,
      fields: { ...presetFields, ...template.fields },
    };
  })
  .superRefine((template, ctx) => {
    // A template reads one kind of document: JSON fields and HTML fields cannot meet on one page.
    if (readsJson(template)) {
      for (const [name, field] of Object.entries(template.fields)) {
        const html = [field, ...(field.fallback ?? [])].find((source) => source.from !== 'json' && source.from !== 'url');
        if (html !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['fields', name, 'from'],
            message: `"${html.from}" reads HTML, but this template reads JSON (a field reads from: "json"): use from: "json" or "url"`,
          });
        }
      }
      if (template.format === 'html') {
        ctx.addIssue({ code: 'custom', path: ['format'], message: 'this template reads JSON (a field reads from: "json")' });
      }
      if (template.items !== undefined) {
        const problem = jmespathProblem(template.items);
        if (problem) ctx.addIssue({ code: 'custom', path: ['items'], message: problem });
      }
    }
  })
  .superRefine((template, ctx) => {
    // The expanded template: its preset's fields are there now.
    for (const issue of templateReferenceIssues({ key: template.key, fields: template.fields }))
      ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
  });

/** Header names are HTTP tokens (RFC 9110). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Cookie values: RFC 6265 `cookie-octet`s (no white space, quotes, commas, semicolons or backslashes). */
const COOKIE_VALUE = /^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*$/;

/** Headers the fetcher sets itself, and where a job sets what they carry. */
const MANAGED_HEADERS: Readonly<Record<string, string>> = {
  host: 'the fetcher sets it from the URL',
  'content-length': 'the fetcher sets it from the body',
  'transfer-encoding': 'the fetcher sets it',
  connection: 'the fetcher manages connections',
  'content-type': 'the fetcher sets it from the body: use form or json',
  cookie: 'use request.cookies',
  'user-agent': 'use politeness.userAgent',
  'accept-encoding': 'the fetcher asks for the encodings it decompresses',
  'if-none-match': 'the fetcher sends it for conditional requests',
  'if-modified-since': 'the fetcher sends it for conditional requests',
};

/** One query or form parameter value. */
const parameterValue = z.union([z.string(), z.number(), z.boolean()]);

/** Names of secrets: what Secrets Manager secret names and SSM parameter names (paths) have in common. */
const SECRET_NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;

/**
 * A reference to a secret, accepted wherever a job holds a credential (header and cookie values, proxy URLs, login
 * fields): the value is read when the job runs and never written anywhere (logs, archives, manifests, errors).
 */
export const secretRefSchema = z
  .strictObject({
    secret: z
      .string()
      .regex(SECRET_NAME, 'secret names are letters, digits and /_+=.@- (at most 512)')
      .describe(
        'The name of the secret: on AWS a Secrets Manager secret (or with `store: ssm` an SSM parameter, a SecureString decrypted); locally the environment variable `SCRAPELINE_SECRET_<NAME>` (upper case, every other character `_`: `shop/api-token` is `SCRAPELINE_SECRET_SHOP_API_TOKEN`), else the entry of that name in the secrets file (`SCRAPELINE_SECRETS_FILE`, default `.scrapeline/secrets.json`).',
      ),
    store: z
      .enum(['secrets-manager', 'ssm'])
      .optional()
      .describe(
        'Where the secret is kept on AWS: `secrets-manager` (default) or `ssm` (Parameter Store). The stack grants the fetcher read access to exactly the secrets its jobs name.',
      ),
    key: z
      .string()
      .min(1)
      .optional()
      .describe(
        'For a secret whose value is a JSON object (as Secrets Manager keeps credentials): the property to read, e.g. `password`.',
      ),
  })
  .describe(
    'A secret: `{ secret: shop/api-token }`, `{ secret: /shop/proxy, store: ssm }`, `{ secret: shop/login, key: password }`.',
  );

/** Request options of a job (`fetch.request`) or of a follow rule (`follow[].request`, merged over the job's). */
const requestSchema = z
  .strictObject({
    method: z
      .enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE'])
      .optional()
      .describe('HTTP method. Default: `GET`, or `POST` when the request has a body (`form` or `json`).'),
    headers: z
      .record(
        z.string().regex(HEADER_NAME, "header names are HTTP tokens (letters, digits and !#$%&'*+.^_`|~-)"),
        z.union([
          z.string().refine((value) => !/[\r\n\0]/.test(value), 'header values cannot hold CR, LF or NUL'),
          secretRefSchema,
        ]),
      )
      .optional()
      .describe(
        'Request headers by name, e.g. `{ Accept-Language: "en-GB", Authorization: { secret: shop/api-token } }`: a value is a string or a secret reference (`{ secret: name }`, see "Secrets"). Sent only to the URL\'s origin: a redirect to another origin drops them. Host, Content-Length, Content-Type, Cookie, User-Agent and the other headers the fetcher sets are refused (with where to set them).',
      ),
    cookies: z
      .record(
        z.string().regex(HEADER_NAME, 'cookie names are HTTP tokens'),
        z.union([z.string().regex(COOKIE_VALUE, 'cookie values cannot hold white space, ", comma, ; or \\'), secretRefSchema]),
      )
      .optional()
      .describe(
        'Cookies sent as one `Cookie` header, e.g. `{ consent: "yes", session: { secret: shop/session } }` (a value is a string or a secret reference); like headers, only to the URL\'s origin.',
      ),
    query: z
      .record(z.string().min(1), parameterValue)
      .optional()
      .describe(
        "Query parameters set on every URL fetched (replacing parameters of the same name), e.g. `{ per_page: 100 }`. The URL stays the page's identity without them; items' `_url` shows them.",
      ),
    form: z
      .record(z.string().min(1), parameterValue)
      .optional()
      .describe(
        'A form body (`application/x-www-form-urlencoded`), e.g. `{ q: "lamps", page: 1 }`; implies `POST` unless `method` says otherwise.',
      ),
    json: z
      .unknown()
      .optional()
      .describe(
        'A JSON body (`application/json`), e.g. a GraphQL query `{ query: "{ products { sku } }" }`; implies `POST` unless `method` says otherwise.',
      ),
    idempotent: z
      .boolean()
      .optional()
      .describe(
        'Whether a request with a body may be sent again: a `POST`/`PUT`/`PATCH`/`DELETE` is never retried (`fetch.retries` does not apply) unless this is `true`, e.g. for a search form or a read-only GraphQL query. Default: `false`.',
      ),
  })
  .superRefine((request, ctx) => {
    for (const name of Object.keys(request.headers ?? {})) {
      const managed = MANAGED_HEADERS[name.toLowerCase()];
      if (managed !== undefined) ctx.addIssue({ code: 'custom', path: ['headers', name], message: `not allowed: ${managed}` });
    }
    if (request.form !== undefined && request.json !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['json'], message: 'a request has one body: form or json, not both' });
    }
    if (request.json !== undefined && !isJsonValue(request.json)) {
      ctx.addIssue({
        code: 'custom',
        path: ['json'],
        message: 'must be JSON: objects, arrays, strings, finite numbers, booleans and null',
      });
    }
    if (request.method === 'GET' && (request.form !== undefined || request.json !== undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['method'],
        message: 'a GET request has no body: use POST (or leave method out: a body means POST)',
      });
    }
  });

/** Whether a value survives JSON unchanged (a TypeScript job may put anything in `json`). */
function isJsonValue(value: unknown, depth = 0): boolean {
  if (depth > 64) return false;
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (Array.isArray(value)) return value.every((one) => isJsonValue(one, depth + 1));
  if (typeof value !== 'object' || Object.getPrototypeOf(value) !== Object.prototype) return false;
  return Object.values(value as Record<string, unknown>).every((one) => isJsonValue(one, depth + 1));
}

const followSchema = z
  .strictObject({
    selector: z
      .string()
      .min(1)
      .optional()
      .describe('Links inside matches of this selector are followed (`a[href]` matches themselves or their descendants).'),
    pattern: regexString
      .optional()
      .describe(
        'Regular expression the absolute URL of a link must match (tested anywhere in the URL); with a selector, both must hold; alone, every `a[href]` of the page is a candidate.',
      ),
    query: jmespathString
      .optional()
      .describe(
        'On JSON pages: a JMESPath query giving the URLs to follow (a string or a list of strings, resolved against the page), e.g. `links.next` or `data.items[*].url`.',
      ),
    pageCounter: z
      .strictObject({
        param: z.string().min(1).describe('The query parameter that counts pages, e.g. `page` or `offset`.'),
        start: z.number().int().default(1).describe('Its value on a URL without it (the first page).'),
        step: z.number().int().positive().default(1).describe('Added per page, e.g. the page size for an offset.'),
        untilEmpty: jmespathString.describe(
          'A JMESPath query for the list of a page (e.g. `products`): the next page is followed while it is not empty.',
        ),
      })
      .optional()
      .describe(
        'On JSON pages: follows the same URL with `param` increased by `step` (from `start` when absent) while `untilEmpty` gives a non-empty list, e.g. `{ param: page, untilEmpty: products }`.',
      ),
    template: z
      .string()
      .optional()
      .describe('Template applied to the pages reached; none means the pages are only crawled for links.'),
    request: requestSchema
      .optional()
      .describe(
        "Request options for the pages this rule's template is fetched for, over the job's (`fetch.request`): headers, cookies and query parameters are merged by name; method, body and `idempotent` replace the job's when the rule sets a method or a body. A URL is fetched once per run whichever rule found it, with the options of its template: rules leading to one template must have the same request options.",
      ),
    from: z
      .array(z.string())
      .min(1)
      .optional()
      .describe(
        'Apply this rule only on pages of these templates (`"start"` names pages without a template, e.g. start pages when `start.template` is not set). Default: every page.',
      ),
  })
  .superRefine((rule, ctx) => {
    if (rule.selector === undefined && rule.pattern === undefined && rule.query === undefined && rule.pageCounter === undefined) {
      ctx.addIssue({
        code: 'custom',
        message: 'a follow rule needs a selector, a pattern or both (HTML pages), or a query or a pageCounter (JSON pages)',
      });
    }
    if (rule.pageCounter !== undefined && (rule.selector !== undefined || rule.query !== undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['pageCounter'],
        message: 'a page counter follows the page itself: no selector or query with it (use a rule of its own)',
      });
    }
  });

const startSchema = z.strictObject({
  urls: z.array(httpUrl).default([]).describe('Absolute http(s) URLs a run starts from (depth 0).'),
  template: z
    .string()
    .optional()
    .describe(
      'Template for the start pages, when they hold items themselves (e.g. the first listing page). Default: none (start pages are only crawled for links).',
    ),
  sitemaps: z
    .array(httpUrl)
    .default([])
    .describe('Sitemaps (urlset or sitemapindex, XML, gzip or text) whose URLs start the run.'),
  sitemapsFromRobots: z.boolean().default(false).describe("Also start from the `Sitemap:` lines of the start URLs' robots.txt."),
  sitemapTemplate: z.string().optional().describe('Template for pages found in sitemaps. Default: none.'),
  onlyModifiedSinceLastRun: z
    .boolean()
    .default(false)
    .describe('Take only sitemap URLs whose `lastmod` is after the start of the last successful run.'),
});

const limitsSchema = z.strictObject({
  maxPages: z
    .number()
    .int()
    .positive()
    .default(10_000)
    .describe(
      'URLs fetched per run at most; the first 1,000 URLs past it end as skipped (`budget:maxPages`, listed in the failures), later ones are only counted (`notFollowed` in the manifest).',
    ),
  maxDepth: z
    .number()
    .int()
    .nonnegative()
    .default(10)
    .describe('Link depth from the start URLs (start pages are depth 0): a page more links away is not fetched.'),
  maxLinksPerPage: z
    .number()
    .int()
    .positive()
    .default(10_000)
    .describe(
      'Distinct links followed from one page at most; the rest are counted in the manifest (`notFollowed["cap:maxLinksPerPage"]`), not followed.',
    ),
  maxSitemaps: z
    .number()
    .int()
    .positive()
    .default(1_000)
    .describe(
      'Sitemaps (sitemap indexes included, nested or not) read per run at most; further ones are counted in the manifest (`notFollowed["cap:maxSitemaps"]`).',
    ),
  maxSitemapEntries: z
    .number()
    .int()
    .positive()
    .default(1_000_000)
    .describe(
      'URLs taken from sitemaps per run at most (each sitemap holds up to 50,000); further ones are counted in the manifest (`notFollowed["cap:maxSitemapEntries"]`).',
    ),
  maxDurationMinutes: z
    .number()
    .positive()
    .optional()
    .describe('No new URLs are accepted once the run is this old; in-flight work finishes. Default: none.'),
  maxCostUsd: z
    .number()
    .positive()
    .optional()
    .describe("No new URLs are accepted once the run's estimated AWS cost reaches this. Default: none."),
});

const politenessSchema = z.strictObject({
  perHostConcurrency: z.number().int().min(1).max(64).default(4).describe('Requests in flight per host at once.'),
  minDelayMs: z.number().int().nonnegative().max(600_000).default(0).describe('Minimum time between two requests to one host.'),
  userAgent: z
    .string()
    .min(1)
    .default('scrapeline/0.1 (+https://github.com/scrapeline/scrapeline)')
    .describe('User-Agent header.'),
  robotsTxt: z.enum(['respect', 'ignore']).default('respect').describe('robots.txt handling.'),
});

/** A proxy URL as written: `http://host:port` or `https://host:port`, without credentials (those belong in a secret). */
const proxyUrl = z.string().superRefine((value, ctx) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be a proxy URL such as http://proxy.example:8080' });
    return;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    ctx.addIssue({ code: 'custom', message: `must be an http: or https: proxy URL, not ${url.protocol}` });
  } else if (url.username !== '' || url.password !== '') {
    ctx.addIssue({ code: 'custom', message: 'a proxy URL with credentials belongs in a secret: { secret: name }' });
  } else if (url.pathname !== '/' || url.search !== '' || url.hash !== '') {
    ctx.addIssue({ code: 'custom', message: 'a proxy URL is scheme, host and port only' });
  }
});

const proxySchema = z.strictObject({
  urls: z
    .array(z.union([proxyUrl, secretRefSchema]))
    .min(1)
    .max(100)
    .describe(
      'The proxies: URLs (`http://proxy.example:8080`), or secrets holding one with its credentials (`{ secret: shop/proxy }` holding `http://user:password@proxy.example:8080`). HTTP(S) proxies, through which every page request tunnels (`CONNECT`).',
    ),
  rotate: z
    .enum(['request', 'session'])
    .default('request')
    .describe(
      "Which proxy a request goes through: `request` takes the next one for every request (round robin); `session` pins the whole run (its login session included) to one proxy, chosen by the run's id. Either way a proxy that is down or refuses the tunnel is left for the next one in the list, within the same attempt.",
    ),
});

const fetchSchema = z.strictObject({
  timeoutMs: z.number().int().min(100).max(120_000).default(15_000).describe('Deadline for one request, headers and body.'),
  maxBytes: z
    .number()
    .int()
    .min(1024)
    .max(100 * 1024 * 1024)
    .default(5 * 1024 * 1024)
    .describe('Largest accepted body after decompression, in bytes (default 5 MiB).'),
  maxRedirects: z.number().int().min(0).max(20).default(5).describe('Redirects followed per request.'),
  retries: z
    .number()
    .int()
    .min(0)
    .max(10)
    .default(3)
    .describe('Retries after the first attempt for network errors, 5xx and 429.'),
  request: requestSchema
    .optional()
    .describe(
      'Request options of every page request of the job (start URLs, followed links, sitemap entries; not robots.txt or sitemaps): method, headers, cookies, query parameters and a body (form or JSON). A follow rule may override them for the pages it leads to.',
    ),
  proxy: proxySchema
    .optional()
    .describe(
      'Send every page request (robots.txt, sitemaps and the login included) through HTTP(S) proxies, e.g. `{ urls: [http://proxy-a:8080, { secret: shop/proxy-b }], rotate: request }`. The SSRF guard judges the target the proxy is asked for, and the proxy itself. Default: direct.',
    ),
  allowedHosts: z
    .array(z.string().min(1))
    .optional()
    .describe(
      'Hosts (with the port, when not the default) links may lead to, e.g. `["shop.example", "cdn.shop.example"]`; a link to another host is not followed. Default: the hosts of the start URLs.',
    ),
});

const qualitySchema = z.strictObject({
  maxFillRateDrop: z
    .number()
    .min(0)
    .max(1)
    .default(0.2)
    .describe('A field whose fill rate falls by more than this many points (0–1) from the baseline run marks the run degraded.'),
  minItemRatio: z
    .number()
    .min(0)
    .max(1)
    .default(0.5)
    .describe("A run with fewer items than this share of the baseline run's is degraded."),
  minItemsForFillRates: z
    .number()
    .int()
    .min(1)
    .default(20)
    .describe('Fill rates are compared only when both runs extracted at least this many items.'),
});

/** HTTP statuses a page may answer when its session is gone. */
const errorStatus = z.number().int().min(400).max(599);

const sessionSchema = z
  .strictObject({
    login: z
      .strictObject({
        url: httpUrl.describe('The page with the login form, fetched with `GET` (its cookies are kept for the login).'),
        form: z
          .string()
          .min(1)
          .optional()
          .describe("The login form's `id` or `name`. Default: the first form with a password field."),
        fields: z
          .record(
            z.string().min(1),
            z.union([
              z.string().refine((value) => !/[\r\n\0]/.test(value), 'field values cannot hold CR, LF or NUL'),
              secretRefSchema,
            ]),
          )
          .default({})
          .describe(
            "Values set over the form's own fields, by name: the credentials, e.g. `{ username: crawler, password: { secret: shop/login, key: password } }`. The form's other fields (hidden ones such as a CSRF token, checked boxes, selected options) are sent as the page gave them.",
          ),
      })
      .describe(
        'The login: the form page is fetched, its form filled with `fields` and submitted (to its `action`, with its `method`), redirects followed with the cookies the site sets.',
      ),
    success: z
      .strictObject({
        cookie: z.string().min(1).optional().describe('A cookie the site must have set, e.g. `sid`.'),
        pattern: regexString.optional().describe('A regular expression the page after the login must match, e.g. `Log out`.'),
        urlPattern: regexString
          .optional()
          .describe('A regular expression the URL of the page after the login (after redirects) must match, e.g. `/account`.'),
      })
      .refine((success) => Object.keys(success).length > 0, 'give at least one of cookie, pattern and urlPattern')
      .describe('How to tell that the login worked: every condition given must hold, else the run fails (`login-failed`).'),
    loggedOut: z
      .strictObject({
        pattern: regexString.optional().describe('A regular expression a logged-out page matches, e.g. `Please log in`.'),
        urlPattern: regexString
          .optional()
          .describe('A regular expression the URL of a logged-out page (after redirects) matches, e.g. `/login`.'),
        status: z.array(errorStatus).min(1).optional().describe('Statuses a logged-out page answers, e.g. `[401, 403]`.'),
      })
      .refine((loggedOut) => Object.keys(loggedOut).length > 0, 'give at least one of pattern, urlPattern and status')
      .describe(
        'How a page shows that the session is gone (any condition): the session is refreshed (one login for the fleet) and the page fetched again (a few times at most); a page still logged out then fails (`logged-out`).',
      ),
  })
  .describe('A login before the crawl.');

/** Defaults of the optional sections, spelled out so that `{}` resolves through each section's own defaults. */
export const jobSchema = z
  .strictObject({
    name: z
      .string()
      .regex(JOB_NAME_PATTERN, JOB_NAME_RULE)
      .describe('The job\'s name, unique among the jobs: lowercase letters, digits and "-", at most 48 characters.'),
    description: z.string().optional().describe('What the job scrapes, for people.'),
    schedule: z
      .string()
      .superRefine((value, ctx) => {
        const problem = scheduleProblem(value);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .optional()
      .describe(
        'EventBridge Scheduler expression, in UTC: `rate(6 hours)`, `rate(1 day)`, or `cron(minutes hours day-of-month month day-of-week year)` with exactly one of day-of-month and day-of-week `?`, e.g. `cron(0 6 * * ? *)`. No schedule means the job only runs on demand.',
      ),
    start: startSchema.describe('Where a run starts: URLs, sitemaps, and the template of the pages they lead to.'),
    follow: z
      .array(followSchema)
      .default([])
      .describe(
        "Link rules, applied to every fetched page: a link selected by a rule is fetched (once per run) with the rule's template. A link is followed only to an allowed host (`fetch.allowedHosts`) and within `limits.maxDepth`.",
      ),
    templates: z
      .record(z.string().regex(FIELD_NAME, 'template names are letters, digits and _'), templateSchema)
      .default({})
      .describe(
        'How items are extracted, by template name: each page is extracted with the template its start URL or follow rule names.',
      ),
    limits: limitsSchema.default(limitsSchema.parse({})).describe('Budgets of one run.'),
    politeness: politenessSchema.default(politenessSchema.parse({})).describe('How gently hosts are treated.'),
    fetch: fetchSchema.default(fetchSchema.parse({})).describe('HTTP requests.'),
    session: sessionSchema
      .optional()
      .describe(
        "A login before the crawl, whose cookies every page request of the run on the login page's host carries: performed once for the run by the first fetcher that needs it (the others wait for it through the state store), with robots.txt and politeness like any request; refreshed when a page shows the logged-out condition. A failed login fails the run's pages at once (`login-failed`), before any of them is requested.",
      ),
    quality: qualitySchema
      .default(qualitySchema.parse({}))
      .describe(
        'When a finished run counts as `degraded` (exit code 4, an alarm on AWS): its item count and fill rates are compared with the last good run (the baseline); a degraded run infers no removals.',
      ),
  })
  .superRefine((job, ctx) => {
    // One implementation of the cross-checks: the loader runs the same ones on raw input when the schema fails.
    for (const issue of jobReferenceIssues(job)) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
  });

/** What a user writes: every default optional. */
export type JobInput = z.input<typeof jobSchema>;
/** A validated job with every default applied. */
export type Job = z.output<typeof jobSchema>;
export type Template = Job['templates'][string];
export type FieldSpec = Template['fields'][string];
export type FollowRule = Job['follow'][number];

/** Request options as written (every key optional): a job's `fetch.request` or a follow rule's `request`. */
export type RequestSpec = z.output<typeof requestSchema>;
/** The login of a job (`session`). */
export type SessionSpec = z.output<typeof sessionSchema>;
/** Proxies of a job (`fetch.proxy`). */
export type ProxySpec = z.output<typeof proxySchema>;
/** A reference to a secret (`{ secret: name }`), resolved when the job runs. */
export type SecretRef = z.output<typeof secretRefSchema>;
