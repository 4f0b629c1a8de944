import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { NonRetryableError, RetryableError, type ScrapelineError } from '../errors.js';
import type { FailureReason } from '../failure-reasons.js';
import type { Job } from '../job/schema.js';
import type { Log, PageExtractor } from '../ports.js';
import { extractPage, type PageExtraction, type PageSource } from './page.js';

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
  | { readonly id: number; readonly error: { name: string; message: string; reason?: FailureReason; retryable?: boolean } };

/** Rebuilds an error thrown in a worker with its reason and retry class. */
function revive(error: { name: string; message: string; reason?: FailureReason; retryable?: boolean }): Error {
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
  /**
   * Times in a row a worker may fail before it is ready (its modules do not load) before its place in the pool is
   * given up; a pool left without workers fails its pages with reason `worker-failed`. @default 3
   */
  readonly maxStartFailures?: number;
  /** The module each worker thread runs. @default shared/extract/worker-entry.mjs */
  readonly entry?: URL;
  readonly log?: Log;
}

/** One worker thread and the page it is extracting (at most one at a time, so its deadline is the page's own). */
interface Slot {
  readonly worker: Worker;
  /** Whether the worker has loaded its modules (its start-up does not count against a page's deadline). */
  ready: boolean;
  /** Workers in a row before this one, in this place of the pool, that died before they were ready. */
  readonly startFailures: number;
  busy?: { readonly id: number; readonly request: Request; readonly timer: NodeJS.Timeout };
}

/**
 * Extraction on worker threads, so parsing uses every core of the machine while the main thread fetches and writes.
 * Each worker extracts one page at a time under a deadline. A worker that overruns it, crashes or exits leaves the
 * rotation at once and a fresh one takes its place: only the page it held fails, the others go on in the other
 * workers. Jobs with a code extractor (functions cannot cross threads) are extracted on the calling thread.
 */
export class WorkerPoolExtractor implements PageExtractor {
  readonly #slots: Slot[] = [];
  readonly #queue: Request[] = [];
  readonly #jobs: Job[];
  readonly #shippable = new Set<string>();
  readonly #timeoutMs: number;
  readonly #maxStartFailures: number;
  readonly #entry: URL;
  readonly #log: Log | undefined;
  /** Whether the pool has workers (or had any: a pool that lost them all fails its pages). */
  readonly #threaded: boolean;
  #next = 0;
  #closed = false;

  constructor(jobs: readonly Job[], options: WorkerPoolOptions = {}) {
    this.#jobs = jobs.filter((job) => Object.values(job.templates).every((template) => template.extractor === undefined));
    for (const job of this.#jobs) this.#shippable.add(job.name);
    this.#timeoutMs = options.pageTimeoutMs ?? 10_000;
    this.#maxStartFailures = options.maxStartFailures ?? 3;
    this.#entry = options.entry ?? new URL('./worker-entry.mjs', import.meta.url);
    this.#log = options.log;
    const threads = this.#jobs.length > 0 ? (options.threads ?? Math.max(1, availableParallelism() - 1)) : 0;
    this.#threaded = threads > 0;
    for (let index = 0; index < threads; index++) this.#start(0);
  }

  /** Worker threads in the rotation now (started or starting). */
  get workers(): number {
    return this.#slots.length;
  }

  extract(html: string, job: Job, page: PageSource): Promise<PageExtraction> {
    if (!this.#threaded || !this.#shippable.has(job.name)) return extractPage(html, job, page);
    if (this.#slots.length === 0) return Promise.reject(this.#noWorkers());
    return new Promise<PageExtraction>((resolve, reject) => {
      this.#queue.push({ html, job: job.name, page, resolve, reject });
      this.#dispatch();
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const request of this.#queue.splice(0)) request.reject(new RetryableError('the parse pool closed', 'worker-failed'));
    const slots = this.#slots.splice(0);
    await Promise.all(
      slots.map((slot) => {
        if (slot.busy) clearTimeout(slot.busy.timer);
        return slot.worker.terminate();
      }),
    );
  }

  #noWorkers(): RetryableError {
    return new RetryableError('no parse worker could start', 'worker-failed');
  }

  /** Starts a worker in a new place of the rotation. */
  #start(startFailures: number): void {
    const worker = new Worker(this.#entry, { workerData: { jobs: this.#jobs } });
    worker.unref();
    const slot: Slot = { worker, ready: false, startFailures };
    this.#slots.push(slot);
    worker.on('message', (reply: Reply | { readonly ready: true }) => {
      if (!this.#slots.includes(slot)) return;
      if ('ready' in reply) {
        slot.ready = true;
        this.#dispatch();
        return;
      }
      const busy = slot.busy;
      if (!busy || busy.id !== reply.id) return;
      this.#free(slot);
      if ('result' in reply) busy.request.resolve(reply.result);
      else busy.request.reject(revive(reply.error));
      this.#dispatch();
    });
    const died = (message: string) => {
      if (!this.#slots.includes(slot) || this.#closed) return;
      this.#log?.error('parse worker failed', { error: message, started: slot.ready });
      const busy = slot.busy;
      this.#retire(slot);
      busy?.request.reject(new RetryableError(`parse worker failed: ${message}`, 'worker-failed'));
    };
    worker.on('error', (error) => died(error.message));
    worker.on('exit', (code) => died(`exited with code ${code}`));
    // A reply that cannot be deserialized never arrives: the worker is no longer trusted with pages.
    worker.on('messageerror', (error) => died(`sent a message that could not be read: ${error.message}`));
  }

  /** Ends the slot's page and its deadline. */
  #free(slot: Slot): void {
    if (slot.busy) clearTimeout(slot.busy.timer);
    slot.busy = undefined;
  }

  /**
   * Takes a dead or stuck worker out of the rotation, terminates it and starts a fresh one in its place, unless
   * workers in this place keep dying before they are ready. Pages wait for the other workers; with none left, they fail.
   */
  #retire(slot: Slot): void {
    this.#free(slot);
    this.#slots.splice(this.#slots.indexOf(slot), 1);
    void slot.worker.terminate();
    if (this.#closed) return;
    const startFailures = slot.ready ? 0 : slot.startFailures + 1;
    if (startFailures < this.#maxStartFailures) this.#start(startFailures);
    else this.#log?.error('parse worker failed to start too often; its place in the pool is given up', { startFailures });
    if (this.#slots.length === 0) {
      const error = this.#noWorkers();
      for (const request of this.#queue.splice(0)) request.reject(error);
      return;
    }
    this.#dispatch();
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
        this.#retire(slot);
        request.reject(new ExtractTimeoutError(request.page.url, this.#timeoutMs));
      }, this.#timeoutMs);
      slot.busy = { id, request, timer };
      slot.worker.postMessage({ id, html: request.html, job: request.job, page: request.page });
    }
  }
}
