/**
 * The pipeline's stages and their spellings, defined once. A stage has a queue (`fetch`, `parse`, `postprocess`:
 * queue names, dead-letter stages, `scrapeline redrive --stage`), a Lambda function that consumes it (`fetcher`,
 * `parser`, `postprocessor`: function names, bundle budgets, the `stage` dimension of metrics) and a name in prose
 * (`fetcher`, `parser`, `post-processor`: logs and the last error of a dead-lettered message). Two functions have no
 * queue of their own: `deadletters` (settles what the stage queues gave up on) and `watchdog` (ends runs that
 * stopped moving).
 */

/** The stage queues, in pipeline order. */
export const QUEUE_STAGES = ['fetch', 'parse', 'postprocess'] as const;
/** A stage queue (also the stage of a dead-letter queue). */
export type QueueStage = (typeof QUEUE_STAGES)[number];

/** The functions that consume the stage queues, in pipeline order. */
export const STAGE_FUNCTIONS = ['fetcher', 'parser', 'postprocessor'] as const;
/** A function that consumes a stage queue. */
export type StageFunction = (typeof STAGE_FUNCTIONS)[number];

/** Every Lambda function of the stack: the stage consumers, the dead-letter stage and the watchdog. */
export const FUNCTION_STAGES = [...STAGE_FUNCTIONS, 'deadletters', 'watchdog'] as const;
/** A Lambda function of the stack, as named in the `stage` dimension of its metrics and in its log entries. */
export type FunctionStage = (typeof FUNCTION_STAGES)[number];

/** The function that consumes each stage queue. */
export const FUNCTION_OF_QUEUE: Readonly<Record<QueueStage, StageFunction>> = {
  fetch: 'fetcher',
  parse: 'parser',
  postprocess: 'postprocessor',
};

/** Each function in prose (log messages, the last error recorded for a dead-lettered message). */
export const STAGE_LABELS: Readonly<Record<FunctionStage, string>> = {
  fetcher: 'fetcher',
  parser: 'parser',
  postprocessor: 'post-processor',
  deadletters: 'dead-letters',
  watchdog: 'watchdog',
};

/**
 * Whether `value` names a stage queue.
 * @example isQueueStage('parse') // true
 */
export function isQueueStage(value: string): value is QueueStage {
  return (QUEUE_STAGES as readonly string[]).includes(value);
}
