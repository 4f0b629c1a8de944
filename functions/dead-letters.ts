import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { clientConfig } from '../shared/aws/client-config.js';
import { createDeadLetterHandler } from '../shared/handlers.js';
import { loadConfig } from './commons/config.js';
import { createFunctionRuntime } from './commons/context.js';
import { UnavailablePortError } from './commons/errors.js';

/**
 * The dead-letter stage: consumes the dead-letter inbox of each stage queue, ends what each message stands for
 * (its URLs `failed`, reason `dead-lettered`; the run finished when nothing else is pending), then keeps the message
 * in that stage's dead-letter queue (`DEAD_LETTER_ROUTES`), where the alarm sees it and `scrapeline redrive` finds it.
 */
const config = loadConfig(['bucket', 'table', 'eventBus', 'deadLetterRoutes']);
const runtime = createFunctionRuntime({
  stage: 'deadletters',
  config,
  clients: { sqs: new SQSClient(clientConfig('sqs', { region: config.region })) },
});
const routes = config.deadLetterRoutes;

export const handler = runtime.instrument(
  createDeadLetterHandler(runtime.pipeline, {
    keep: async (record) => {
      const queueUrl = routes[record.eventSourceARN];
      if (queueUrl === undefined) {
        throw new UnavailablePortError(`no dead-letter queue for messages of ${record.eventSourceARN} (DEAD_LETTER_ROUTES)`);
      }
      await runtime.clients.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: record.body }));
    },
  }),
);
