import { join } from 'node:path';
import type { StageFunction } from '../../shared/stages.js';
import { PROJECT_ROOT } from '../paths.js';

/**
 * How the functions are bundled, in one place for the construct (cdk/constructs/function.ts) and the bench
 * (bench/lambda.ts), so that the bench measures what Lambda runs.
 */

/**
 * The bundles are CommonJS: the runtime's SDK is CommonJS, and Node.js loads a CommonJS package imported from an
 * ES module through its ESM loader, which lexes each package (and what it re-exports) for its named exports: about
 * 2.5 times the SDK's load time of `require` on this machine (bench/lambda.ts). For the same reason the few SDK
 * packages loaded when first needed (`import()` in the sources) are `require`d too.
 */
export const BUNDLE_FORMAT = 'cjs';

/** esbuild options of the bundles beyond NodejsFunction's own (`esbuildArgs` there, build options in the bench). */
export const ESBUILD_OPTIONS = {
  /** `import()` of an external package becomes `require()` (see {@link BUNDLE_FORMAT}). */
  supported: { 'dynamic-import': false },
  /** shared/extract/pool.ts reads `import.meta.url` for its worker threads, which Lambda does not start. */
  logOverride: { 'empty-import-meta': 'silent' },
} as const;

/** The SDK v3 the Node.js runtime ships: `@aws-sdk/*` together with the `@smithy/*` packages it is built on. */
export const RUNTIME_MODULES: readonly string[] = ['@aws-sdk/*', '@smithy/*'];

/**
 * Left out of the bundles: undici's HTTP parser without WebAssembly SIMD (70 KB), which undici loads only when the
 * SIMD build cannot be compiled; Node.js 22+ on Lambda's x86_64 and arm64 compiles it.
 */
export const OMITTED_MODULES: readonly string[] = ['*/llhttp-wasm.js'];

/**
 * Narrower entries of the same packages (each file says what it leaves out and why): about 300 KB less for the
 * fetcher, 70 KB less for the parser and the post-processor.
 */
export const BUNDLE_ALIASES: Readonly<Record<string, string>> = {
  undici: join(PROJECT_ROOT, 'cdk/bundling/undici.cjs'),
  htmlparser2: join(PROJECT_ROOT, 'cdk/bundling/htmlparser2.mjs'),
  entities: join(PROJECT_ROOT, 'cdk/bundling/entities'),
};

/**
 * Largest minified bundle of each function, in bytes, as built for the stack (test/cdk/bundle.test.ts fails past
 * it): a few percent above the size of 2026-12-01, so that what a change adds is noticed. The goals are 400 KB for
 * every bundle and 200 KB for the parser and the post-processor (README, Performance).
 */
export const BUNDLE_BUDGETS: Readonly<Record<StageFunction, number>> = {
  // 2026-12-01: +18 KB for proxies (undici's ProxyAgent, the SOCKS5 agent it requires, and its CONNECT API): 458 KB;
  // +9 KB for logins (shared/pipeline/sessions.ts, the form reader) and others' changes since: 470 KB.
  fetcher: 480 * 1024,
  // 2026-12-01: +20 KB for JSON APIs (JMESPath, @aws-lambda-powertools/jmespath, 23 KB minified): 269 KB.
  parser: 280 * 1024,
  // 2026-12-02: +1 KB for its deadline guard and hand-backs (shared/handlers.ts) and the request cutoff
  // (functions/commons/deadline.ts, in every function): 126 KB.
  postprocessor: 130 * 1024,
};

/** Log levels at which the functions enable source maps for their stack traces. */
const SOURCE_MAP_LOG_LEVELS: readonly string[] = ['DEBUG', 'TRACE'];

/**
 * `NODE_OPTIONS` of a function at a log level. Source maps are always deployed beside the bundle (`index.mjs.map`,
 * for mapping a stack trace by hand), but Node.js reads them at cold start only when asked (`--enable-source-maps`,
 * about 100 ms of the fetcher's init): at `DEBUG` and `TRACE`.
 *
 * @returns the options, or `undefined` for none
 */
export function nodeOptionsFor(logLevel: string): string | undefined {
  return SOURCE_MAP_LOG_LEVELS.includes(logLevel) ? '--enable-source-maps' : undefined;
}
