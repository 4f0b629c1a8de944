/**
 * One `entities` per bundle: the version htmlparser2 decodes with (7), also for dom-serializer (cheerio's `.html()`,
 * which asks for version 4 and only uses its escape functions, `encodeXML`, `escapeAttribute` and `escapeText`).
 * Two versions would bundle two copies of the HTML entity tables (70 KB). Bundles alias `entities` to this folder
 * (cdk/bundling/options.ts); test/cdk/bundling.test.ts checks that both versions escape alike.
 */
export * from '../../../node_modules/htmlparser2/node_modules/entities/dist/esm/index.js';
