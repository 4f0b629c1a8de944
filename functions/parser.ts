import { SQSClient } from '@aws-sdk/client-sqs';
import { clientConfig } from '../shared/aws/client-config.js';
import { inProcessExtractor } from '../shared/extract/pool.js';
import { createParserHandler } from '../shared/handlers.js';
import { loadConfig } from './commons/config.js';
import { createFunctionRuntime } from './commons/context.js';

/**
 * The parse queue consumer: extracts archived pages, follows their links, writes page records; near its deadline
 * it hands the pages it has not started back to the parse queue.
 */
const config = loadConfig(['bucket', 'table', 'fetchQueue', 'parseQueue', 'maxReceiveCount']);
const runtime = createFunctionRuntime({
  stage: 'parser',
  config,
  // It sends the links it follows on most invocations: its SQS client (and package) is loaded at cold start.
  clients: { sqs: new SQSClient(clientConfig('sqs', { region: config.region })) },
  // One invocation at a time per instance: pages are extracted on its thread.
  extractor: inProcessExtractor,
});

export const handler = runtime.instrument(
  createParserHandler(runtime.pipeline, config.maxReceiveCount === undefined ? {} : { maxReceiveCount: config.maxReceiveCount }),
);
