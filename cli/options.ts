import { parseArgs } from 'node:util';
import { describeError } from '../shared/errors.js';
import { UsageError } from './common.js';

/** One command-line option: what `parseArgs` needs, plus what its help line says. */
export interface CliOption {
  readonly type: 'string' | 'boolean';
  readonly multiple?: boolean;
  readonly short?: string;
  /** How the value is written in help, e.g. `<url>`; none for a boolean. */
  readonly value?: string;
  /** The help line (may span lines: `\n` continues at the description column). */
  readonly help: string;
}

/** A command's options, in the order its help lists them. */
export type OptionTable = Readonly<Record<string, CliOption>>;

/** A command: its usage and description (above the options), and the one table that both parses and documents it. */
export interface CommandSpec<T extends OptionTable = OptionTable> {
  readonly usage: string;
  readonly description: string;
  readonly options: T;
  /** A paragraph after the options (exit codes of their own, say). @default none */
  readonly footer?: string;
}

const COLUMN = 21;

function label(name: string, option: CliOption): string {
  const flag = option.short ? `-${option.short}, --${name}` : `--${name}`;
  return option.value ? `${flag} ${option.value}` : flag;
}

/** The options section of a command's help, one entry per option of its table. */
export function optionLines(options: OptionTable): string {
  const pad = ' '.repeat(COLUMN);
  return Object.entries(options)
    .map(([name, option]) => {
      const head = `  ${label(name, option)}`;
      const [first = '', ...rest] = option.help.split('\n');
      const lines = head.length < COLUMN - 1 ? [`${head.padEnd(COLUMN)}${first}`] : [head, `${pad}${first}`];
      return [...lines, ...rest.map((line) => `${pad}${line}`)].join('\n');
    })
    .join('\n');
}

/** The whole help of a command: usage, description, then every option it accepts (and no other). */
export function commandHelp(spec: CommandSpec): string {
  const footer = spec.footer === undefined ? '' : `\n\n${spec.footer}`;
  return `${spec.usage}\n\n${spec.description}\n\nOptions:\n${optionLines(spec.options)}${footer}`;
}

/** Parses a command's arguments with its option table; a mistake is a {@link UsageError} (exit code 2). */
export function parseCommandArgs<T extends OptionTable>(command: string, args: string[], spec: CommandSpec<T>) {
  try {
    return parseArgs({ args, options: spec.options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(`${command}: ${describeError(error)}`);
  }
}
