import { select as cheerioSelect } from 'cheerio-select';
import { compile, selectAll } from 'css-select';
import { type AnyNode, type Document, DomHandler, type Element, hasChildren, isTag, isText } from 'domhandler';
import { getInnerHTML } from 'domutils';
import { Parser } from 'htmlparser2';
import { NonRetryableError } from '../errors.js';

/**
 * The DOM the extractor works on: htmlparser2 (never parse5) with selectors compiled once per process, so a page
 * costs one parse and one walk per field, not a selector compilation per field per page.
 */

/** Deepest element nesting parsed: deeper pages are refused (parsing cost grows with the square of the depth). */
export const MAX_NESTING_DEPTH = 20_000;

/** The page cannot be turned into a DOM within the limits. */
export class UnparseablePageError extends NonRetryableError {
  override readonly name = 'UnparseablePageError';
  constructor(message: string) {
    super(message, 'unparseable');
  }
}

/** A DOM handler that refuses documents nested deeper than {@link MAX_NESTING_DEPTH}. */
class BoundedDomHandler extends DomHandler {
  #depth = 0;

  override onopentag(name: string, attribs: Record<string, string>): void {
    if (++this.#depth > MAX_NESTING_DEPTH) {
      throw new UnparseablePageError(`elements are nested deeper than ${MAX_NESTING_DEPTH} levels`);
    }
    super.onopentag(name, attribs);
  }

  override onclosetag(): void {
    this.#depth--;
    super.onclosetag();
  }
}

/**
 * Parses HTML into a DOM (forgiving, like a browser: unclosed tags, stray text).
 *
 * @throws {UnparseablePageError} for pages nested deeper than {@link MAX_NESTING_DEPTH}
 */
export function parseHtml(html: string): Document {
  const handler = new BoundedDomHandler();
  const parser = new Parser(handler, { decodeEntities: true });
  parser.write(html);
  parser.end();
  return handler.root;
}

type Query = { readonly compiled: ReturnType<typeof compile<AnyNode, Element>> } | { readonly selector: string };

const queries = new Map<string, Query>();

/** A selector compiled once; jQuery extensions css-select lacks (`:eq`, `:first`...) go through cheerio-select. */
function query(selector: string): Query {
  let compiled = queries.get(selector);
  if (!compiled) {
    try {
      compiled = { compiled: compile<AnyNode, Element>(selector) };
    } catch {
      compiled = { selector };
    }
    queries.set(selector, compiled);
  }
  return compiled;
}

/** Every element under `root` (a document, or an element's descendants) matching `selector`, in document order. */
export function queryAll(selector: string, root: AnyNode): Element[] {
  const found = query(selector);
  // Selectors match elements only, whatever css-select's node-generic types say.
  return 'compiled' in found ? (selectAll(found.compiled, root) as Element[]) : cheerioSelect(found.selector, root);
}

/**
 * The first element under `root` matching `selector`, or `null`. Walks in document order without recursion
 * (domutils' own `findOne` recurses, and a deeply nested page would overflow the stack) and stops at the first match.
 */
export function queryOne(selector: string, root: AnyNode): Element | null {
  const found = query(selector);
  if (!('compiled' in found)) return cheerioSelect(found.selector, root)[0] ?? null;
  const matches = found.compiled as (element: Element) => boolean;
  const pending: AnyNode[] = hasChildren(root) ? [...root.children].reverse() : [];
  while (pending.length > 0) {
    const node = pending.pop() as AnyNode;
    if (isTag(node) && matches(node)) return node;
    if (hasChildren(node))
      for (let index = node.children.length - 1; index >= 0; index--) pending.push(node.children[index] as AnyNode);
  }
  return null;
}

/**
 * Text of an element and its descendants (as jQuery's `.text()`), walked without recursion so that a deeply nested
 * page cannot overflow the stack.
 */
export function textOf(element: Element): string {
  let text = '';
  const pending: AnyNode[] = [element];
  while (pending.length > 0) {
    const node = pending.pop() as AnyNode;
    if (isText(node)) text += node.data;
    else if (hasChildren(node))
      for (let index = node.children.length - 1; index >= 0; index--) pending.push(node.children[index] as AnyNode);
  }
  return text;
}

/** Inner HTML of an element (as jQuery's `.html()`). */
export function htmlOf(element: Element): string {
  return getInnerHTML(element);
}
