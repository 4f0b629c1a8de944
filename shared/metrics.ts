/**
 * The pipeline's custom CloudWatch metrics, named once: the pipeline counts them (`Metrics` port), the functions
 * publish them through Powertools Metrics with the dimensions `service` and `stage`, and the stack's alarms and
 * dashboard watch them (cdk/constructs/monitoring.ts).
 */

/** Namespace of the custom metrics (Powertools `POWERTOOLS_METRICS_NAMESPACE`). */
export const METRICS_NAMESPACE = 'Scrapeline';

/** Names of the custom metrics, all counts. */
export const METRICS = {
  /** Runs that ended failed, counted by whichever stage finished the run. */
  runsFailed: 'RunsFailed',
  /** Runs that ended degraded: a field's fill rate or the item count fell (selectors broke). */
  runsDegraded: 'RunsDegraded',
  /** Runs the watchdog ended stalled: no progress for its limit. */
  runsStalled: 'RunsStalled',
  /** URLs the dead-letter stage ended failed (their messages were dead-lettered). */
  urlsDeadLettered: 'UrlsDeadLettered',
  /** Records a handler finished (not in `batchItemFailures`), per invocation. */
  recordsProcessed: 'RecordsProcessed',
  /** Records that go back to their queue: in `batchItemFailures`, or all of them when the handler threw. */
  recordsFailed: 'RecordsFailed',
} as const;

/** A custom metric's name. */
export type MetricName = (typeof METRICS)[keyof typeof METRICS];
