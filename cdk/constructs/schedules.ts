import { Duration, Validations } from 'aws-cdk-lib';
import { ContextAttribute, Schedule, ScheduleExpression, ScheduleTargetInput, TimeWindow } from 'aws-cdk-lib/aws-scheduler';
import { SqsSendMessage } from 'aws-cdk-lib/aws-scheduler-targets';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { scheduleProblem } from '../../shared/job/schedule.js';
import { PropsValidator } from './validation.js';

/** What a schedule needs to know of a job. */
export interface ScheduledJob {
  readonly name: string;
  /** EventBridge Scheduler expression (`rate(...)` or `cron(...)`); a job without one gets no schedule. */
  readonly schedule?: string;
}

/** Properties of {@link JobSchedules}. */
export interface JobSchedulesProps {
  /** Every job; those with a `schedule` get one. */
  readonly jobs: readonly ScheduledJob[];
  /** Queue receiving `{"type":"start-run","job":"<name>","scheduledAt":"<time>"}` when a schedule fires. */
  readonly queue: sqs.IQueue;
  /** Oldest a start message may get while Scheduler retries sending it; later, it goes to the dead-letter queue. @default Duration.hours(1) */
  readonly maxEventAge?: Duration;
  /** Retries of a failed send, within `maxEventAge`. @default 185 */
  readonly retryAttempts?: number;
}

/**
 * One EventBridge Scheduler schedule per scheduled job, sending a start-run message to the fetch queue at fixed
 * times (flexible time window off). Sends that keep failing go to a dead-letter queue. The role Scheduler assumes
 * is granted `sqs:SendMessage` on the two queues by the target, and trusts only this account's default schedule group.
 */
export class JobSchedules extends Construct {
  /** The schedules, by job name. */
  readonly schedules: ReadonlyMap<string, Schedule>;
  /** Start messages Scheduler could not send; only created when some job has a schedule. */
  readonly deadLetterQueue?: sqs.Queue;

  constructor(scope: Construct, id: string, props: JobSchedulesProps) {
    super(scope, id);
    const validator = new PropsValidator(`JobSchedules (${id})`);
    validator.jobs(props.jobs, (job, index) => {
      if (job.schedule === undefined) return;
      const problem = scheduleProblem(job.schedule);
      validator.check(problem === undefined, `jobs[${index}].schedule of job "${job.name}", "${job.schedule}": ${problem}`);
    });
    validator.duration('maxEventAge', props.maxEventAge, 60, 86_400);
    validator.integer('retryAttempts', props.retryAttempts, 0, 185);
    validator.throwIfInvalid();

    const scheduled = props.jobs.filter((job): job is ScheduledJob & { schedule: string } => job.schedule !== undefined);
    const schedules = new Map<string, Schedule>();
    if (scheduled.length > 0) {
      this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
        encryption: sqs.QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        retentionPeriod: Duration.days(14),
      });
      Validations.of(this.deadLetterQueue).acknowledge({
        id: 'AwsSolutions-SQS3',
        reason:
          "This queue is a dead-letter queue: the schedules' target DeadLetterConfig, which cdk-nag only recognises in SQS redrive policies.",
      });
      for (const job of scheduled) {
        // Targets of one queue share one role (the target creates it once per queue and grants through the queue).
        const target = new SqsSendMessage(props.queue, {
          // The scheduled time names the run, so a retried delivery of one firing starts the same run, not a second one.
          input: ScheduleTargetInput.fromObject({
            type: 'start-run',
            job: job.name,
            scheduledAt: ContextAttribute.scheduledTime,
          }),
          deadLetterQueue: this.deadLetterQueue,
          maxEventAge: props.maxEventAge ?? Duration.hours(1),
          retryAttempts: props.retryAttempts ?? 185,
        });
        schedules.set(
          job.name,
          new Schedule(this, `Job-${job.name}`, {
            description: `Starts a run of job "${job.name}"`,
            schedule: ScheduleExpression.expression(job.schedule),
            timeWindow: TimeWindow.off(),
            target,
          }),
        );
      }
    }
    this.schedules = schedules;
  }
}
