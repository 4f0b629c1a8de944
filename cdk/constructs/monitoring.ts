import { Aws, Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { METRICS, METRICS_NAMESPACE } from '../../shared/metrics.js';
import { PropsValidator } from './validation.js';

/** A queue, named for alarms and graphs. */
export interface MonitoredQueue {
  readonly label: string;
  readonly queue: sqs.IQueue;
}

/** A function, named for alarms and graphs. */
export interface MonitoredFunction {
  readonly label: string;
  readonly function: lambda.IFunction;
}

/** Properties of {@link ScrapelineMonitoring}. */
export interface ScrapelineMonitoringProps {
  /** Work queues: depth and age of the oldest message are graphed. */
  readonly queues: readonly MonitoredQueue[];
  /** Dead-letter queues: each gets an alarm when it holds any message. */
  readonly deadLetterQueues: readonly MonitoredQueue[];
  /** Functions: each gets an alarm on errors (crashes and timeouts; failed records are not errors). */
  readonly functions: readonly MonitoredFunction[];
  /** Namespace of the pipeline's custom metrics. @default 'Scrapeline' */
  readonly metricsNamespace?: string;
  /**
   * The dimension sets the functions publish custom metrics with, one per stage (Powertools Metrics: `service`, plus
   * the default dimensions of each function). Pipeline-wide graphs and alarms sum a metric over them.
   * @default [{}] (metrics without dimensions)
   */
  readonly stageDimensions?: readonly Readonly<Record<string, string>>[];
  /** Custom metric counting runs that ended failed (from whichever stage finished the run); any raises an alarm. @default 'RunsFailed' */
  readonly runsFailedMetricName?: string;
  /** Custom metric counting degraded runs (a field's fill rate or the item count fell: selectors broke). @default 'RunsDegraded' */
  readonly runsDegradedMetricName?: string;
  /**
   * Custom metric counting runs the watchdog ended `stalled` (no progress for its limit: work was lost or could not be
   * settled); any raises an alarm. @default 'RunsStalled'
   */
  readonly runsStalledMetricName?: string;
  /** Other run-level custom metrics graphed next to failed runs (summed over the stages). @default none */
  readonly runMetricNames?: readonly string[];
  /** Custom metrics graphed per stage (e.g. records processed and failed). @default none */
  readonly stageMetricNames?: readonly string[];
  /** Period of every alarm. @default Duration.minutes(5) */
  readonly alarmPeriod?: Duration;
  /** Topic notified when an alarm fires and when it clears. @default no notification (alarms show in the console and on the dashboard) */
  readonly alarmTopic?: sns.ITopic;
}

/** When an alarm is raised: its threshold and how the metric compares with it. */
interface AlarmThreshold {
  readonly threshold: number;
  readonly comparisonOperator: cloudwatch.ComparisonOperator;
}

/** Raised by one period in which the summed count is at least 1. */
const AT_LEAST_ONE: AlarmThreshold = {
  threshold: 1,
  comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
};

/**
 * Creates an alarm of the construct, evaluated over one period (missing data is not breaching), notifying the alarm
 * topic when it fires and when it clears, if there is a topic. @default threshold {@link AT_LEAST_ONE}
 */
type RaiseAlarm = (
  alarmId: string,
  alarmDescription: string,
  metric: cloudwatch.IMetric,
  threshold?: AlarmThreshold,
) => cloudwatch.Alarm;
/** A custom metric summed over every stage's dimension set ({@link acrossStages} with the construct's namespace). */
type AcrossStages = (metricName: string, label: string, metricPeriod: Duration) => cloudwatch.IMetric;

/** Checks the props, throwing one error that lists every problem. */
function validateProps(id: string, props: ScrapelineMonitoringProps, namespace: string, period: Duration): void {
  const validator = new PropsValidator(`ScrapelineMonitoring (${id})`);
  for (const [kind, items] of [
    ['queues', props.queues],
    ['deadLetterQueues', props.deadLetterQueues],
    ['functions', props.functions],
  ] as const) {
    const labels = items.map((item) => item.label);
    for (const [index, label] of labels.entries()) {
      validator.check(
        /^[A-Za-z0-9][A-Za-z0-9 _-]{0,63}$/.test(label),
        `${kind}[${index}].label must be a short name, got "${label}"`,
      );
      validator.check(labels.indexOf(label) === index, `${kind}[${index}].label "${label}" is not unique`);
    }
  }
  validator.check(props.functions.length > 0, 'functions must name at least one function');
  validator.check(
    props.stageDimensions === undefined || (props.stageDimensions.length >= 1 && props.stageDimensions.length <= 10),
    `stageDimensions must hold 1 to 10 dimension sets, got ${props.stageDimensions?.length}`,
  );
  validator.check(
    /^[A-Za-z0-9_./#:-]{1,255}$/.test(namespace),
    `metricsNamespace must be a CloudWatch namespace, got "${namespace}"`,
  );
  validator.duration('alarmPeriod', props.alarmPeriod, 60, 86_400);
  validator.check(
    props.alarmPeriod === undefined || period.toSeconds() % 60 === 0,
    `alarmPeriod must be a whole number of minutes, got ${period.toSeconds()} s`,
  );
  validator.throwIfInvalid();
}

/** A custom metric summed over every stage's dimension set. */
function acrossStages(
  namespace: string,
  stageDimensions: readonly Readonly<Record<string, string>>[],
  metricName: string,
  label: string,
  metricPeriod: Duration,
): cloudwatch.IMetric {
  const metrics = stageDimensions.map(
    (dimensionsMap) =>
      new cloudwatch.Metric({
        namespace,
        metricName,
        dimensionsMap: { ...dimensionsMap },
        period: metricPeriod,
        statistic: cloudwatch.Stats.SUM,
      }),
  );
  const [only] = metrics;
  if (metrics.length === 1 && only) return only.with({ label });
  // Ids are unique per metric name: one graph may sum several metrics.
  const prefix =
    metricName
      .replace(/[^A-Za-z0-9]/g, '')
      .replace(/^[^A-Za-z]*/, '')
      .replace(/^./, (c) => c.toLowerCase()) || 'metric';
  const usingMetrics = Object.fromEntries(metrics.map((metric, index) => [`${prefix}${index}`, metric]));
  return new cloudwatch.MathExpression({
    expression: Object.keys(usingMetrics)
      .map((id) => `FILL(${id}, 0)`)
      .join(' + '),
    usingMetrics,
    period: metricPeriod,
    label,
  });
}

/**
 * Alarms (a dead-letter queue holds messages, a function errs, a run failed) and one dashboard: work-queue depth
 * and age, dead-letter depth, function invocations, errors, duration and throttles, failed runs, alarm status.
 */
export class ScrapelineMonitoring extends Construct {
  /** The dashboard. */
  readonly dashboard: cloudwatch.Dashboard;
  /** Alarms on dead-letter queues holding messages, by label. */
  readonly deadLetterAlarms: ReadonlyMap<string, cloudwatch.Alarm>;
  /** Alarms on function errors, by label. */
  readonly functionErrorAlarms: ReadonlyMap<string, cloudwatch.Alarm>;
  /** Alarm on failed runs. */
  readonly runsFailedAlarm: cloudwatch.Alarm;
  /** Alarm on degraded runs (data quality fell). */
  readonly runsDegradedAlarm: cloudwatch.Alarm;
  /** Alarm on stalled runs (the watchdog ended a run that stopped moving). */
  readonly runsStalledAlarm: cloudwatch.Alarm;
  /** The console URL of the dashboard. */
  readonly dashboardUrl: string;

  constructor(scope: Construct, id: string, props: ScrapelineMonitoringProps) {
    super(scope, id);
    const period = props.alarmPeriod ?? Duration.minutes(5);
    const namespace = props.metricsNamespace ?? METRICS_NAMESPACE;
    validateProps(id, props, namespace, period);
    const stageDimensions = props.stageDimensions ?? [{}];
    const across = (metricName: string, label: string, metricPeriod: Duration) =>
      acrossStages(namespace, stageDimensions, metricName, label, metricPeriod);
    const action = props.alarmTopic ? new SnsAction(props.alarmTopic) : undefined;
    const alarm: RaiseAlarm = (alarmId, alarmDescription, metric, threshold = AT_LEAST_ONE) => {
      const created = new cloudwatch.Alarm(this, alarmId, {
        alarmDescription,
        metric,
        ...threshold,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      if (action) {
        created.addAlarmAction(action);
        created.addOkAction(action);
      }
      return created;
    };
    this.deadLetterAlarms = this.#deadLetterAlarms(props, period, alarm);
    this.functionErrorAlarms = this.#functionErrorAlarms(props, period, alarm);
    const runs = this.#runAlarms(props, period, across, alarm);
    this.runsFailedAlarm = runs.failed;
    this.runsDegradedAlarm = runs.degraded;
    this.runsStalledAlarm = runs.stalled;
    this.dashboard = this.#dashboard(props, namespace, stageDimensions, across, runs.names);
    this.dashboardUrl = `https://${Aws.REGION}.console.aws.amazon.com/cloudwatch/home?region=${Aws.REGION}#dashboards:name=${this.dashboard.dashboardName}`;
  }

  /** An alarm per dead-letter queue, raised when it holds any message. */
  #deadLetterAlarms(props: ScrapelineMonitoringProps, period: Duration, alarm: RaiseAlarm): Map<string, cloudwatch.Alarm> {
    const deadLetterAlarms = new Map<string, cloudwatch.Alarm>();
    for (const { label, queue } of props.deadLetterQueues) {
      deadLetterAlarms.set(
        label,
        alarm(
          `${label}DeadLetters`,
          `${label} dead-letter queue holds messages: inspect them, fix the cause, then redrive (docs/deploy.md).`,
          queue.metricApproximateNumberOfMessagesVisible({ period, statistic: cloudwatch.Stats.MAXIMUM }),
          { threshold: 0, comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD },
        ),
      );
    }
    return deadLetterAlarms;
  }

  /** An alarm per function, raised when it fails an invocation (crash or timeout; failed records are not errors). */
  #functionErrorAlarms(props: ScrapelineMonitoringProps, period: Duration, alarm: RaiseAlarm): Map<string, cloudwatch.Alarm> {
    const functionErrorAlarms = new Map<string, cloudwatch.Alarm>();
    for (const { label, function: fn } of props.functions) {
      functionErrorAlarms.set(
        label,
        alarm(
          `${label}Errors`,
          `The ${label} function failed invocations (crash or timeout): read its log group.`,
          fn.metricErrors({ period, statistic: cloudwatch.Stats.SUM }),
        ),
      );
    }
    return functionErrorAlarms;
  }

  /** The alarms on failed, degraded and stalled runs, each metric summed over the stages. */
  #runAlarms(props: ScrapelineMonitoringProps, period: Duration, across: AcrossStages, alarm: RaiseAlarm) {
    const runsFailedName = props.runsFailedMetricName ?? METRICS.runsFailed;
    const runsFailed = across(runsFailedName, 'Runs failed', period);
    const failed = alarm(
      'RunsFailed',
      'A run ended failed: read its manifest (runs/<job>/<runId>/manifest.json) and failures file.',
      runsFailed,
    );
    const runsDegraded = across(props.runsDegradedMetricName ?? METRICS.runsDegraded, 'Runs degraded', period);
    const degraded = alarm(
      'RunsDegraded',
      'A run was degraded: a field emptied out or the item count fell against the last good run (a selector broke?). Its manifest names the fields.',
      runsDegraded,
    );
    const runsStalledName = props.runsStalledMetricName ?? METRICS.runsStalled;
    const stalled = alarm(
      'RunsStalled',
      'A run stalled: it made no progress for the watchdog limit, and its pending URLs ended failed (stalled). Its manifest and failures file list them; the logs say what stopped (dead letters, lost objects).',
      across(runsStalledName, 'Runs stalled', period),
    );
    return { failed, degraded, stalled, names: { failed: runsFailedName, stalled: runsStalledName } };
  }

  /** The dashboard: queues, dead letters, runs, functions, the per-stage metrics and the alarms' status. */
  #dashboard(
    props: ScrapelineMonitoringProps,
    namespace: string,
    stageDimensions: readonly Readonly<Record<string, string>>[],
    across: AcrossStages,
    runs: { readonly failed: string; readonly stalled: string },
  ): cloudwatch.Dashboard {
    const graphPeriod = Duration.minutes(1);
    const maximum = { period: graphPeriod, statistic: cloudwatch.Stats.MAXIMUM };
    const sum = { period: graphPeriod, statistic: cloudwatch.Stats.SUM };
    const depth = (items: readonly MonitoredQueue[]) =>
      items.map(({ label, queue }) => queue.metricApproximateNumberOfMessagesVisible({ ...maximum, label }));
    const perFunction = (pick: (fn: lambda.IFunction, label: string) => cloudwatch.IMetric) =>
      props.functions.map(({ function: fn, label }) => pick(fn, label));

    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.hours(3),
    });
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({ title: 'Queue depth (visible messages)', width: 12, left: depth(props.queues) }),
      new cloudwatch.GraphWidget({
        title: 'Age of oldest message (s)',
        width: 12,
        left: props.queues.map(({ label, queue }) => queue.metricApproximateAgeOfOldestMessage({ ...maximum, label })),
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({ title: 'Dead-letter queue depth', width: 12, left: depth(props.deadLetterQueues) }),
      new cloudwatch.GraphWidget({
        title: 'Runs',
        width: 12,
        left: [runs.failed, runs.stalled, ...(props.runMetricNames ?? [])].map((name) => across(name, name, graphPeriod)),
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Invocations',
        width: 8,
        left: perFunction((fn, label) => fn.metricInvocations({ ...sum, label })),
      }),
      new cloudwatch.GraphWidget({
        title: 'Errors (left) and throttles (right)',
        width: 8,
        left: perFunction((fn, label) => fn.metricErrors({ ...sum, label: `${label} errors` })),
        right: perFunction((fn, label) => fn.metricThrottles({ ...sum, label: `${label} throttles` })),
      }),
      new cloudwatch.GraphWidget({
        title: 'Duration p50 (left) and p99 (right), ms',
        width: 8,
        left: perFunction((fn, label) =>
          fn.metricDuration({ period: graphPeriod, statistic: cloudwatch.Stats.p(50), label: `${label} p50` }),
        ),
        right: perFunction((fn, label) =>
          fn.metricDuration({ period: graphPeriod, statistic: cloudwatch.Stats.p(99), label: `${label} p99` }),
        ),
      }),
    );
    const stageMetricNames = props.stageMetricNames ?? [];
    if (stageMetricNames.length > 0) {
      dashboard.addWidgets(
        ...stageMetricNames.map(
          (metricName) =>
            new cloudwatch.GraphWidget({
              title: metricName,
              width: Math.max(6, Math.floor(24 / stageMetricNames.length)),
              left: stageDimensions.map(
                (dimensionsMap) =>
                  new cloudwatch.Metric({
                    namespace,
                    metricName,
                    dimensionsMap: { ...dimensionsMap },
                    ...sum,
                    label: Object.values(dimensionsMap).join(' ') || metricName,
                  }),
              ),
            }),
        ),
      );
    }
    dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({
        title: 'Alarms',
        width: 24,
        alarms: [
          ...this.deadLetterAlarms.values(),
          ...this.functionErrorAlarms.values(),
          this.runsFailedAlarm,
          this.runsStalledAlarm,
        ],
      }),
    );
    return dashboard;
  }
}
