import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoServer, startDemoServer } from '../demo/server.js';
import { generateSite } from '../demo/site.js';
import { loadJobFile, parseJob } from '../shared/job/load.js';
import type { Job, JobInput } from '../shared/job/schema.js';
import { tempRuntime } from './support/local-run.js';
import { expectManifestInvariant } from './support/manifest.js';

describe('Run budgets, request counts and estimated cost', () => {
  let server: DemoServer;
  let books: Job;
  let start: string[];

  beforeAll(async () => {
    server = await startDemoServer({ site: generateSite({ books: 200, perPage: 20, brokenServerError: 0, brokenNotFound: 0 }) });
    start = [`${server.url}/catalogue/page-1.html`];
    books = await loadJobFile('jobs/books.ts');
  });

  afterAll(async () => {
    await server?.close();
  });

  async function runWith(limits: Partial<Job['limits']>) {
    const job = parseJob({ ...(books as unknown as JobInput), limits: { ...books.limits, ...limits } }, 'books-budget.ts');
    const local = await tempRuntime([job]);
    try {
      const manifest = await local.run('books', start);
      expectManifestInvariant(manifest);
      return manifest;
    } finally {
      await local.dispose();
    }
  }

  it('counts the AWS requests a run stands for and estimates its cost', async () => {
    const manifest = await runWith({});
    expect(manifest.state).toBe('succeeded');
    expect(manifest.requests['s3:PutObject']).toBeGreaterThan(0);
    expect(manifest.requests['sqs:SendMessageBatch']).toBeGreaterThan(0);
    expect(manifest.requests['dynamodb:WriteUnits']).toBeGreaterThan(manifest.urls.accepted);
    expect(manifest.requests['lambda:Invoke']).toBeGreaterThan(0);
    expect(manifest.estimatedCostUsd.total).toBeGreaterThan(0);
    const services = manifest.estimatedCostUsd.byService;
    expect(Object.keys(services).sort()).toEqual(['dynamodb', 'lambda', 'logs', 's3', 'sqs']);
    // CloudWatch Logs: the platform's lines of every invocation at least, and the run's own info lines.
    expect(manifest.requests['logs:IngestedBytes']).toBeGreaterThan(400 * (manifest.requests['lambda:Invoke'] ?? 0));
    expect(services.logs).toBeGreaterThan(0);
    expect(manifest.estimatedCostUsd.perMillionPages).toBeGreaterThan(0);
  });

  it('stops accepting URLs when the cost budget is used up, and says so', async () => {
    const manifest = await runWith({ maxCostUsd: 0.000001 });
    expect(manifest.budgetExhausted).toBe('maxCost');
    expect(manifest.state).toBe('partial');
    expect(manifest.urls.skipped).toBeGreaterThan(0);
    expect(manifest.reasons['budget:maxCost']).toBe(manifest.urls.skipped);
    expect(manifest.changes.removalsInferred).toBe(false);
  });

  it('stops accepting URLs when the time budget is used up', async () => {
    const manifest = await runWith({ maxDurationMinutes: 0.00001 });
    expect(manifest.budgetExhausted).toBe('maxDuration');
    expect(manifest.urls.skipped).toBeGreaterThan(0);
    expect(manifest.urls.parsed).toBeLessThan(210);
  });
});
