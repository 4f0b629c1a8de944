import type { AnyNode, Document, Element } from 'domhandler';
import { queryAll, textOf } from './dom.js';
import { resolveHttpUrl } from './values.js';

/**
 * The structured data a page publishes for machines: JSON-LD blocks, microdata items and `<meta>` tags. JSON-LD and
 * microdata are read into one shape, nodes with `@type` and properties, so that one property path reads both.
 */

/** A node of structured data: `@type` (a string or a list) and properties, each one value or a list. */
export type StructuredNode = Record<string, unknown>;

/** The JSON-LD of a page: its nodes in document order, and the blocks that could not be read. */
export interface JsonLd {
  /** Every object with a `@type`, nested ones included, depth first in document order. */
  readonly nodes: readonly StructuredNode[];
  /** Nodes by their `@id`, so that a reference `{"@id": …}` leads to its node. */
  readonly byId: ReadonlyMap<string, StructuredNode>;
  /** Why blocks were skipped, e.g. `JSON-LD block 2 is not valid JSON: Unexpected token } …`. */
  readonly problems: readonly string[];
}

/** JSON-LD blocks: `<script type="application/ld+json">`, whatever the case of the type or its parameters. */
const JSON_LD_TYPE = /^\s*application\/ld\+json\s*(?:;|$)/i;

/** A block wrapped for old browsers: `<!-- … -->` or `//<![CDATA[ … //]]>`. */
const BLOCK_WRAPPER = /^\s*(?:<!--|(?:\/\/\s*)?<!\[CDATA\[)|(?:-->|(?:\/\/\s*)?\]\]>)\s*$/g;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Collects the typed objects of a parsed block, depth first, without recursion (a block may nest deeply). */
function collectNodes(root: unknown, nodes: StructuredNode[], byId: Map<string, StructuredNode>): void {
  const pending: unknown[] = [root];
  while (pending.length > 0) {
    const value = pending.pop();
    if (Array.isArray(value)) {
      for (let index = value.length - 1; index >= 0; index--) pending.push(value[index]);
      continue;
    }
    if (!isObject(value)) continue;
    if (value['@type'] !== undefined) nodes.push(value);
    const id = value['@id'];
    // A bare reference `{"@id": …}` names a node, it is not one.
    if (typeof id === 'string' && Object.keys(value).length > 1 && !byId.has(id)) byId.set(id, value);
    const children = Object.values(value);
    for (let index = children.length - 1; index >= 0; index--) {
      const child = children[index];
      if (typeof child === 'object' && child !== null) pending.push(child);
    }
  }
}

/** Reads every JSON-LD block of a page. A block that is not JSON is a problem, never an exception. */
export function readJsonLd(document: Document): JsonLd {
  const nodes: StructuredNode[] = [];
  const byId = new Map<string, StructuredNode>();
  const problems: string[] = [];
  let index = 0;
  for (const script of queryAll('script[type]', document)) {
    if (!JSON_LD_TYPE.test(script.attribs.type ?? '')) continue;
    index++;
    const text = textOf(script).replace(BLOCK_WRAPPER, '');
    if (text.trim() === '') continue;
    try {
      collectNodes(JSON.parse(text), nodes, byId);
    } catch (error) {
      problems.push(`JSON-LD block ${index} is not valid JSON: ${(error as Error).message}`);
    }
  }
  return { nodes, byId, problems };
}

/** A type as compared: `Product` for `Product`, `schema:Product` and `http(s)://schema.org/Product`. */
function typeName(type: string): string {
  return type.replace(/^(?:https?:\/\/schema\.org\/|schema:)/i, '');
}

/** Whether a node is of a type (one of its types, by schema.org name or by IRI). */
export function hasType(node: StructuredNode, type: string): boolean {
  const wanted = typeName(type);
  const types = node['@type'];
  const list = Array.isArray(types) ? types : [types];
  return list.some((one) => typeof one === 'string' && typeName(one) === wanted);
}

/**
 * Every value at a property path of a node: each step reads every value of the property (one value or a list),
 * steps into references (`{"@id": …}`, through `byId`) and unwraps value objects (`{"@value": …}`).
 */
export function valuesAt(node: StructuredNode, path: string, byId: ReadonlyMap<string, StructuredNode>): unknown[] {
  const dereference = (value: unknown): unknown => {
    if (!isObject(value)) return value;
    if (Object.hasOwn(value, '@value')) return value['@value'];
    const id = value['@id'];
    if (typeof id === 'string' && Object.keys(value).length === 1) return byId.get(id) ?? id;
    return value;
  };
  let values: unknown[] = [node];
  for (const property of path.split('.')) {
    const next: unknown[] = [];
    for (const value of values) {
      if (!isObject(value) || !Object.hasOwn(value, property)) continue;
      const found = value[property];
      for (const one of Array.isArray(found) ? found : [found]) {
        const resolved = dereference(one);
        if (resolved !== undefined && resolved !== null) next.push(resolved);
      }
    }
    values = next;
  }
  return values;
}

/** Elements whose value is a URL (WHATWG HTML, "Values" of microdata), by the attribute that holds it. */
const URL_ATTRIBUTES: Readonly<Record<string, string>> = {
  a: 'href',
  area: 'href',
  link: 'href',
  audio: 'src',
  embed: 'src',
  iframe: 'src',
  img: 'src',
  source: 'src',
  track: 'src',
  video: 'src',
  object: 'data',
};

/** The value of a microdata property element, by the rules of the HTML standard. */
function propertyValue(element: Element, base: string): string {
  const name = element.name;
  if (name === 'meta') return element.attribs.content ?? '';
  const urlAttribute = URL_ATTRIBUTES[name];
  if (urlAttribute !== undefined) {
    const raw = element.attribs[urlAttribute] ?? '';
    return resolveHttpUrl(raw, base) ?? raw;
  }
  if ((name === 'data' || name === 'meter') && element.attribs.value !== undefined) return element.attribs.value;
  if (name === 'time' && element.attribs.datetime !== undefined) return element.attribs.datetime;
  return textOf(element);
}

/** A microdata item's types, from its `itemtype` attribute. */
function itemTypes(scope: Element): string[] {
  return (scope.attribs.itemtype ?? '').split(/\s+/).filter((type) => type !== '');
}

/**
 * A microdata item as a node: its `itemprop` descendants that belong to no nested item, nested items as nodes of
 * their own. Built without recursion: a hostile page may nest items as deep as the parser allows.
 */
function microdataNode(scope: Element, base: string): StructuredNode {
  const root: StructuredNode = {};
  const items: [Element, StructuredNode][] = [[scope, root]];
  while (items.length > 0) {
    const [item, node] = items.pop() as [Element, StructuredNode];
    const types = itemTypes(item);
    if (types.length > 0) node['@type'] = types;
    const pending: AnyNode[] = [...item.children].reverse();
    while (pending.length > 0) {
      const child = pending.pop() as AnyNode;
      if (child.type !== 'tag' && child.type !== 'script' && child.type !== 'style') continue;
      const element = child as Element;
      const nested = element.attribs.itemscope !== undefined;
      const names = (element.attribs.itemprop ?? '').split(/\s+/).filter((name) => name !== '');
      // An item that is no property is an item of its own: neither it nor its properties belong here.
      if (nested && names.length === 0) continue;
      let value: unknown;
      if (nested) {
        // A nested item's properties are its own: it is filled in its turn.
        const inner: StructuredNode = {};
        items.push([element, inner]);
        value = inner;
      } else {
        for (let index = element.children.length - 1; index >= 0; index--) pending.push(element.children[index] as AnyNode);
        if (names.length > 0) value = propertyValue(element, base);
      }
      for (const name of names) {
        const existing = node[name];
        node[name] = existing === undefined ? value : [...(Array.isArray(existing) ? existing : [existing]), value];
      }
    }
  }
  return root;
}

/**
 * The first microdata item of a type at or under `root` (document order), as a node; `undefined` when none.
 * `itemref` is not followed.
 */
export function findMicrodata(root: Document | Element, type: string, base: string): StructuredNode | undefined {
  const scopes = queryAll('[itemscope]', root);
  if (root.type === 'tag' && (root as Element).attribs.itemscope !== undefined) scopes.unshift(root as Element);
  for (const scope of scopes) {
    if (itemTypes(scope).some((one) => typeName(one) === typeName(type))) return microdataNode(scope, base);
  }
  return undefined;
}

/** The `content` of every `<meta>` tag of a page, by its `property` or `name` in lower case, in document order. */
export function readMetaTags(document: Document): ReadonlyMap<string, readonly string[]> {
  const tags = new Map<string, string[]>();
  for (const meta of queryAll('meta[content]', document)) {
    const content = meta.attribs.content ?? '';
    const keys = new Set([meta.attribs.property, meta.attribs.name].filter((key) => key !== undefined));
    for (const key of keys) {
      const lower = key.toLowerCase();
      const list = tags.get(lower) ?? [];
      list.push(content);
      tags.set(lower, list);
    }
  }
  return tags;
}
