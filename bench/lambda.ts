/**
 * Lambda bundles: each `functions/<name>.ts` bundled the way cdk/constructs/function.ts bundles it (esbuild, ESM,
 * platform node, minified, the `require` banner, `@aws-sdk/*` and `@smithy/*` external as the runtime ships them),
 * then imported by ≥ 10 fresh `node` processes to time module initialisation (with the dummy configuration the
 * functions read at cold start). The external SDK resolves from the repo's node_modules, as from the runtime's.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { REPO_ROOT, runChild, type Spread, spread, TMP_DIR } from './common.js';

export const FUNCTIONS = ['fetcher', 'parser', 'postprocessor'] as const;

const BANNER = "import { createRequire } from 'module';const require = createRequire(import.meta.url);";

/** Dummy configuration: what the functions validate at cold start. */
export const LAMBDA_ENV: Record<string, string> = {
  BUCKET_NAME: 'scrapeline-bench-bucket',
  STATE_TABLE_NAME: 'scrapeline-bench-state',
  FETCH_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/000000000000/fetch',
  PARSE_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/000000000000/parse',
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'bench',
  AWS_SECRET_ACCESS_KEY: 'bench',
  POWERTOOLS_SERVICE_NAME: 'scrapeline-bench',
  LOG_LEVEL: 'ERROR',
};

export interface LambdaReport {
  readonly name: string;
  readonly skipped?: string;
  readonly bytes: number;
  readonly gzipBytes: number;
  readonly initMs: Spread;
  /** Largest inputs of the bundle (bytes in the output), to explain the size. */
  readonly topInputs: { path: string; bytes: number }[];
  /** Largest packages of the bundle. */
  readonly topPackages: { name: string; bytes: number }[];
  readonly error?: string;
}

function packageOf(path: string): string {
  const index = path.lastIndexOf('node_modules/');
  if (index < 0) return path.split('/').slice(0, 2).join('/');
  const rest = path.slice(index + 'node_modules/'.length).split('/');
  return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] ?? path);
}

export async function measureLambdas(log: (message: string) => void, processes = 12): Promise<LambdaReport[]> {
  const esbuild = await import('esbuild');
  const outDir = join(TMP_DIR, 'lambda');
  mkdirSync(outDir, { recursive: true });
  const reports: LambdaReport[] = [];
  for (const name of FUNCTIONS) {
    const entry = join(REPO_ROOT, 'functions', `${name}.ts`);
    const empty = { bytes: 0, gzipBytes: 0, initMs: spread([]), topInputs: [], topPackages: [] };
    if (!existsSync(entry)) {
      log(`lambda ${name}: functions/${name}.ts does not exist yet: skipped`);
      reports.push({ name, skipped: `functions/${name}.ts not found`, ...empty });
      continue;
    }
    const outfile = join(outDir, `${name}.mjs`);
    let metafile: import('esbuild').Metafile | undefined;
    try {
      const result = await esbuild.build({
        entryPoints: [entry],
        outfile,
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: 'node20',
        mainFields: ['module', 'main'],
        minify: true,
        banner: { js: BANNER },
        external: ['@aws-sdk/*', '@smithy/*'],
        metafile: true,
        logLevel: 'silent',
        absWorkingDir: REPO_ROOT,
      });
      metafile = result.metafile;
    } catch (error) {
      log(`lambda ${name}: bundling failed: ${(error as Error).message.slice(0, 500)}`);
      reports.push({ name, skipped: `bundling failed: ${(error as Error).message.split('\n')[0]}`, ...empty });
      continue;
    }
    const code = readFileSync(outfile);
    const output = Object.values(metafile?.outputs ?? {})[0];
    const inputs = Object.entries(output?.inputs ?? {}).map(([path, info]) => ({ path, bytes: info.bytesInOutput }));
    const packages = new Map<string, number>();
    for (const input of inputs) packages.set(packageOf(input.path), (packages.get(packageOf(input.path)) ?? 0) + input.bytes);
    const times: number[] = [];
    let error: string | undefined;
    const script =
      'const t=performance.now();const m=await import(process.argv[1]);const ms=performance.now()-t;' +
      "if(typeof m.handler!=='function')throw new Error('no handler export');" +
      "process.stdout.write('RESULT '+JSON.stringify({ms})+'\\n');process.exit(0);";
    for (let index = 0; index < processes; index++) {
      const child = await runChild<{ ms: number }>(
        [process.execPath, '--input-type=module', '-e', script, pathToFileURL(outfile).href],
        { env: LAMBDA_ENV, cwd: outDir },
      );
      if (child.result) times.push(child.result.ms);
      else {
        error = child.stderr.split('\n').find((line) => /Error/.test(line)) ?? child.stderr.slice(0, 300);
        break;
      }
    }
    log(`lambda ${name}: ${(code.length / 1024).toFixed(0)} KB, init median ${spread(times).median.toFixed(1)} ms`);
    reports.push({
      name,
      bytes: code.length,
      gzipBytes: gzipSync(code).length,
      initMs: spread(times),
      topInputs: inputs.sort((a, b) => b.bytes - a.bytes).slice(0, 10),
      topPackages: [...packages.entries()]
        .map(([pkg, bytes]) => ({ name: pkg, bytes }))
        .sort((a, b) => b.bytes - a.bytes)
        .slice(0, 10),
      ...(error ? { error } : {}),
    });
  }
  return reports;
}
