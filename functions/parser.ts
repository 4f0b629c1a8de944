import { createParserHandler } from '../shared/handlers.js';
import { loadConfig } from './commons/config.js';
import { createFunctionRuntime } from './commons/context.js';

/** The parse queue consumer: extracts archived pages, follows their links, writes page records. */
const config = loadConfig(['bucket', 'table', 'fetchQueue', 'maxReceiveCount']);
const runtime = createFunctionRuntime({ stage: 'parser', config });

export const handler = runtime.instrument(
  createParserHandler(runtime.pipeline, config.maxReceiveCount === undefined ? {} : { maxReceiveCount: config.maxReceiveCount }),
);
