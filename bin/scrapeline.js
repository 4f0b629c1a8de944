#!/usr/bin/env node
// Runs the CLI compiled to plain JavaScript (dist/, rebuilt when a source is newer), so a run carries no TypeScript
// loader; job files written in TypeScript still load, through tsx registered when the first one is read. An install
// without devDependencies has no esbuild: the CLI then runs from its TypeScript sources through tsx.
import { canCompile, compiledCli } from './compile.js';

let cli;
if (await canCompile()) {
  process.setSourceMapsEnabled(true);
  cli = await import(await compiledCli());
} else {
  const { register } = await import('tsx/esm/api');
  register();
  cli = await import('../cli/main.ts');
}
process.exitCode = await cli.main(process.argv.slice(2), cli.processIo);
