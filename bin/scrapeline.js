#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, so jobs written in TypeScript load without a build step.
import { register } from 'tsx/esm/api';

register();
const { main, processIo } = await import('../cli/main.ts');
process.exitCode = await main(process.argv.slice(2), processIo);
