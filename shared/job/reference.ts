import { z } from 'zod';
import { jobSchema } from './schema.js';

/**
 * The job reference (docs/jobs.md) and the JSON Schema for editors (docs/job.schema.json), both generated from
 * the zod job schema and the descriptions it carries: `npm run docs:jobs` writes them, and a test fails when the
 * checked-in files differ from what this module renders.
 */

/** A JSON Schema node, as zod writes it (only the keywords the rendering reads are typed). */
interface JsonSchema {
  type?: string | string[];
  description?: string;
  default?: unknown;
  enum?: unknown[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: JsonSchema | boolean;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  not?: JsonSchema;
  pattern?: string;
  minLength?: number;
  minItems?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  [keyword: string]: unknown;
}

/** Where the JSON Schema is published in this repository, relative to its root. */
export const JSON_SCHEMA_PATH = 'docs/job.schema.json';
/** Where the reference is published, relative to the repository root. */
export const REFERENCE_PATH = 'docs/jobs.md';

/**
 * The JSON Schema of a job file as a user writes it (`io: 'input'`: defaults are optional). What JSON Schema cannot
 * say is left to the loader: cross-references (a template named by a follow rule exists, a key is a field),
 * selectors, regular expressions, URLs and schedules are checked by `scrapeline validate`. A code `extractor` is a
 * function, which a YAML or JSON job cannot hold: the schema refuses the key.
 */
export function jobJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(jobSchema, {
    io: 'input',
    unrepresentable: 'any',
    override: (context) => {
      const node = context.jsonSchema as JsonSchema;
      if (node.typescriptOnly === true) {
        delete node.typescriptOnly;
        node.not = {};
      }
    },
  }) as Record<string, unknown>;
  const { $schema, ...rest } = schema;
  return {
    $schema,
    title: 'scrapeline job',
    description:
      'A scrapeline job file (YAML or JSON). Generated from shared/job/schema.ts by `npm run docs:jobs`; see docs/jobs.md.',
    ...rest,
  };
}

/** Renders the schema as JSON text, as checked in. */
export function renderJsonSchema(): string {
  return `${JSON.stringify(jobJsonSchema(), null, 2)}\n`;
}

function typeOf(node: JsonSchema): string {
  if (node.not !== undefined && Object.keys(node.not).length === 0) return 'function (TypeScript only)';
  if (node.anyOf) return node.anyOf.map(typeOf).join(' or ');
  if (node.enum) return node.enum.map((value) => `\`${JSON.stringify(value)}\``).join(', ');
  if (Array.isArray(node.type)) return node.type.join(' or ');
  // zod bounds every integer by the safe range: not worth a mention.
  const bound = (value: number | undefined) =>
    value === undefined || Math.abs(value) === Number.MAX_SAFE_INTEGER ? undefined : value;
  const minimum = bound(node.minimum);
  const maximum = bound(node.maximum);
  const range = [
    minimum !== undefined ? `≥ ${minimum}` : undefined,
    node.exclusiveMinimum !== undefined ? `> ${node.exclusiveMinimum}` : undefined,
    maximum !== undefined ? `≤ ${maximum}` : undefined,
  ].filter(Boolean);
  switch (node.type) {
    case 'array':
      return `list of ${node.items ? typeOf(node.items) : 'values'}${node.minItems ? ` (at least ${node.minItems})` : ''}`;
    case 'object':
      if (node.properties) return 'object';
      if (node.additionalProperties && typeof node.additionalProperties === 'object') {
        return `map of name → ${typeOf(node.additionalProperties)}`;
      }
      return 'object';
    case 'integer':
    case 'number':
      return range.length > 0 ? `${node.type} ${range.join(', ')}` : node.type;
    case undefined:
      return 'any';
    default:
      return node.type;
  }
}

function defaultOf(node: JsonSchema): string {
  if (node.default === undefined) return '';
  const value = node.default;
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) return 'see below';
  return `\`${JSON.stringify(value)}\``;
}

const cellText = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

interface Entry {
  readonly path: string;
  readonly node: JsonSchema;
  readonly required: boolean;
}

/** Every key of the schema, depth first, each with its path as a user writes it (`templates.<name>.fields.<field>`). */
function entries(node: JsonSchema, path: string): Entry[] {
  const out: Entry[] = [];
  const objects = node.anyOf ? node.anyOf.filter((branch) => branch.type === 'object') : [node];
  for (const object of objects) {
    if (object.properties) {
      for (const [key, child] of Object.entries(object.properties)) {
        const childPath = path === '' ? key : `${path}.${key}`;
        out.push({ path: childPath, node: child, required: object.required?.includes(key) ?? false });
        out.push(...nested(child, childPath));
      }
    }
  }
  return out;
}

function nested(node: JsonSchema, path: string): Entry[] {
  if (node.type === 'array' && node.items) return entries(node.items, `${path}[]`);
  if (node.type === 'object' && node.properties) return entries(node, path);
  if (node.type === 'object' && node.additionalProperties && typeof node.additionalProperties === 'object') {
    const name = path.endsWith('fields') ? '<field>' : '<name>';
    return entries(node.additionalProperties, `${path}.${name}`);
  }
  return [];
}

function section(title: string, intro: string, rows: readonly Entry[]): string {
  const lines = [
    `## ${title}`,
    '',
    intro,
    '',
    '| Key | Type | Default | Description |',
    '| --- | --- | --- | --- |',
    ...rows.map(
      (row) =>
        `| \`${row.path}\`${row.required ? ' (required)' : ''} | ${cellText(typeOf(row.node))} | ${cellText(defaultOf(row.node))} | ${cellText(row.node.description ?? '')} |`,
    ),
  ];
  return lines.join('\n');
}

const INTRO = `# Job reference

<!-- Generated from shared/job/schema.ts by \`npm run docs:jobs\`: do not edit; edit the schema's descriptions. -->

A job is a TypeScript module exporting \`defineJob({...})\`, or the same structure in a YAML or JSON file, in the
jobs folder (\`jobs/\`, or \`--jobs DIR\` / \`SCRAPELINE_JOBS_DIR\`). Every object is strict: an unknown key is an
error. \`scrapeline validate\` checks every job file and reports every problem of a file at once.

Editors that speak the YAML language server (VS Code with the YAML extension, and others) complete and check a YAML
job against [job.schema.json](job.schema.json), generated from the same schema, when its first line names it
(the path is relative to the job file):

\`\`\`yaml
# yaml-language-server: $schema=../docs/job.schema.json
\`\`\`

The JSON Schema checks keys, types, allowed values, ranges and names. What it cannot express, the loader checks:
that the templates follow rules and start options name exist, that a template's key is one of its fields, that
selectors, regular expressions, URLs and schedules are valid.

How a run uses a job: it fetches the start URLs (depth 0) and sitemaps; every fetched page is extracted with the
template its start option or follow rule names (a page without a template is only crawled for links), and the
follow rules select the links to fetch next, each with its template, up to \`limits.maxDepth\` links away and only
to the allowed hosts. A template makes one item of a page, or one item per match of its \`items\` selector; the
\`key\` field identifies an item across pages and runs. Examples: \`jobs/books.ts\`, \`jobs/toscrape.yaml\`, and the
quotes job of the README (two templates, several items per page).`;

const STRUCTURED_DATA = `## Structured data (JSON-LD, microdata, meta tags)

Most shops and news sites publish what they show for search engines too: JSON-LD blocks
(\`<script type="application/ld+json">\`), microdata (\`itemscope\`/\`itemprop\` attributes) and \`<meta>\` tags
(OpenGraph, Twitter cards). A field reads them with \`from\`:

\`\`\`yaml
templates:
  product:
    key: sku
    fields:
      sku: { from: jsonld, itemType: Product, path: sku, required: true }
      name: { from: jsonld, itemType: Product, path: name }
      brand: { from: jsonld, itemType: Product, path: brand.name }      # a nested node, or a reference {"@id": …}
      price: { from: jsonld, itemType: Product, path: offers.price, type: number }   # the first offer's
      prices: { from: jsonld, itemType: Product, path: offers.price, type: number, many: true }
      inStock: { from: jsonld, itemType: Product, path: offers.availability, pattern: '(InStock|OutOfStock)$',
                 map: { InStock: true, OutOfStock: false } }
      rating: { from: microdata, itemType: AggregateRating, path: ratingValue, type: number }
      image: { from: meta, name: 'og:image', type: url }
      description: { from: meta, name: description }
\`\`\`

- \`jsonld\`: the first node whose \`@type\` (one type or a list) is \`itemType\`, in the page's blocks in document
  order, nested nodes and \`@graph\` included; \`Product\`, \`schema:Product\` and \`https://schema.org/Product\` are
  the same type. \`path\` is property names separated by dots; each step reads every value of a property, so
  \`offers.price\` reads an offer or a list of offers. A block that is not valid JSON is skipped: a field that finds
  no value then has a problem naming the block and the JSON error (the item is quarantined, nothing is lost
  silently); blocks wrapped in \`<!-- … -->\` or CDATA are read.
- \`microdata\`: the first item (\`itemscope\`) of \`itemtype\` \`itemType\` inside the item root (the page, or each
  match of \`items\`: one item per product of a listing); nested items are nodes of their own. Values follow the
  HTML standard: \`content\` of \`meta\`, the resolved \`href\`/\`src\` of links and media, \`datetime\` of \`time\`,
  \`value\` of \`data\`, else the text. \`itemref\` is not followed.
- \`meta\`: the \`content\` of the \`<meta>\` tags whose \`property\` or \`name\` is \`name\` (any case); with
  \`many: true\` every such tag (\`og:image\` is often repeated).

JSON-LD and meta tags belong to the page: with \`items\`, every item reads the same values. Numbers and booleans
of JSON-LD stay numbers and booleans for \`type: number\`, \`integer\` and \`boolean\` (as text for \`string\`,
\`pattern\` and \`map\`); strings go through \`trim\`, \`pattern\`, \`map\` and \`type\` like text; a path that ends
at a node rather than a value is a problem naming the node's properties.

A field can read several places in turn: \`fallback\` lists sources (\`from\` with its keys, or a \`selector\`) read
in order when the ones before give no value; the field's other keys type and clean whichever value is found:

\`\`\`yaml
sku: { from: jsonld, itemType: Product, path: sku,
       fallback: [{ from: microdata, itemType: Product, path: sku }, { selector: '.sku' }] }
\`\`\`

Ready-made templates: \`preset: Product\` and \`preset: Article\` read schema.org items from whichever of JSON-LD,
microdata and OpenGraph/meta tags a page has (the fields are listed under \`templates.<name>.preset\` above; Article
also matches NewsArticle, BlogPosting, Report, ScholarlyArticle and TechArticle nodes). The key is \`url\` unless
the template names another; \`fields\` add fields or replace preset fields by name:

\`\`\`yaml
templates:
  product: { preset: Product }
  article: { preset: Article, key: headline, fields: { body: div.article-body } }
\`\`\``;

const JSON_APIS = `## JSON APIs

A template whose fields read \`from: json\` reads JSON bodies with JMESPath queries (https://jmespath.org); its
\`items\` is a query giving the list of items of a response. Follow rules read URLs from JSON values (\`query\`)
or count pages (\`pageCounter\`):

\`\`\`yaml
start: { urls: ['https://api.shop.example/products?page=1'], template: product }
follow:
  - { pageCounter: { param: page, untilEmpty: products }, template: product }   # ?page=2, 3, … until [] or missing
  # or, for an API that links its next page: - { query: links.next, template: product }
templates:
  product:
    items: products                          # one item per element
    key: sku
    fields:
      sku: { from: json, query: sku, required: true }
      price: { from: json, query: price.amount, type: number }
      tags: { from: json, query: 'tags[*].name', many: true }
      url: { from: json, query: links.self, type: url }
\`\`\`

- The Content-Type decides how a page is read: \`application/json\` and \`+json\` types are JSON, others HTML. A
  template's \`format: json\` reads its pages as JSON whatever they are labelled (an API answering \`text/plain\`),
  \`format: html\` the reverse. A job that reads no JSON refuses JSON bodies as before (\`content-type\`).
- A query gives a value, a list (the first element for a single field, every element with \`many\`) or null (no
  value). Strings go through \`trim\`, \`pattern\`, \`map\` and \`type\`; numbers and booleans stay typed; an object is
  a problem naming its properties. A query that fails on a value (a function given the wrong type) is a problem.
- A JSON page that is not valid JSON fails (\`invalid-json\`); a JSON page for an HTML template, or an HTML page for a
  JSON template, fails (\`format-mismatch\`). Queries are checked when the job is validated.
- \`pageCounter\`: the next page is the page's URL with \`param\` plus \`step\` (from \`start\` when the URL has none),
  followed while \`untilEmpty\` gives a non-empty list. \`query\` follows the strings (or lists of strings) it gives,
  resolved against the page; \`pattern\` filters both. Selector rules apply to HTML pages only, query and counter
  rules to JSON pages only.
- With request options (\`fetch.request\`), a GraphQL or search endpoint is a POST with a JSON body.`;

const REQUESTS = `## Request options

Every page request of a job may carry headers, cookies, query parameters, another method and a body
(\`fetch.request\`); a follow rule's \`request\` changes them for the pages it leads to:

\`\`\`yaml
start: { urls: ['https://shop.example/search'], template: results }
fetch:
  request:
    form: { q: lamps, sort: price }          # a search form: POST, application/x-www-form-urlencoded
    idempotent: true                         # a search changes nothing: a failed one may be sent again
    headers: { Accept-Language: en-GB }
    cookies: { consent: 'yes' }
follow:
  - selector: a.product
    template: product
    request: { method: GET, query: { currency: EUR }, headers: { X-Requested-With: scrapeline } }
\`\`\`

- The product pages above are fetched with \`GET\`, \`?currency=EUR\`, the job's \`Accept-Language\` and cookie, and
  the rule's header. Headers (by name, in any case), cookies and query parameters merge; method, body and
  \`idempotent\` are the rule's when it sets a method or a body, else the job's.
- \`json: { query: "{ products { sku } }" }\` sends a JSON body (GraphQL); a body means \`POST\` unless \`method\` says
  \`PUT\`, \`PATCH\` or \`DELETE\`; a \`GET\` with a body is an error.
- A request other than \`GET\` is sent once: \`fetch.retries\` applies to it only with \`idempotent: true\`. (A message
  the queue delivers again after a crash may still send it again: delivery is at least once.)
- Headers and cookies go to the URL's origin only: a redirect to another origin drops them. A 301, 302 or 303 answer
  to a request with a body is followed with a \`GET\` without it; 307 and 308 keep both.
- A URL is accepted into a run once, with its template, whichever rule found it: the options of a page come from
  its template (start pages: the job's only), so rules leading to one template must agree. The URL as linked stays
  the page's identity; query parameters show in what was fetched (\`_url\`, \`from: url\`).
- robots.txt and sitemaps are fetched plainly; robots.txt rules judge a page's URL with the query parameters, as it
  is fetched. \`scrapeline extract --url\` sends the options of the template it previews, with the job's secrets
  (read from the local sources), proxies and login session (a login made for the preview, kept nowhere).`;

const SECRETS = `## Secrets

A header, a cookie, a proxy URL or a login field may name a secret instead of holding a literal:

\`\`\`yaml
fetch:
  request:
    headers: { Authorization: { secret: shop/api-token } }          # the whole value: "Bearer …"
    cookies: { session: { secret: shop/login, key: cookie } }       # a property of a JSON secret
\`\`\`

- On AWS, \`{ secret: name }\` is a Secrets Manager secret and \`{ secret: name, store: ssm }\` an SSM parameter
  (SecureStrings are decrypted). \`cdk deploy\` grants the fetcher \`GetSecretValue\` / \`GetParameter\` on exactly
  the secrets the jobs name, and no other function any; the secrets are yours to create (\`aws secretsmanager
  create-secret --name shop/api-token --secret-string "Bearer …"\`). A parameter encrypted with a KMS key of its
  own also needs \`kms:Decrypt\` on that key.
- Locally, \`shop/api-token\` is the environment variable \`SCRAPELINE_SECRET_SHOP_API_TOKEN\` (upper case, every
  other character \`_\`), else the entry \`"shop/api-token"\` of the secrets file, a JSON object of secrets by name
  (\`SCRAPELINE_SECRETS_FILE\`, default \`.scrapeline/secrets.json\`): \`{ "shop/login": { "cookie": "…" } }\`.
- With \`key\`, the secret's value is a JSON object and the property \`key\` is read (Secrets Manager keeps
  credentials so).
- Values are read when the job runs, by the fetcher only, kept in memory for 5 minutes (a rotated secret is used
  from then on), and never written: logs and the messages of errors show \`[redacted]\` in their place, WARC
  request records show \`Authorization\`, \`Cookie\`, \`Proxy-Authorization\` and every header holding a secret as
  \`[redacted]\`, and \`scrapeline validate\` does not read them. A secret that cannot be read fails the pages that
  need it (\`secret-not-found\`, \`secret-denied\`, \`secret-invalid\`), before anything is requested;
  throttling is retried.
- What a site sends back is the site's: a page that echoes a credential is archived as it came.`;

const PROXIES = `## Proxies

\`fetch.proxy\` sends every request of a job (pages, robots.txt, sitemaps, the login) through HTTP(S) forward
proxies, tunnelling with \`CONNECT\` (undici's \`ProxyAgent\`):

\`\`\`yaml
fetch:
  proxy:
    urls:
      - http://proxy-a.example:8080
      - { secret: shop/proxy-b }          # "http://user:password@proxy-b.example:8080", credentials kept secret
    rotate: request                       # or session: the whole run through one proxy
\`\`\`

- \`rotate: request\` takes the next proxy for every request (round robin in each fetcher); \`rotate: session\` pins
  a run, its login included, to the proxy its run id picks, so that a site sees one address per session.
- A proxy that cannot be reached, answers \`CONNECT\` with another status or refuses the credentials (407) is left
  for the next one within the same attempt: the request had not reached the site. When every proxy fails, the
  page's attempt fails \`proxy-down\` (all down: retried), \`proxy-tunnel\` (a proxy answered but could not open
  the tunnel, often the site being down: retried) or \`proxy-auth\` (every proxy refused the credentials: not
  retried). What the site answers through the tunnel (a 500, a timeout) is the site's, as without a proxy.
- The SSRF guard judges the target's addresses before the proxy is asked for it, and the proxy's address when
  connecting to it: a proxy at a private address needs \`--allow-address\` (\`FETCH_ALLOW_ADDRESSES\` on AWS) like
  a site would. A proxy that resolves the target's name otherwise than the fetcher is not seen by the guard.
- A literal proxy URL cannot hold credentials: put the whole URL in a secret. The proxies' addresses appear in
  failure messages without credentials.`;

const SESSIONS = `## Logins and sessions

\`session\` logs in before the crawl and sends the login's cookies with every page request of the run to the
login page's host:

\`\`\`yaml
session:
  login:
    url: https://shop.example/login
    form: login                                   # the form's id or name; default: the one with a password field
    fields:
      username: crawler
      password: { secret: shop/login, key: password }
  success: { cookie: sid, pattern: 'Log out' }    # all must hold after the login
  loggedOut: { urlPattern: '/login', status: [401] }   # any: the session is gone
\`\`\`

- The login page is fetched with \`GET\`; its form is submitted as a browser would (its hidden fields, such as a
  CSRF token, checked boxes and selected options, with \`fields\` set over them) to its \`action\` with its
  \`method\`; redirects are followed with the cookies each answer sets. \`success\` is checked on where that ends.
- The first fetcher that needs the session logs in; the others wait for it and take its cookies from the state store
  (one login per run however many fetchers). A page that shows \`loggedOut\` (after redirects: a redirect to the
  login page is matched by \`urlPattern\`) has the session refreshed (again one login for the fleet) and is fetched
  again, a few times at most; then it fails \`logged-out\`.
- A login that does not succeed, a login page that is not found or has no such form, or a robots.txt that disallows
  the login fails every page of the run with reason \`login-failed\` and the cause, before any page is requested:
  the run ends \`failed\`. A login that meets a network error or a 5xx is retried (\`fetch.retries\`).
- robots.txt is asked about the login page and the form's action, and the login's requests take the host's
  politeness slots and delays like pages; they go through the job's proxies (\`rotate: session\` keeps the run on
  one). Credentials belong in secrets; the session's cookies are kept in the state store for the run, and logs and
  WARC request records show them \`[redacted]\`.`;

const CODE_EXTRACTORS = `## Code extractors (TypeScript jobs)

A template may have \`extractor: (page) => items\` instead of selectors in its fields (a YAML or JSON job cannot:
a function is code). The items it returns (plain objects, or a promise of them) are typed and validated by the
template's \`fields\` like declarative items: every field named there is converted to its \`type\`, \`required\`
and \`default\` apply, and \`key\` must be one of them. \`page\` has:

| Property | What |
| --- | --- |
| \`url\` | the URL that was requested |
| \`finalUrl\` | the URL after redirects |
| \`$\` | the cheerio API loaded with the page (\`page.$('h1').text()\`) |
| \`template\` | the name of the template the page was fetched for |
| \`resolve(href)\` | an absolute URL for a (relative) link, against the page's \`<base href>\` or \`finalUrl\`; \`undefined\` when it is not an http(s) URL |

\`\`\`ts
import { defineJob } from '../shared/job/define.js';   // outside this repository: 'scrapeline/shared/job/define.js'

export default defineJob({
  name: 'shop',
  start: { urls: ['https://shop.example/'], template: 'product' },
  templates: {
    product: {
      key: 'sku',
      fields: { sku: { selector: '.sku', required: true }, price: { selector: '.price', type: 'number' } },
      extractor: (page) =>
        page.$('.product').toArray().map((element) => ({
          sku: page.$(element).attr('data-sku'),
          price: page.$(element).find('.price').text(),
        })),
    },
  },
});
\`\`\``;

/** The reference, as checked in at docs/jobs.md. */
export function renderJobReference(): string {
  const schema = jobJsonSchema() as JsonSchema;
  const all = entries(schema, '');
  const top = (key: string) =>
    all.filter((entry) => entry.path === key || entry.path.startsWith(`${key}.`) || entry.path.startsWith(`${key}[]`));
  const describe = (key: string) => schema.properties?.[key]?.description ?? '';
  const parts = [
    INTRO,
    section(
      'Job',
      'The top-level keys.',
      all.filter((entry) => !entry.path.includes('.') && !entry.path.includes('[')),
    ),
    ...['start', 'follow', 'templates', 'limits', 'politeness', 'fetch', 'session', 'quality'].map((key) =>
      section(
        `\`${key}\``,
        describe(key),
        top(key).filter((entry) => entry.path !== key),
      ),
    ),
    `## Fields

A field is a CSS selector string (\`title: h1\`: the trimmed text of the first match, a string) or an object
(\`templates.<name>.fields.<field>\` above). The value is read from the first match inside the item (\`many: true\`:
every match, a list), by \`extract\`; then \`trim\`, \`pattern\` (the first capture group, or the whole match),
\`map\`, and the \`type\` conversion apply in that order. Types: \`string\`; \`number\` and \`integer\` (the first
number in the text: "£1,234.56" is 1234.56; \`decimal: ","\` for "1.234,56"); \`boolean\` (true, yes, y, 1, on, in stock,
available; false, no, n, 0, off, out of stock, unavailable, sold out; other text is a problem; with
\`extract: exists\`, whether the selector matched); \`url\` (absolute, resolved against the
page); \`date\` (ISO dates, "March 5, 2019", "5 March 2019"; never the machine's time zone). A field with no value
is left out of the item, or set to its \`default\`; an item whose key or a \`required\` field is missing is invalid
(quarantined).`,
    STRUCTURED_DATA,
    JSON_APIS,
    REQUESTS,
    SECRETS,
    PROXIES,
    SESSIONS,
    CODE_EXTRACTORS,
  ];
  return `${parts.join('\n\n')}\n`;
}
