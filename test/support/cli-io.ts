import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { CliIo } from '../../cli/common.js';
import type { DemoServer } from '../../demo/server.js';
import type { Site } from '../../demo/site.js';
import { FileSystemObjectStore } from '../../shared/local/object-store.js';
import type { RunManifest } from '../../shared/pipeline/finalize.js';
import { type Row, readManifest, runRows } from '../../shared/query.js';
import { collect } from '../fixtures/iterables.js';

/** A CLI io that captures what a command writes. */
export function capture(env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    stdout: { write: (text) => void out.push(text) },
    stderr: { write: (text) => void err.push(text) },
    interactive: false,
    env,
  };
  return { io, stdout: () => out.join(''), stderr: () => err.join('') };
}

/** The CLI arguments of a `run` of the demo job against a local demo server, keeping its state in `dataDir`. */
export function demoRunArgs(dataDir: string, serverUrl: string): string[] {
  return [
    'run',
    'books',
    '--data-dir',
    dataDir,
    '--start-url',
    `${serverUrl}/catalogue/page-1.html`,
    '--allow-address',
    '127.0.0.1',
  ];
}

/** The CLI arguments that resume run `runId` of the demo job, whose state is kept in `dataDir`. */
export function demoResumeArgs(dataDir: string, runId: string): string[] {
  return ['run', 'books', '--data-dir', dataDir, '--resume', runId, '--allow-address', '127.0.0.1'];
}

/** A CLI io that discards what a command writes. */
export const quietIo: CliIo = { stdout: { write: () => {} }, stderr: { write: () => {} }, interactive: false, env: {} };

/** How a {@link killedDemoRun} ended. */
export interface KilledRun {
  /** -1 when the process ended by a signal, else its exit code. */
  readonly exit: number | null;
  /** The run ids the process left in the data folder. */
  readonly runs: string[];
}

/**
 * Runs the demo job in a CLI process as users start it (`bin/scrapeline.js`, the compiled CLI, which registers a
 * TypeScript loader for the demo's TypeScript job; `scrapeline run books`, {@link demoRunArgs}) and kills it with
 * SIGKILL once `server` has answered `requests` requests, or after 60 s.
 */
export async function killedDemoRun(
  dataDir: string,
  server: Pick<DemoServer, 'url' | 'requests'>,
  requests: number,
): Promise<KilledRun> {
  const child = spawn(process.execPath, ['bin/scrapeline.js', ...demoRunArgs(dataDir, server.url)], {
    stdio: 'ignore',
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code, signal) => resolve(signal ? -1 : code)));
  const deadline = Date.now() + 60_000;
  while (server.requests.length < requests && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  child.kill('SIGKILL');
  const exit = await exited;
  return { exit, runs: await readdir(join(dataDir, 'store', 'runs', 'books')) };
}

/** The keys of every item of the demo site: its books, authors and quotes. */
export function demoItemKeys(site: Site): string[] {
  return [
    ...site.books.map((book) => book.upc),
    ...site.authors.map((author) => author.name),
    ...site.quotes.map((quote) => quote.id),
  ];
}

/** The manifest and dataset rows of run `runId` of `job`, kept in the local data folder `dataDir`. */
export async function storedRun(dataDir: string, job: string, runId: string): Promise<{ manifest: RunManifest; rows: Row[] }> {
  const store = new FileSystemObjectStore({ root: join(dataDir, 'store') });
  const manifest = await readManifest(store, job, runId);
  if (!manifest) throw new Error(`run ${runId} of ${job} has no manifest`);
  return { manifest, rows: await collect(runRows(store, manifest)) };
}
