import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it } from 'vitest';
import { EVENT_SOURCE, EventBridgeRunEvents, RUN_FINISHED } from '../../shared/aws/run-events.js';
import { type RunManifest, runFinishedEvent } from '../../shared/pipeline/finalize.js';

const manifest = {
  job: 'books',
  runId: '20261126T060000Z-abcdef',
  state: 'degraded',
  startedAt: '2026-11-26T06:00:00.000Z',
  finishedAt: '2026-11-26T06:05:00.000Z',
  urls: { accepted: 10, parsed: 9, unchanged: 0, skipped: 0, failed: 1 },
  items: { written: 8, invalid: 1, duplicates: 0, onUnchangedPages: 0 },
  changes: { new: 2, changed: 3, removed: 1, removalsInferred: true },
  budgetExhausted: null,
  quality: { problems: ['field "price": fill rate fell from 100% to 0%'] },
  estimatedCostUsd: { total: 0.0001, byService: {}, perMillionPages: 10 },
} as unknown as RunManifest;
const event = runFinishedEvent(manifest);

describe('Class: EventBridgeRunEvents (EventBridge mocked: no wire-level peer)', () => {
  it('puts one Scrapeline Run Finished event with the change summary and quality problems', async () => {
    // Prepare
    const client = new EventBridgeClient({ region: 'us-east-1' });
    const mock = mockClient(client)
      .on(PutEventsCommand)
      .resolves({ FailedEntryCount: 0, Entries: [{ EventId: '1' }] });

    // Act
    await new EventBridgeRunEvents({ client }).runFinished(event);

    // Assess
    const entries = mock.commandCalls(PutEventsCommand)[0]?.args[0].input.Entries ?? [];
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ Source: EVENT_SOURCE, DetailType: RUN_FINISHED, EventBusName: 'default' });
    expect(JSON.parse(entries[0]?.Detail ?? '{}')).toEqual({
      job: 'books',
      runId: manifest.runId,
      state: 'degraded',
      startedAt: manifest.startedAt,
      finishedAt: manifest.finishedAt,
      urls: manifest.urls,
      items: manifest.items,
      changes: manifest.changes,
      budgetExhausted: null,
      qualityProblems: ['field "price": fill rate fell from 100% to 0%'],
      estimatedCostUsd: 0.0001,
      manifestKey: 'runs/books/20261126T060000Z-abcdef/manifest.json',
    });
  });

  it('fails (so the message is retried) when EventBridge refuses the entry', async () => {
    const client = new EventBridgeClient({ region: 'us-east-1' });
    mockClient(client)
      .on(PutEventsCommand)
      .resolves({ FailedEntryCount: 1, Entries: [{ ErrorCode: 'ThrottlingException', ErrorMessage: 'slow down' }] });
    await expect(new EventBridgeRunEvents({ client }).runFinished(event)).rejects.toThrow('ThrottlingException slow down');
  });

  it('creates its client when the first run finishes, in the configured region (no EventBridge at cold start)', async () => {
    // Prepare
    const mock = mockClient(EventBridgeClient)
      .on(PutEventsCommand)
      .resolves({ FailedEntryCount: 0, Entries: [{ EventId: '1' }] });
    const events = new EventBridgeRunEvents({ region: 'eu-west-1', eventBusName: 'scrapeline' });
    try {
      // Act
      await events.runFinished(event);

      // Assess
      const [call] = mock.commandCalls(PutEventsCommand);
      expect(call?.args[0].input.Entries?.[0]?.EventBusName).toBe('scrapeline');
      expect(await call?.thisValue.config.region()).toBe('eu-west-1');
    } finally {
      mock.restore();
    }
  });
});
