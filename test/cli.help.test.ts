import { describe, expect, it } from 'vitest';
import { COMMAND_SPECS } from '../cli/commands.js';
import { EXIT } from '../cli/common.js';
import { main } from '../cli/main.js';
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

  it('sql --help keeps its usage lines and its own exit codes after the options', async () => {
    const help = await helpOf('sql');
    expect(help).toMatch(/^Usage: scrapeline sql "<query>" --stack <name>/);
    expect(help).toContain('       scrapeline sql --tables --stack <name>');
    expect(help).toMatch(/ {2}-h, --help +this help\n\nExit codes: 0 ok, 1 the query failed/);
  });

  it('every command is listed by the top-level help', async () => {
    const top = await helpOf('help');
    for (const command of Object.keys(COMMAND_SPECS)) expect(top).toMatch(new RegExp(`^  ${command} `, 'm'));
  });

  it('options a command does not use are refused, not silently ignored', async () => {
    const io = capture();
    expect(await main(['validate', '--data-dir', 'x'], io.io)).toBe(EXIT.usage);
    expect(io.stderr()).toContain("validate: Unknown option '--data-dir'");
  });
});
