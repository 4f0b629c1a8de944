/** The repository's root folder. */
export const ROOT: string;
/**
 * Bundles `entryPoints` (output name → source path relative to the repository) into `outdir` as `<name>.mjs`, with
 * the extraction worker beside them as `worker-entry.mjs`, when an output is missing or older than a source under
 * `sourceDirs` (default cli, shared, demo) or package.json. Packages stay imports, resolved from `outdir` at run
 * time, unless `bundlePackages` (default false). Returns each output's path by name.
 */
export function compile(
  entryPoints: Readonly<Record<string, string>>,
  outdir: string,
  sourceDirs?: readonly string[],
  options?: { readonly bundlePackages?: boolean },
): Promise<Record<string, string>>;
/** The compiled CLI (`dist/scrapeline.mjs`), built first if it is missing or stale. */
export function compiledCli(): Promise<string>;
/** Whether esbuild is installed (a devDependency). */
export function canCompile(): Promise<boolean>;
