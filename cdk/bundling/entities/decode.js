// See cdk/bundling/entities/index.js.
export * from '../../../node_modules/htmlparser2/node_modules/entities/dist/esm/decode.js';
