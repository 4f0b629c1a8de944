import { describe, expect, it } from 'vitest';
import { COMMAND_SPECS } from '../cli/commands.js';
import { EXIT } from '../cli/common.js';
import { main } from '../cli/main.js';
import { SQL_HELP, SQL_OPTIONS } from '../cli/sql.js';
import { capture } from './support/cli-io.js';

/** The `--name` options a help text lists. */
function listedOptions(help: string): Set<string> {
  return new Set([...help.matchAll(/^\s+(?:-\w, )?--([a-z-]+)/gm)].map((match) => match[1] ?? ''));
}

async function helpOf(command: string): Promise<string> {
  const io = capture();
  expect(await main([command, '--help'], io.io)).toBe(EXIT.ok);
  return io.stdout();
}

describe('command help', () => {
  it('extract --help names --allow-address, which fetching a site on 127.0.0.1 needs', async () => {
    const help = await helpOf('extract');
    expect(help).toContain('--allow-address <ip|cidr>');
    expect(help).toContain('--allow-address 127.0.0.1');
  });

  it.each(Object.keys(COMMAND_SPECS))('%s --help lists exactly the options the command parses', async (command) => {
    const spec = COMMAND_SPECS[command];
    if (!spec) throw new Error(command);
    expect([...listedOptions(await helpOf(command))].sort()).toEqual(Object.keys(spec.options).sort());
    // `scrapeline help <command>` prints the same.
    const io = capture();
    expect(await main(['help', command], io.io)).toBe(EXIT.ok);
    expect(io.stdout()).toBe(await helpOf(command));
  });

  it.each(Object.keys(COMMAND_SPECS))('%s refuses an option its help does not list', async (command) => {
    const io = capture();
    expect(await main([command, '--no-such-option'], io.io)).toBe(EXIT.usage);
    expect(io.stderr()).toContain(`${command}: Unknown option '--no-such-option'`);
  });

  it('sql --help lists exactly the options sql parses', async () => {
    expect([...listedOptions(SQL_HELP)].sort()).toEqual(Object.keys(SQL_OPTIONS).sort());
    expect(await helpOf('sql')).toContain(SQL_HELP);
  });

  it('options a command does not use are refused, not silently ignored', async () => {
    const io = capture();
    expect(await main(['validate', '--data-dir', 'x'], io.io)).toBe(EXIT.usage);
    expect(io.stderr()).toContain("validate: Unknown option '--data-dir'");
  });
});
