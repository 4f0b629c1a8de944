// Compiles the CLI (and any other entry point of the repository) to plain JavaScript with esbuild, so that it runs
// without tsx: the tsx loader runs its hooks on a thread of their own and costs about 60 MB of memory a process (and
// as much again in each extraction worker), which the local runtime's memory budget cannot spare.
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root. */
export const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The folders whose sources the compiled CLI is built from (a change in any of them makes it stale). */
const SOURCE_DIRS = ['cli', 'shared', 'demo'];

/** Newest modification time (ms) of a file, or of the files under a folder; 0 when it does not exist. */
async function newestMtime(path) {
  const found = await stat(path).catch((error) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (!found) return 0;
  if (!found.isDirectory()) return found.mtimeMs;
  let newest = 0;
  const entries = await readdir(path, { withFileTypes: true, recursive: true });
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const { mtimeMs } = await stat(join(entry.parentPath ?? entry.path, entry.name));
    if (mtimeMs > newest) newest = mtimeMs;
  }
  return newest;
}

/**
 * Bundles `entryPoints` (output name → source path, relative to the repository) into `outdir` as `<name>.mjs`,
 * when any output is missing or older than a source under `sourceDirs` or package.json. Packages stay imports of
 * node_modules, resolved from where the output lies, unless `bundlePackages` (then only imports by a computed name
 * stay imports). The extraction worker is always built beside them as `worker-entry.mjs`: the worker pool starts
 * `./worker-entry.mjs` beside the module that holds it. Outputs are written to a scratch folder and renamed into
 * place, the worker first, so a concurrent process never runs half a build.
 * @returns the path of each output, by name.
 */
export async function compile(entryPoints, outdir, sourceDirs = SOURCE_DIRS, { bundlePackages = false } = {}) {
  const all = { ...entryPoints, 'worker-entry': 'shared/extract/worker.ts' };
  const outputs = Object.fromEntries(Object.keys(all).map((name) => [name, join(outdir, `${name}.mjs`)]));
  const built = await Promise.all(
    Object.values(outputs).map((file) =>
      stat(file).then(
        (s) => s.mtimeMs,
        () => 0,
      ),
    ),
  );
  const sources = Math.max(
    ...(await Promise.all([...sourceDirs, ...Object.values(entryPoints)].map((dir) => newestMtime(join(ROOT, dir))))),
    (await stat(join(ROOT, 'package.json'))).mtimeMs,
  );
  if (Math.min(...built) > sources) return outputs;
  const { build } = await import('esbuild');
  const scratch = join(outdir, `.build-${process.pid}-${Date.now()}`);
  await mkdir(scratch, { recursive: true });
  try {
    await build({
      absWorkingDir: ROOT,
      entryPoints: Object.fromEntries(Object.entries(all).map(([name, source]) => [name, join(ROOT, source)])),
      outdir: scratch,
      outExtension: { '.js': '.mjs' },
      bundle: true,
      platform: 'node',
      format: 'esm',
      // Modules imported with import() become chunks of their own, loaded when first imported: the CLI's cloud
      // commands and their AWS SDK clients (about 40 MB) stay out of a local run.
      splitting: true,
      chunkNames: 'chunk-[hash]',
      target: 'node20',
      packages: bundlePackages ? 'bundle' : 'external',
      // Bundled CommonJS packages call require(), which an ES module has only when given one.
      banner: bundlePackages
        ? { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" }
        : {},
      sourcemap: 'linked',
      logLevel: 'warning',
    });
    // Shared chunks first (named by their content: a process running the previous build keeps its own), then the
    // worker, then the entry points.
    for (const file of await readdir(scratch)) {
      if (file.startsWith('chunk-')) await rename(join(scratch, file), join(outdir, file));
    }
    for (const name of ['worker-entry', ...Object.keys(entryPoints)]) {
      await rename(join(scratch, `${name}.mjs.map`), join(outdir, `${name}.mjs.map`));
      await rename(join(scratch, `${name}.mjs`), outputs[name]);
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  return outputs;
}

/** The compiled CLI (`dist/scrapeline.mjs`), built first if it is missing or stale. */
export async function compiledCli() {
  const outputs = await compile({ scrapeline: 'cli/main.ts' }, join(ROOT, 'dist'));
  return outputs.scrapeline;
}

/**
 * Whether esbuild is installed (it is a devDependency: an install without them runs the CLI through tsx). Resolved,
 * not imported: loading it costs every start about 13 MB and 50 ms, and it is needed only when the CLI is rebuilt.
 */
export async function canCompile() {
  try {
    createRequire(import.meta.url).resolve('esbuild');
    return true;
  } catch {
    return false;
  }
}
