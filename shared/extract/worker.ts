import { parentPort, workerData } from 'node:worker_threads';
import { ScrapelineError } from '../errors.js';
import type { Job } from '../job/schema.js';
import { extractPage, type PageSource } from './page.js';

/** A parse worker of {@link WorkerPoolExtractor}: extracts pages of the jobs it was given, one message each. */
const jobs = new Map((workerData as { jobs: Job[] }).jobs.map((job) => [job.name, job]));

parentPort?.on('message', async (request: { id: number; html: string; job: string; page: PageSource }) => {
  try {
    const job = jobs.get(request.job);
    if (!job) throw new Error(`the parse worker does not know job ${request.job}`);
    parentPort?.postMessage({ id: request.id, result: await extractPage(request.html, job, request.page) });
  } catch (error) {
    const scrapeline = error instanceof ScrapelineError ? error : undefined;
    parentPort?.postMessage({
      id: request.id,
      error: {
        name: (error as Error).name,
        message: (error as Error).message,
        ...(scrapeline ? { reason: scrapeline.reason, retryable: scrapeline.retryable } : {}),
      },
    });
  }
});

parentPort?.postMessage({ ready: true });
