import { load } from 'cheerio/slim';
import type { Document, Element } from 'domhandler';
import { describeError, NonRetryableError } from '../errors.js';
import { isJsonContentType, readsJson } from '../job/formats.js';
import type { FieldSpec, FollowRule, Job, PageContext, Template } from '../job/schema.js';
import { hostOf, normaliseUrl } from '../url.js';
import { htmlOf, parseHtml, queryAll, queryOne, textOf } from './dom.js';
import { runQuery } from './json.js';
import { findMicrodata, hasType, type JsonLd, readJsonLd, readMetaTags, valuesAt } from './structured.js';
import { collapseWhitespace, convertText, convertValue, resolveHttpUrl } from './values.js';

/** A problem with one field of one item. */
export interface FieldProblem {
  readonly field: string;
  readonly message: string;
}

/** One item as extracted: typed values plus the problems that make it invalid, if any. */
export interface ExtractedItem {
  /** The item key as a string (`undefined` when the key field is missing: then the item is invalid). */
  readonly key: string | undefined;
  readonly data: Record<string, unknown>;
  readonly problems: readonly FieldProblem[];
}

/** A link to follow, normalised, with the template of the page it leads to. */
export interface DiscoveredLink {
  readonly url: string;
  readonly template: string | undefined;
}

/** What one page yielded. */
export interface PageExtraction {
  readonly items: ExtractedItem[];
  readonly links: DiscoveredLink[];
  /** Distinct links past `limits.maxLinksPerPage`, not followed (absent when none). */
  readonly linksDropped?: number;
}

/** Where the page came from and how its links are scoped. */
export interface PageSource {
  readonly url: string;
  readonly finalUrl: string;
  /** Template the page was fetched for; `undefined` for pages crawled only for links. */
  readonly template: string | undefined;
  /** Hosts links may lead to. */
  readonly hosts: readonly string[];
  /** The response's Content-Type: JSON types are read as JSON unless the template's `format` says otherwise. */
  readonly contentType?: string | undefined;
}

/** A page whose kind (HTML or JSON) is not what its template reads, or a JSON page that is not JSON. */
export class DocumentFormatError extends NonRetryableError {
  override readonly name = 'DocumentFormatError';
  constructor(message: string, reason: 'format-mismatch' | 'invalid-json', cause?: unknown) {
    super(message, reason, cause);
  }
}

/** A value of a JSON document: an item root of a JSON template (the document, or one result of `items`). */
class JsonRoot {
  constructor(readonly value: unknown) {}
}

/** The page could not be extracted (an extractor threw, or returned something that is not a list of items). */
export class ExtractionError extends NonRetryableError {
  override readonly name = 'ExtractionError';
  constructor(message: string, cause?: unknown) {
    super(message, 'extractor-error', cause);
  }
}

function readMatch(element: Element, field: FieldSpec): string | undefined {
  switch (field.extract) {
    case 'text':
      return textOf(element);
    case 'html':
      return htmlOf(element);
    case 'attr':
      return element.attribs[field.attr ?? ''];
    case 'exists':
      return undefined;
  }
}

/** No value: nothing matched, empty text, `null` from a code extractor, or an empty list. */
function isEmpty(value: unknown): boolean {
  return value === undefined || value === null || value === '' || (Array.isArray(value) && value.length === 0);
}

/** Applies a field's pattern and trimming to raw text; `undefined` means "no value". */
function cleanText(raw: string | undefined, field: FieldSpec, pattern: RegExp | undefined): string | undefined {
  if (raw === undefined) return undefined;
  let text = field.trim ? collapseWhitespace(raw) : raw;
  if (pattern) {
    const match = pattern.exec(text);
    if (!match) return undefined;
    text = match[1] ?? match[0];
  }
  return text === '' ? undefined : text;
}

/** Where a field's text goes: URLs resolve against `base` (the page's `<base href>`, else its final URL). */
interface FieldContext {
  readonly page: PageSource;
  readonly base: string;
  readonly patterns: Map<string, RegExp>;
  /** The page's structured data, read once per page when a field first asks for it. */
  readonly structured: PageStructuredData;
}

/** The page-wide structured data (JSON-LD, `<meta>` tags), read on first use. */
class PageStructuredData {
  readonly #document: Document;
  #jsonLd: JsonLd | undefined;
  #meta: ReadonlyMap<string, readonly string[]> | undefined;

  constructor(document: Document) {
    this.#document = document;
  }

  get jsonLd(): JsonLd {
    this.#jsonLd ??= readJsonLd(this.#document);
    return this.#jsonLd;
  }

  get meta(): ReadonlyMap<string, readonly string[]> {
    this.#meta ??= readMetaTags(this.#document);
    return this.#meta;
  }
}

/** Describes an object found where a value was expected: the properties the path could go on with. */
function objectProblem(path: string, value: Record<string, unknown>): string {
  const keys = Object.keys(value).filter((key) => key !== '@context');
  const shown = keys.slice(0, 8).join(', ') + (keys.length > 8 ? ', …' : '');
  return `"${path}" is an object (${shown || 'empty'}), not a value: extend the path, e.g. "${path}.${keys.find((key) => !key.startsWith('@')) ?? keys[0] ?? 'name'}"`;
}

/**
 * The raw values of a structured-data field (`jsonld`, `microdata`, `meta`): strings, numbers, booleans or
 * objects, in document order; a problem explains why there are none when the page's JSON-LD could not be read.
 */
function structuredValues(
  root: Document | Element | JsonRoot,
  field: FieldSpec,
  context: FieldContext,
): { values: unknown[]; problem?: string } {
  const path = field.path ?? '';
  switch (field.from) {
    case 'jsonld': {
      const { nodes, byId, problems } = context.structured.jsonLd;
      const node = nodes.find((one) => hasType(one, field.itemType ?? ''));
      const values = node === undefined ? [] : valuesAt(node, path, byId);
      // A value may have been in the block that could not be read: say so rather than report it missing.
      if (values.length === 0 && problems.length > 0) {
        const missing = node === undefined ? `no ${field.itemType} node` : `no "${path}" in the ${field.itemType} node`;
        return { values, problem: `${missing}; ${problems.join('; ')}` };
      }
      return { values };
    }
    case 'microdata': {
      if (root instanceof JsonRoot) return { values: [] };
      const node = findMicrodata(root, field.itemType ?? '', context.base);
      return { values: node === undefined ? [] : valuesAt(node, path, new Map()) };
    }
    case 'meta':
      return { values: [...(context.structured.meta.get((field.name ?? '').toLowerCase()) ?? [])] };
    case 'json': {
      if (!(root instanceof JsonRoot)) return { values: [] };
      const result = runQuery(field.query ?? '', root.value);
      if (!result.ok) return { values: [], problem: result.message };
      const found = Array.isArray(result.value) ? result.value : [result.value];
      return { values: found.filter((value) => value !== null && value !== undefined) };
    }
    default:
      return { values: [] };
  }
}

/**
 * A field's value: read from its own source, then from each fallback in turn until one gives a value. The problems
 * of sources that gave no value are kept only when none does (a malformed JSON-LD block is no problem when the
 * microdata had the value).
 */
function extractField(
  root: Document | Element | JsonRoot,
  name: string,
  field: FieldSpec,
  context: FieldContext,
  problems: FieldProblem[],
): unknown {
  if (field.fallback === undefined) return readSource(root, name, field, context, problems);
  const held: FieldProblem[] = [];
  const sources = [
    field,
    ...field.fallback.map((source) => ({
      ...field,
      from: source.from,
      selector: source.selector,
      extract: source.extract,
      attr: source.attr,
      itemType: source.itemType,
      path: source.path,
      name: source.name,
    })),
  ];
  for (const source of sources) {
    const own: FieldProblem[] = [];
    const value = readSource(root, name, source, context, own);
    if (!isEmpty(value)) {
      problems.push(...own);
      return value;
    }
    held.push(...own);
  }
  problems.push(...held);
  return field.many ? [] : undefined;
}

/** Reads a field from one source, the field's own or a fallback's. */
function readSource(
  root: Document | Element | JsonRoot,
  name: string,
  field: FieldSpec,
  context: FieldContext,
  problems: FieldProblem[],
): unknown {
  const pattern = field.pattern === undefined ? undefined : context.patterns.get(field.pattern);
  // Every text, from a match or the URL, goes through the same steps: trim, pattern, map, type.
  const fromText = (raw: string | undefined): unknown => {
    const text = cleanText(raw, field, pattern);
    if (text === undefined) return undefined;
    let converted: ReturnType<typeof convertText>;
    if (field.map) {
      converted = Object.hasOwn(field.map, text)
        ? convertValue(field.map[text], field, context.base)
        : { ok: false, message: `no entry in map for ${JSON.stringify(text.slice(0, 60))}` };
    } else {
      converted = convertText(text, field, context.base);
    }
    if (!converted.ok) {
      problems.push({ field: name, message: converted.message });
      return undefined;
    }
    return converted.value;
  };
  // The URL after redirects: where the item lives, the same URL its row's `_url` names.
  if (field.from === 'url') return fromText(context.page.finalUrl);
  if (field.from !== 'selector') {
    const { values, problem } = structuredValues(root, field, context);
    if (problem !== undefined) problems.push({ field: name, message: problem });
    // Structured data holds typed values: numbers and booleans are kept unless text rules (pattern, map) apply.
    const fromValue = (value: unknown): unknown => {
      if (typeof value === 'string') return fromText(value);
      if (typeof value === 'number' || typeof value === 'boolean') {
        if (field.type === 'string' || field.pattern !== undefined || field.map !== undefined) return fromText(String(value));
        const converted = convertValue(value, field, context.base);
        if (converted.ok) return converted.value;
        problems.push({ field: name, message: converted.message });
        return undefined;
      }
      problems.push({
        field: name,
        message: objectProblem(field.path ?? field.query ?? field.name ?? '', value as Record<string, unknown>),
      });
      return undefined;
    };
    if (field.many) return values.map(fromValue).filter((value) => value !== undefined);
    return values.length === 0 ? undefined : fromValue(values[0]);
  }
  // A selector on a JSON value: the job model keeps HTML fields out of JSON templates.
  if (root instanceof JsonRoot) return undefined;
  const selector = field.selector ?? '';
  if (field.many) {
    const values: unknown[] = [];
    for (const element of queryAll(selector, root)) {
      const value = fromText(readMatch(element, field));
      if (value !== undefined) values.push(value);
    }
    return values;
  }
  const match = queryOne(selector, root);
  if (field.extract === 'exists') return match !== null;
  return match === null ? undefined : fromText(readMatch(match, field));
}

function finishItem(template: Template, data: Record<string, unknown>, problems: FieldProblem[]): ExtractedItem {
  for (const [name, field] of Object.entries(template.fields)) {
    if (isEmpty(data[name]) && field.default !== undefined) data[name] = field.default;
    if (isEmpty(data[name])) {
      if (field.required || name === template.key) problems.push({ field: name, message: 'required field is missing' });
      // A list field that matched nothing is an empty list, not a missing value.
      if (!(field.many && Array.isArray(data[name]))) delete data[name];
    }
  }
  const keyValue = data[template.key];
  const key = keyValue === undefined || keyValue === null ? undefined : String(keyValue);
  return { key, data, problems };
}

function compilePatterns(template: Template): Map<string, RegExp> {
  const patterns = new Map<string, RegExp>();
  for (const field of Object.values(template.fields)) {
    if (field.pattern !== undefined && !patterns.has(field.pattern)) patterns.set(field.pattern, new RegExp(field.pattern));
  }
  return patterns;
}

function declarativeItems(document: Document, template: Template, page: PageSource, base: string): ExtractedItem[] {
  const context: FieldContext = {
    page,
    base,
    patterns: compilePatterns(template),
    structured: new PageStructuredData(document),
  };
  const roots: (Document | Element)[] = template.items === undefined ? [document] : queryAll(template.items, document);
  return roots.map((root) => {
    const problems: FieldProblem[] = [];
    const data: Record<string, unknown> = {};
    for (const [name, field] of Object.entries(template.fields)) {
      data[name] = extractField(root, name, field, context, problems);
    }
    return finishItem(template, data, problems);
  });
}

/**
 * One white-space rule for both ways of extracting: a string a code extractor returns for a declared field is
 * collapsed and trimmed exactly like the text a declarative field reads ({@link collapseWhitespace}, when the
 * field's `trim` is on, its default), before it is typed; so are the strings of an array (a `many` field). A
 * string left empty counts as no value, as an empty match does: missing for a single value, dropped from a list.
 * Values of other types, and keys the template does not declare, are kept as returned.
 */
function normaliseCodeValue(value: unknown, field: FieldSpec): unknown {
  if (!field.trim) return value;
  if (typeof value === 'string') {
    const text = collapseWhitespace(value);
    return text === '' ? undefined : text;
  }
  if (Array.isArray(value)) {
    const values: unknown[] = [];
    for (const one of value) {
      const normalised = typeof one === 'string' ? collapseWhitespace(one) : one;
      if (normalised !== '') values.push(normalised);
    }
    return values;
  }
  return value;
}

async function codeItems(
  document: Document,
  template: Template,
  templateName: string,
  page: PageSource,
  base: string,
): Promise<ExtractedItem[]> {
  const extractor = template.extractor;
  if (!extractor) return [];
  const context: PageContext = {
    url: page.url,
    finalUrl: page.finalUrl,
    // Built only for code extractors: declarative templates query the DOM directly.
    $: load(document, { baseURI: page.finalUrl }),
    template: templateName,
    resolve: (href) => resolveHttpUrl(href, base),
  };
  let output: unknown;
  try {
    output = await extractor(context);
  } catch (error) {
    throw new ExtractionError(`extractor of template "${templateName}" threw: ${describeError(error)}`, error);
  }
  if (!Array.isArray(output)) {
    throw new ExtractionError(`extractor of template "${templateName}" returned ${typeof output}, expected an array of items`);
  }
  return output.map((raw, index) => {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
      throw new ExtractionError(`extractor of template "${templateName}" returned a non-object item at index ${index}`);
    }
    const problems: FieldProblem[] = [];
    const data: Record<string, unknown> = { ...(raw as Record<string, unknown>) };
    for (const [name, field] of Object.entries(template.fields)) {
      const value = normaliseCodeValue(data[name], field);
      data[name] = value;
      if (value === undefined || value === null || value === '') continue;
      const values = Array.isArray(value) ? value : [value];
      const converted = values.map((one) => convertValue(one, field, base));
      const failed = converted.find((result) => !result.ok);
      if (failed && !failed.ok) {
        problems.push({ field: name, message: failed.message });
        delete data[name];
      } else {
        const typed = converted.map((result) => (result.ok ? result.value : undefined));
        data[name] = Array.isArray(value) ? typed : typed[0];
      }
    }
    return finishItem(template, data, problems);
  });
}

function linkElements(document: Document, selector: string | undefined): Element[] {
  if (selector === undefined) return queryAll('a[href]', document);
  const out: Element[] = [];
  for (const element of queryAll(selector, document)) {
    if ((element.name === 'a' || element.name === 'area') && element.attribs.href !== undefined) out.push(element);
    else out.push(...queryAll('a[href]', element));
  }
  return out;
}

function ruleApplies(rule: FollowRule, template: string | undefined): boolean {
  return rule.from === undefined || rule.from.includes(template ?? 'start');
}

/**
 * The links a page's follow rules select, each once in the order found, only to the job's hosts: the first
 * `limits.maxLinksPerPage` are kept, the distinct ones past them counted.
 */
class LinkCollector {
  readonly #seen = new Map<string, DiscoveredLink>();
  readonly #dropped = new Set<string>();
  readonly #limit: number;
  readonly #hosts: readonly string[];

  constructor(job: Job, page: PageSource) {
    this.#limit = job.limits.maxLinksPerPage;
    this.#hosts = page.hosts;
  }

  /** Offers `href` (resolved against `base`) as selected by `rule`, whose `pattern` it must match. */
  offer(href: string, base: string, rule: FollowRule, pattern: RegExp | undefined): void {
    const normalised = normaliseUrl(href, base);
    if (!normalised.ok || this.#seen.has(normalised.url)) return;
    if (pattern && !pattern.test(normalised.url)) return;
    if (!this.#hosts.includes(hostOf(normalised.url))) return;
    if (this.#seen.size < this.#limit) this.#seen.set(normalised.url, { url: normalised.url, template: rule.template });
    else this.#dropped.add(normalised.url);
  }

  /** The links kept, and how many were dropped past the limit. */
  result(): { links: DiscoveredLink[]; dropped: number } {
    return { links: [...this.#seen.values()], dropped: this.#dropped.size };
  }
}

function discoverLinks(
  document: Document,
  job: Job,
  page: PageSource,
  base: string,
): { links: DiscoveredLink[]; dropped: number } {
  const collector = new LinkCollector(job, page);
  for (const rule of job.follow) {
    // Rules reading JSON values apply to JSON pages only.
    if (!ruleApplies(rule, page.template) || rule.query !== undefined || rule.pageCounter !== undefined) continue;
    const pattern = rule.pattern === undefined ? undefined : new RegExp(rule.pattern);
    for (const element of linkElements(document, rule.selector)) {
      const href = element.attribs.href;
      if (href !== undefined) collector.offer(href, base, rule, pattern);
    }
  }
  return collector.result();
}

/** The base URL for relative links: `<base href>` when present and valid, else the final URL. */
function baseUrl(document: Document, finalUrl: string): string {
  const href = queryOne('base[href]', document)?.attribs.href;
  return href === undefined ? finalUrl : (resolveHttpUrl(href, finalUrl) ?? finalUrl);
}

/**
 * Extracts the items of a page with its template (declarative fields, or the template's code extractor) and
 * the links its follow rules select. Pure: no I/O. Links and url-typed values resolve against one base: the
 * page's `<base href>`, else its final URL; `from: 'url'` fields read the final URL (after redirects). Strings
 * of code extractors are normalised like declarative text (see {@link normaliseCodeValue}).
 *
 * @throws {ExtractionError} when a code extractor throws or returns something other than items
 * @throws {UnparseablePageError} when the page is nested too deeply to parse
 */
export async function extractPage(html: string, job: Job, page: PageSource): Promise<PageExtraction> {
  const template = page.template === undefined ? undefined : job.templates[page.template];
  const json = (template?.format ?? (isJsonContentType(page.contentType) ? 'json' : 'html')) === 'json';
  if (json) return extractJsonPage(html, job, page, template);
  if (template && readsJson(template)) {
    throw new DocumentFormatError(
      `template "${page.template}" reads JSON, but ${page.url} is ${page.contentType ?? 'HTML'}: set format: json on the template to read it as JSON whatever its Content-Type`,
      'format-mismatch',
    );
  }
  return extractHtmlPage(html, job, page);
}

/** A JSON page: items by the template's JMESPath queries, links by the follow rules' queries and page counters. */
function extractJsonPage(text: string, job: Job, page: PageSource, template: Template | undefined): PageExtraction {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new DocumentFormatError(`${page.url} is not valid JSON: ${(error as Error).message}`, 'invalid-json', error);
  }
  let items: ExtractedItem[] = [];
  if (template) {
    const html = Object.values(template.fields).some((field) =>
      [field, ...(field.fallback ?? [])].some((source) => source.from !== 'json' && source.from !== 'url'),
    );
    if (html || template.extractor) {
      throw new DocumentFormatError(
        `template "${page.template}" reads HTML, but ${page.url} is JSON (${page.contentType ?? 'format: json'}): read it with from: json fields, or set format: html on the template`,
        'format-mismatch',
      );
    }
    items = jsonItems(document, template, page);
  }
  const { links, dropped } = discoverJsonLinks(document, job, page);
  return dropped > 0 ? { items, links, linksDropped: dropped } : { items, links };
}

function jsonItems(document: unknown, template: Template, page: PageSource): ExtractedItem[] {
  const context: FieldContext = {
    page,
    base: page.finalUrl,
    patterns: compilePatterns(template),
    structured: new PageStructuredData(parseHtml('')),
  };
  let roots: unknown[] = [document];
  if (template.items !== undefined) {
    const result = runQuery(template.items, document);
    if (!result.ok) throw new DocumentFormatError(`${page.url}: items: ${result.message}`, 'format-mismatch');
    if (result.value !== null && !Array.isArray(result.value)) {
      throw new DocumentFormatError(
        `${page.url}: items query ${JSON.stringify(template.items)} gave ${typeof result.value}, not a list`,
        'format-mismatch',
      );
    }
    roots = (result.value ?? []) as unknown[];
  }
  return roots.map((value) => {
    const problems: FieldProblem[] = [];
    const data: Record<string, unknown> = {};
    const root = new JsonRoot(value);
    for (const [name, field] of Object.entries(template.fields)) data[name] = extractField(root, name, field, context, problems);
    return finishItem(template, data, problems);
  });
}

/** The URLs a JSON follow rule selects: strings (or lists of strings) its query gives, or the page counter's next page. */
function jsonRuleUrls(document: unknown, rule: FollowRule, page: PageSource): string[] {
  if (rule.query !== undefined) {
    const result = runQuery(rule.query, document);
    if (!result.ok) throw new DocumentFormatError(`${page.url}: follow: ${result.message}`, 'format-mismatch');
    const values = Array.isArray(result.value) ? result.value.flat() : [result.value];
    return values.filter((value): value is string => typeof value === 'string');
  }
  if (rule.pageCounter !== undefined) {
    const { param, start, step, untilEmpty } = rule.pageCounter;
    const list = runQuery(untilEmpty, document);
    if (!list.ok) throw new DocumentFormatError(`${page.url}: pageCounter: ${list.message}`, 'format-mismatch');
    // The last page is the first whose list is empty (or missing).
    if (!Array.isArray(list.value) || list.value.length === 0) return [];
    const next = new URL(page.url);
    const current = Number(next.searchParams.get(param) ?? Number.NaN);
    next.searchParams.set(param, String((Number.isInteger(current) ? current : start) + step));
    return [next.href];
  }
  return [];
}

function discoverJsonLinks(document: unknown, job: Job, page: PageSource): { links: DiscoveredLink[]; dropped: number } {
  const collector = new LinkCollector(job, page);
  for (const rule of job.follow) {
    if (!ruleApplies(rule, page.template) || (rule.query === undefined && rule.pageCounter === undefined)) continue;
    const pattern = rule.pattern === undefined ? undefined : new RegExp(rule.pattern);
    for (const href of jsonRuleUrls(document, rule, page)) collector.offer(href, page.finalUrl, rule, pattern);
  }
  return collector.result();
}

async function extractHtmlPage(html: string, job: Job, page: PageSource): Promise<PageExtraction> {
  const document = parseHtml(html);
  const base = baseUrl(document, page.finalUrl);
  const template = page.template === undefined ? undefined : job.templates[page.template];
  let items: ExtractedItem[] = [];
  if (template && page.template !== undefined) {
    items = template.extractor
      ? await codeItems(document, template, page.template, page, base)
      : declarativeItems(document, template, page, base);
  }
  const { links, dropped } = discoverLinks(document, job, page, base);
  return dropped > 0 ? { items, links, linksDropped: dropped } : { items, links };
}
