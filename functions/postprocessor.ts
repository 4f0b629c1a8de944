import { SqsQueue } from '../shared/aws/sqs-queue.js';
import { createPostProcessorHandler } from '../shared/handlers.js';
import { loadConfig } from './commons/config.js';
import { createFunctionRuntime } from './commons/context.js';

/**
 * The post-processing queue consumer: S3 notifications of page records become curated datasets; near its deadline
 * it hands the records objects it has no time to finish back to its own queue.
 */
const config = loadConfig(['bucket', 'table', 'eventBus', 'maxReceiveCount', 'postprocessQueue']);
const runtime = createFunctionRuntime({ stage: 'postprocessor', config });

export const handler = runtime.instrument(
  createPostProcessorHandler(runtime.pipeline, {
    // Its SQS client loads on the first hand-back (rare: most invocations send nothing).
    handBackQueue: new SqsQueue({ client: runtime.clients.sqs, queueUrl: config.postprocessQueue }),
    ...(config.maxReceiveCount === undefined ? {} : { maxReceiveCount: config.maxReceiveCount }),
  }),
);
