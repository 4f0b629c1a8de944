import { fileURLToPath } from 'node:url';

/** The repository root: where `package.json`, `package-lock.json`, `jobs/` and `functions/` live. */
export const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));
