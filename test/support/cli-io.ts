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
