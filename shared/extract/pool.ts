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

interface Request {
  readonly html: string;
  readonly job: string;
  readonly page: PageSource;
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

/** A page that took longer than the extraction deadline (a catastrophic pattern, a pathological selector). */
export class ExtractTimeoutError extends NonRetryableError {
  override readonly name: string = 'ExtractTimeoutError';
  constructor(url: string, timeoutMs: number) {
    super(`extracting ${url} took longer than ${timeoutMs} ms; the parse worker was replaced`, 'extract-timeout');
  }
}

/** Options of {@link WorkerPoolExtractor}. */
export interface WorkerPoolOptions {
  /** Worker threads. @default the available cores minus one (at least one) */
  readonly threads?: number;
  /**
   * Deadline for one page in a worker: a worker past it is terminated and replaced, the page fails with reason
   * `extract-timeout`. @default 10_000
   */
  readonly pageTimeoutMs?: number;
  readonly log?: Log;
}

/** One worker thread and the page it is extracting (at most one at a time, so its deadline is the page's own). */
interface Slot {
  worker: Worker;
  /** Whether the worker has loaded its modules (its start-up does not count against a page's deadline). */
  ready: boolean;
  busy?: { readonly id: number; readonly request: Request; readonly timer: NodeJS.Timeout };
}

/**
 * Extraction on worker threads, so parsing uses every core of the machine while the main thread fetches and writes.
 * Each worker extracts one page at a time under a deadline; a worker that overruns it is terminated and replaced.
 * Jobs with a code extractor (functions cannot cross threads) are extracted on the calling thread.
 */
export class WorkerPoolExtractor implements PageExtractor {
  readonly #slots: Slot[] = [];
  readonly #queue: Request[] = [];
  readonly #jobs: Job[];
  readonly #shippable = new Set<string>();
  readonly #timeoutMs: number;
  readonly #log: Log | undefined;
  #next = 0;
  #closed = false;

  constructor(jobs: readonly Job[], options: WorkerPoolOptions = {}) {
    this.#jobs = jobs.filter((job) => Object.values(job.templates).every((template) => template.extractor === undefined));
    for (const job of this.#jobs) this.#shippable.add(job.name);
    this.#timeoutMs = options.pageTimeoutMs ?? 10_000;
    this.#log = options.log;
    const threads = options.threads ?? Math.max(1, availableParallelism() - 1);
    for (let index = 0; index < threads && this.#jobs.length > 0; index++) {
      const slot: Slot = { worker: this.#spawn(), ready: false };
      this.#listen(slot);
      this.#slots.push(slot);
    }
  }

  extract(html: string, job: Job, page: PageSource): Promise<PageExtraction> {
    if (this.#slots.length === 0 || !this.#shippable.has(job.name)) return extractPage(html, job, page);
    return new Promise<PageExtraction>((resolve, reject) => {
      this.#queue.push({ html, job: job.name, page, resolve, reject });
      this.#dispatch();
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const request of this.#queue.splice(0)) request.reject(new RetryableError('the parse pool closed', 'worker-failed'));
    await Promise.all(
      this.#slots.map((slot) => {
        if (slot.busy) clearTimeout(slot.busy.timer);
        return slot.worker.terminate();
      }),
    );
    this.#slots.length = 0;
  }

  #spawn(): Worker {
    const worker = new Worker(new URL('./worker-entry.mjs', import.meta.url), { workerData: { jobs: this.#jobs } });
    worker.unref();
    return worker;
  }

  #listen(slot: Slot): void {
    const worker = slot.worker;
    worker.on('message', (reply: Reply | { readonly ready: true }) => {
      if (slot.worker !== worker) return;
      if ('ready' in reply) {
        slot.ready = true;
        this.#dispatch();
        return;
      }
      const busy = slot.busy;
      if (!busy || busy.id !== reply.id) return;
      this.#settle(slot);
      if ('result' in reply) busy.request.resolve(reply.result);
      else busy.request.reject(revive(reply.error));
    });
    const failed = (message: string) => {
      if (slot.worker !== worker || this.#closed) return;
      this.#log?.error('parse worker failed', { error: message });
      const busy = slot.busy;
      const started = slot.ready;
      this.#replace(slot);
      busy?.request.reject(new RetryableError(`parse worker failed: ${message}`, 'worker-failed'));
      // A worker that cannot even start would leave the queue waiting for it: the waiting pages fail (retryable).
      if (!started) {
        for (const request of this.#queue.splice(0)) {
          request.reject(new RetryableError(`parse worker failed to start: ${message}`, 'worker-failed'));
        }
      }
    };
    worker.on('error', (error) => failed(error.message));
    worker.on('exit', (code) => failed(`exited with code ${code}`));
  }

  /** Ends the slot's page (its deadline included) and hands the worker the next one. */
  #settle(slot: Slot): void {
    if (slot.busy) clearTimeout(slot.busy.timer);
    slot.busy = undefined;
    queueMicrotask(() => this.#dispatch());
  }

  /** Terminates a slot's worker (stuck or failed) and starts a fresh one in its place. */
  #replace(slot: Slot): void {
    const old = slot.worker;
    this.#settle(slot);
    void old.terminate();
    if (this.#closed) return;
    slot.worker = this.#spawn();
    slot.ready = false;
    this.#listen(slot);
  }

  #dispatch(): void {
    for (const slot of this.#slots) {
      if (slot.busy || !slot.ready) continue;
      const request = this.#queue.shift();
      if (!request) return;
      const id = this.#next++;
      // The timer is referenced: while a page is in a worker, the process waits for it (or for its deadline).
      const timer = setTimeout(() => {
        if (slot.busy?.id !== id) return;
        this.#log?.warn('parse worker overran the page deadline; replaced', {
          url: request.page.url,
          timeoutMs: this.#timeoutMs,
        });
        this.#replace(slot);
        request.reject(new ExtractTimeoutError(request.page.url, this.#timeoutMs));
      }, this.#timeoutMs);
      slot.busy = { id, request, timer };
      slot.worker.postMessage({ id, html: request.html, job: request.job, page: request.page });
    }
  }
}
