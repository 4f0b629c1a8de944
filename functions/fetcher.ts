import { SQSClient } from '@aws-sdk/client-sqs';
import { clientConfig } from '../shared/aws/client-config.js';
import { AwsSecretSource } from '../shared/aws/secrets.js';
import { UndiciHttpClient } from '../shared/fetch/http.js';
import { createFetcherHandler } from '../shared/handlers.js';
import { SecretResolver } from '../shared/pipeline/secret-resolver.js';
import { systemClock } from '../shared/ports.js';
import { loadConfig } from './commons/config.js';
import { createFunctionRuntime } from './commons/context.js';

/** The fetch queue consumer: starts runs, fetches pages, archives them and enqueues their parse tasks. */
const config = loadConfig([
  'bucket',
  'table',
  'fetchQueue',
  'parseQueue',
  'fetchAllowAddresses',
  'retryBaseMs',
  'eventBus',
  'maxReceiveCount',
  'fleetSize',
]);
const http = new UndiciHttpClient({ ssrf: { allow: config.fetchAllowAddresses } });
const runtime = createFunctionRuntime({
  stage: 'fetcher',
  config,
  // It sends messages on every invocation: its SQS client (and package) is loaded at cold start.
  clients: { sqs: new SQSClient(clientConfig('sqs', { region: config.region })) },
  http,
  // Jobs' secrets (headers, cookies, proxies, logins): the SDK packages load when the first one is read.
  secrets: new SecretResolver(new AwsSecretSource({ region: config.region }), { clock: systemClock }),
  ...(config.retryBaseMs === undefined ? {} : { settings: { retryBaseMs: config.retryBaseMs } }),
});

export const handler = runtime.instrument(
  createFetcherHandler(runtime.pipeline, config.maxReceiveCount === undefined ? {} : { maxReceiveCount: config.maxReceiveCount }),
);
