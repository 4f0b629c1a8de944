import type { Context, ScheduledEvent } from 'aws-lambda';
import { type WatchdogReport, watchRuns } from '../shared/pipeline/watchdog.js';
import { loadConfig } from './commons/config.js';
import { createFunctionRuntime } from './commons/context.js';

/**
 * The watchdog, invoked by a schedule every few minutes: notes each active run's progress and ends `stalled` the runs
 * that made none for `STALL_AFTER_MINUTES` (their pending URLs failed, a manifest, the `RunsStalled` metric).
 */
const config = loadConfig(['bucket', 'table', 'eventBus', 'stallAfterMinutes']);
const runtime = createFunctionRuntime({ stage: 'watchdog', config });

export async function handler(_event: ScheduledEvent, lambdaContext?: Context): Promise<WatchdogReport> {
  if (lambdaContext) runtime.logger.addContext(lambdaContext);
  runtime.metrics.captureColdStartMetric(lambdaContext?.functionName);
  try {
    const report = await watchRuns(runtime.pipeline, { stallAfterMs: config.stallAfterMinutes * 60_000 });
    runtime.logger.info('watchdog: runs checked', { ...report });
    return report;
  } finally {
    runtime.metrics.publishStoredMetrics();
  }
}
