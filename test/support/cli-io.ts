import type { CliIo } from '../../cli/common.js';

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
