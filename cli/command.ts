import { AthenaQueryFailedError, AthenaQueryTimeoutError } from '../shared/athena/errors.js';
import { describeError } from '../shared/errors.js';
import { JobValidationError } from '../shared/job/errors.js';
import type { CloudServices } from './cloud.js';
import { type CliIo, EXIT, StackLookupError, UsageError } from './common.js';
import { type CommandSpec, commandHelp, type OptionTable, parseCommandArgs } from './options.js';

/** What a command runs with besides its arguments: the streams and environment, and the AWS clients to use. */
export interface CommandContext {
  readonly io: CliIo;
  /**
   * Clients for commands against a deployed stack (tests inject clients pointed at local peers). A function, so that
   * a local command never loads the AWS SDK (about 40 MB of memory).
   */
  readonly cloud: () => Promise<CloudServices>;
}

/** A command's arguments as its option table parses them. */
export type ParsedArgs<T extends OptionTable> = ReturnType<typeof parseCommandArgs<T>>;

/**
 * One command of the CLI: the option table it parses, the help written from that same table, and what it does.
 * Built by {@link defineCommand}, so that no command can list an option it does not parse, or parse one it does not list.
 */
export interface CliCommand {
  readonly options: OptionTable;
  readonly help: string;
  /** Parses `args`, prints the help for `--help`, else runs; errors are thrown (see {@link runCommand}). */
  run(args: string[], context: CommandContext): Promise<number>;
}

/** A command from its spec (usage, description, options) and its action on the parsed arguments. */
export function defineCommand<T extends OptionTable>(
  name: string,
  spec: CommandSpec<T>,
  action: (parsed: ParsedArgs<T>, context: CommandContext) => Promise<number>,
): CliCommand {
  const help = commandHelp(spec);
  return {
    options: spec.options,
    help,
    async run(args, context) {
      const parsed = parseCommandArgs(name, args, spec);
      if ((parsed.values as { help?: boolean }).help) {
        context.io.stdout.write(`${help}\n`);
        return EXIT.ok;
      }
      return action(parsed, context);
    },
  };
}

/**
 * A command whose action lives in a module loaded only when it runs: its help and options do not load it (nor the
 * AWS SDK clients it may import).
 */
export function lazyCommand<T extends OptionTable>(spec: CommandSpec<T>, load: () => Promise<CliCommand>): CliCommand {
  return {
    options: spec.options,
    help: commandHelp(spec),
    run: async (args, context) => (await load()).run(args, context),
  };
}

/**
 * Writes a command's error to stderr and returns its exit code: the one place errors become exit codes. A usage
 * mistake, an invalid job or a stack that is missing (or lacks an output) is 2, with its message; a failed or timed
 * out Athena query is 1, with Athena's reason; anything else is 1, as `error: <message>`.
 */
export function reportError(io: CliIo, error: unknown): number {
  if (error instanceof UsageError || error instanceof JobValidationError || error instanceof StackLookupError) {
    io.stderr.write(`${error.message}\n`);
    return EXIT.usage;
  }
  if (error instanceof AthenaQueryFailedError || error instanceof AthenaQueryTimeoutError) {
    io.stderr.write(`${error.message}\n`);
    return EXIT.error;
  }
  io.stderr.write(`error: ${describeError(error)}\n`);
  return EXIT.error;
}

/** Runs a command to its exit code: nothing is thrown. */
export async function runCommand(command: CliCommand, args: string[], context: CommandContext): Promise<number> {
  try {
    return await command.run(args, context);
  } catch (error) {
    return reportError(context.io, error);
  }
}
