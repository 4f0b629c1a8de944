import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { NonRetryableError, RetryableError, type ScrapelineError } from '../errors.js';
import type { Job } from '../job/schema.js';
import type { Log } from '../ports.js';
import { extractPage, type PageExtraction, type PageSource } from './page.js';

/** The extraction port: pages in, items and links out. */
export interface PageExtractor {
  extract(html: string, job: Job, page: PageSource): Promise<PageExtraction>;
  close(): Promise<void>;
}

/** Extraction on the calling thread (Lambda: one invocation per instance uses its one core). */
export const inProcessExtractor: PageExtractor = {
  extract: (html, job, page) => extractPage(html, job, page),
  close: async () => {},
};

interface Pending {
  resolve(value: PageExtraction): void;
  reject(error: Error): void;
}

type Reply =
  | { readonly id: number; readonly result: PageExtraction }
  | { readonly id: number; readonly error: { name: string; message: string; reason?: string; retryable?: boolean } };

/** Rebuilds an error thrown in a worker with its reason and retry class. */
function revive(error: { name: string; message: string; reason?: string; retryable?: boolean }): Error {
  if (error.reason === undefined) return new Error(error.message);
  const revived: ScrapelineError = error.retryable
    ? new RetryableError(error.message, error.reason)
    : new NonRetryableError(error.message, error.reason);
  return revived;
}

/**
 * Extraction on worker threads, so parsing uses every core of the machine while the main thread fetches and writes.
 * Jobs with a code extractor (functions cannot cross threads) are extracted on the calling thread.
 */
export class WorkerPoolExtractor implements PageExtractor {
  readonly #workers: Worker[] = [];
  readonly #pending = new Map<number, Pending>();
  readonly #shippable = new Set<string>();
  #next = 0;
  #round = 0;

  /**
   * @param jobs the jobs whose pages may be extracted in workers (those without code extractors are shipped)
   * @param options.threads worker threads. @default the available cores minus one (at least one)
   */
  constructor(jobs: readonly Job[], options: { threads?: number; log?: Log } = {}) {
    const plain = jobs.filter((job) => Object.values(job.templates).every((template) => template.extractor === undefined));
    for (const job of plain) this.#shippable.add(job.name);
    const threads = options.threads ?? Math.max(1, availableParallelism() - 1);
    for (let index = 0; index < threads && plain.length > 0; index++) {
      const worker = new Worker(new URL('./worker-entry.mjs', import.meta.url), { workerData: { jobs: plain } });
      worker.on('message', (reply: Reply) => {
        const pending = this.#pending.get(reply.id);
        if (!pending) return;
        this.#pending.delete(reply.id);
        if ('result' in reply) pending.resolve(reply.result);
        else pending.reject(revive(reply.error));
      });
      worker.on('error', (error) => {
        options.log?.error('parse worker failed', { error: error.message });
        for (const [id, pending] of this.#pending) {
          pending.reject(new RetryableError(`parse worker failed: ${error.message}`, 'worker-failed'));
          this.#pending.delete(id);
        }
      });
      worker.unref();
      this.#workers.push(worker);
    }
  }

  extract(html: string, job: Job, page: PageSource): Promise<PageExtraction> {
    const worker = this.#workers[this.#round++ % Math.max(1, this.#workers.length)];
    if (!worker || !this.#shippable.has(job.name)) return extractPage(html, job, page);
    const id = this.#next++;
    return new Promise<PageExtraction>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      worker.postMessage({ id, html, job: job.name, page });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((worker) => worker.terminate()));
    this.#workers.length = 0;
  }
}
