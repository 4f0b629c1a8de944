import type { LoadJobOptions } from '../shared/job/load.js';

let registered: Promise<void> | undefined;

/**
 * Makes sure job files written in TypeScript can be imported. Run from its TypeScript sources (tsx, vitest), the
 * CLI already has a loader; compiled to JavaScript (`bin/scrapeline.js` runs `dist/`), it registers tsx once, when the
 * first TypeScript job file is read, so a run of a YAML job carries no loader thread.
 */
export function registerTypeScriptLoader(): Promise<void> {
  registered ??= (async () => {
    if (import.meta.url.endsWith('.ts')) return;
    const { register } = await import('tsx/esm/api');
    register();
  })();
  return registered;
}

/** The job loading options of every CLI command. */
export const CLI_JOB_LOADING: LoadJobOptions = { typeScriptLoader: registerTypeScriptLoader };
