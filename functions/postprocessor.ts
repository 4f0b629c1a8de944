import { createPostProcessorHandler } from '../shared/handlers.js';
import { loadConfig } from './commons/config.js';
import { createFunctionRuntime } from './commons/context.js';

/** The post-processing queue consumer: S3 notifications of page records become curated datasets. */
const config = loadConfig(['bucket', 'table', 'eventBus', 'maxReceiveCount']);
const runtime = createFunctionRuntime({ stage: 'postprocessor', config });

export const handler = runtime.instrument(
  createPostProcessorHandler(
    runtime.pipeline,
    config.maxReceiveCount === undefined ? {} : { maxReceiveCount: config.maxReceiveCount },
  ),
);
