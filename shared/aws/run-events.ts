import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { RunEvents, RunFinishedEvent } from '../ports.js';

/** `source` of the events scrapeline puts on EventBridge. */
export const EVENT_SOURCE = 'scrapeline';
/** `detail-type` of the event sent when a run finishes. */
export const RUN_FINISHED = 'Scrapeline Run Finished';

/** Options of {@link EventBridgeRunEvents}. */
export interface EventBridgeRunEventsOptions {
  /**
   * @default a client for `region`, created when the first run finishes: the EventBridge package is loaded then, not
   * at cold start (a function announces a finished run rarely)
   */
  readonly client?: EventBridgeClient;
  /** Region of the client created on first use. @default the SDK's own resolution (`AWS_REGION`) */
  readonly region?: string;
  /** @default 'default' */
  readonly eventBusName?: string;
}

/**
 * Announces finished runs on EventBridge (`source: scrapeline`, `detail-type: Scrapeline Run Finished`), so users
 * subscribe with a rule: e-mail through SNS on `changes.new > 0`, a Slack webhook on `state = degraded`, and so on.
 */
export class EventBridgeRunEvents implements RunEvents {
  #client: EventBridgeClient | undefined;
  readonly #region: string | undefined;
  readonly #eventBusName: string;

  constructor(options: EventBridgeRunEventsOptions = {}) {
    this.#client = options.client;
    this.#region = options.region;
    this.#eventBusName = options.eventBusName ?? 'default';
  }

  async runFinished(event: RunFinishedEvent): Promise<void> {
    const { EventBridgeClient, PutEventsCommand } = await import('@aws-sdk/client-eventbridge');
    this.#client ??= new EventBridgeClient(this.#region === undefined ? {} : { region: this.#region });
    const result = await this.#client.send(
      new PutEventsCommand({
        Entries: [
          {
            Source: EVENT_SOURCE,
            DetailType: RUN_FINISHED,
            Detail: JSON.stringify(event),
            EventBusName: this.#eventBusName,
          },
        ],
      }),
    );
    if ((result.FailedEntryCount ?? 0) > 0) {
      const entry = result.Entries?.[0];
      throw new Error(`EventBridge refused the run-finished event of ${event.runId}: ${entry?.ErrorCode} ${entry?.ErrorMessage}`);
    }
  }
}
