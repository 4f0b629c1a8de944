/** Shared helpers of the benchmark harness: child processes, /proc sampling, statistics, machine info. */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compile } from '../bin/compile.js';

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = resolve(BENCH_DIR, '..');
export const RESULTS_DIR = join(BENCH_DIR, 'results');
export const TMP_DIR = join(RESULTS_DIR, 'tmp');

/** Clock ticks per second for /proc/<pid>/stat (100 on Linux). */
const CLK_TCK = 100;

/** User + system CPU seconds of a live process, from /proc (undefined when gone or not on Linux). */
export function procCpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start at ") ".
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return undefined;
  }
}

/** Resident set size of a live process in MB, from /proc. */
export function procRssMb(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+) kB/m.exec(status);
    return match ? Number(match[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

export interface ChildResult<T> {
  readonly result: T | undefined;
  /** Everything printed on stdout (the last 200 KB). */
  readonly stdout: string;
  readonly code: number | null;
  readonly stderr: string;
  readonly wallMs: number;
  /** RSS samples taken from /proc by the parent every `sampleMs` (MB). */
  readonly rssSamples: { t: number; mb: number }[];
}

export interface RunChildOptions {
  readonly env?: Record<string, string>;
  readonly timeoutMs?: number;
  /** Pin the child to this CPU list with taskset (e.g. "1"). */
  readonly cpus?: string;
  readonly sampleMs?: number;
  readonly cwd?: string;
}

/**
 * `node <script compiled to JavaScript>`: a bench script bundled like the CLI that users run (`bin/scrapeline.js`
 * runs `dist/`), so that the measured process carries no TypeScript loader (about 60 MB, and as much in each
 * extraction worker). Rebuilt when a source under shared/ or bench/ is newer. The pipeline's packages stay imports
 * of the repository's node_modules. A script that imports another tool by a computed name (`import(specifier)`:
 * the tools compared with scrapeline, installed in bench/node_modules, some in other versions of the same packages)
 * has the packages it names statically bundled, and the tool resolved from the bench's node_modules.
 */
export async function compiledNode(
  script: string,
  args: readonly string[] = [],
  packagesFrom: 'repository' | 'bench' = 'repository',
): Promise<string[]> {
  const name = basename(script, '.ts');
  const outdir = join(packagesFrom === 'repository' ? join(REPO_ROOT, 'dist') : TMP_DIR, 'bench');
  const outputs = await compile({ [name]: join('bench', script) }, outdir, ['shared', 'bench'], {
    bundlePackages: packagesFrom === 'bench',
  });
  return [process.execPath, '--enable-source-maps', outputs[name] as string, ...args];
}

/** `node --import tsx <script>`: one process (the tsx CLI would add a wrapper process). */
export function tsNode(script: string, args: readonly string[] = []): string[] {
  return [process.execPath, '--import', 'tsx', join(BENCH_DIR, script), ...args];
}

/**
 * Runs a command in a fresh process and returns the JSON it printed on a `RESULT ` line. The parent samples the
 * child's RSS from /proc meanwhile (the child also reports its own peak from getrusage).
 */
export function runChild<T>(command: readonly string[], options: RunChildOptions = {}): Promise<ChildResult<T>> {
  const [file, ...args] = options.cpus && hasTaskset() ? ['taskset', '-c', options.cpus, ...command] : command;
  return new Promise((resolvePromise) => {
    const started = performance.now();
    const child: ChildProcess = spawn(file as string, args, {
      cwd: options.cwd ?? REPO_ROOT,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (stdout.length > 400_000) stdout = stdout.slice(-200_000);
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      if (stderr.length > 200_000) stderr = stderr.slice(-100_000);
    });
    const rssSamples: { t: number; mb: number }[] = [];
    const sampler = setInterval(() => {
      if (child.pid === undefined) return;
      const mb = procRssMb(child.pid);
      if (mb !== undefined) rssSamples.push({ t: Math.round(performance.now() - started), mb: Math.round(mb) });
    }, options.sampleMs ?? 250);
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 20 * 60_000);
    child.on('close', (code) => {
      clearInterval(sampler);
      clearTimeout(timer);
      const line = stdout.split('\n').find((row) => row.startsWith('RESULT '));
      resolvePromise({
        result: line ? (JSON.parse(line.slice('RESULT '.length)) as T) : undefined,
        stdout,
        code,
        stderr,
        wallMs: performance.now() - started,
        rssSamples,
      });
    });
  });
}

let tasksetAvailable: boolean | undefined;
export function hasTaskset(): boolean {
  tasksetAvailable ??= which('taskset') !== undefined;
  return tasksetAvailable;
}

export function which(command: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** A fixture server in its own process. */
export interface ServerProcess {
  readonly url: string;
  readonly pid: number;
  readonly info: { bytes: number; paths: number; renderMs: number };
  cpuSeconds(): number | undefined;
  stop(): Promise<void>;
}

export function startServerProcess(options: object): Promise<ServerProcess> {
  return new Promise((resolvePromise, reject) => {
    const [file, ...args] = tsNode('server.ts', [JSON.stringify(options)]);
    const child = spawn(file as string, args, {
      cwd: REPO_ROOT,
      stdio: ['pipe', 'pipe', 'inherit'],
      env: { ...process.env, NODE_OPTIONS: '--max-old-space-size=8192' },
    });
    let buffer = '';
    const onData = (chunk: string) => {
      buffer += chunk;
      const line = buffer.split('\n').find((row) => row.startsWith('READY '));
      if (!line || child.pid === undefined) return;
      child.stdout?.off('data', onData);
      const ready = JSON.parse(line.slice('READY '.length)) as { url: string; bytes: number; paths: number; renderMs: number };
      const pid = child.pid;
      resolvePromise({
        url: ready.url,
        pid,
        info: ready,
        cpuSeconds: () => procCpuSeconds(pid),
        stop: () =>
          new Promise<void>((done) => {
            if (child.exitCode !== null) return done();
            child.once('close', () => done());
            child.stdin?.end();
            setTimeout(() => child.kill('SIGKILL'), 5000).unref();
          }),
      });
    };
    child.stdout?.setEncoding('utf8').on('data', onData);
    child.once('error', reject);
    child.once('close', (code) => reject(new Error(`fixture server exited with ${code} before it was ready`)));
  });
}

export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly n: number;
}

export function spread(values: readonly number[]): Spread {
  const sorted = values.filter((value) => Number.isFinite(value)).sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, n: 0 };
  const mid = Math.floor(n / 2);
  const median = n % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  return { median, min: sorted[0] as number, max: sorted[n - 1] as number, n };
}

/** `123 (110–130)` with the given number of decimals. */
export function formatSpread(value: Spread, decimals = 0): string {
  if (value.n === 0) return 'n/a';
  const f = (x: number) => x.toFixed(decimals);
  return value.n === 1 ? f(value.median) : `${f(value.median)} (${f(value.min)}–${f(value.max)})`;
}

export interface MachineInfo {
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryGb: number;
  readonly node: string;
  readonly platform: string;
  readonly date: string;
  readonly commit: string | undefined;
}

export function machineInfo(): MachineInfo {
  let commit: string | undefined;
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
  } catch {
    commit = undefined;
  }
  const model = cpus()[0]?.model ?? 'unknown';
  return {
    cpuModel: model,
    cores: cpus().length,
    memoryGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    date: new Date().toISOString(),
    commit,
  };
}

/** Whether the bench's own dependencies (`cd bench && npm ci`) are installed. */
export function benchDepsInstalled(): boolean {
  return existsSync(join(BENCH_DIR, 'node_modules', '@crawlee', 'cheerio', 'package.json'));
}

/** Prints a plain text table. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: readonly string[]) => `| ${cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join(' | ')} |`;
  return [line(headers), `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

/** A Python interpreter that can import Scrapy (Debian's python3-scrapy lives in /usr/bin/python3), or undefined. */
export function scrapyPython(): { python: string; version: string } | undefined {
  for (const python of ['/usr/bin/python3', 'python3']) {
    try {
      const version = execFileSync(python, ['-c', 'import scrapy; print(scrapy.__version__)'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim();
      return { python, version };
    } catch {
      // next candidate
    }
  }
  return undefined;
}
