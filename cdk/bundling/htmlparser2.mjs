/**
 * htmlparser2's entry (dist/esm/index.js) without its backward-compatible re-exports of domutils (`DomUtils`,
 * `getFeed`, `parseFeed`): through dom-serializer those drag a second copy of `entities` (75 KB) into every bundle
 * that imports the parser, although the functions only use `Parser` (sitemaps, extraction) and what cheerio/slim
 * takes (`parseDocument`, `ElementType`). Bundles alias `htmlparser2` to this file (cdk/bundling/options.ts); the
 * rest is the package's own code.
 */
import { DomHandler } from 'domhandler';
import { Parser } from '../../node_modules/htmlparser2/dist/esm/Parser.js';

export * as ElementType from 'domelementtype';
export { DomHandler as DefaultHandler, DomHandler } from 'domhandler';
export { default as Tokenizer, QuoteType } from '../../node_modules/htmlparser2/dist/esm/Tokenizer.js';
export { Parser };

export function parseDocument(data, options) {
  const handler = new DomHandler(undefined, options);
  new Parser(handler, options).end(data);
  return handler.root;
}

export function parseDOM(data, options) {
  return parseDocument(data, options).children;
}

export function createDocumentStream(callback, options, elementCallback) {
  const handler = new DomHandler((error) => callback(error, handler.root), options, elementCallback);
  return new Parser(handler, options);
}

export function createDomStream(callback, options, elementCallback) {
  const handler = new DomHandler(callback, options, elementCallback);
  return new Parser(handler, options);
}
