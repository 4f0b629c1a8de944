import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLE_BUDGETS } from '../../cdk/bundling/options.js';
import { PROJECT_ROOT } from '../../cdk/paths.js';
import { ScrapelineStack } from '../../cdk/stack.js';
import type { StageFunction } from '../../shared/stages.js';
import { cleanUp, defined, logicalId, testApp, twoJobs } from './support.js';

afterAll(cleanUp);

/** The one test that bundles for real: the three functions, with the local esbuild (no Docker). */
describe('Bundling', () => {
  const bundles = new Map<string, { code: string; dir: string }>();

  beforeAll(async () => {
    // Prepare
    // Inside the project, so that the bundles resolve the SDK (external, as in Lambda) from node_modules.
    const app = testApp({ bundle: true, outdirParent: join(PROJECT_ROOT, '.tmp') });
    const stack = new ScrapelineStack(app, 'Bundled', { jobs: await twoJobs() });

    // Act
    const template = Template.fromStack(stack);

    // Assess (collect)
    const functions = template.findResources('AWS::Lambda::Function');
    for (const [name, fn] of [
      ['fetcher', stack.fetcher],
      ['parser', stack.parser],
      ['postprocessor', stack.postprocessor],
    ] as const) {
      const key = defined(functions[logicalId(fn.function)], `the ${name} function`).Properties.Code.S3Key as string;
      const dir = join(app.outdir, `asset.${key.replace(/\.zip$/, '')}`);
      bundles.set(name, { dir, code: readFileSync(join(dir, 'index.js'), 'utf8') });
      // In Lambda, /var/task has no package.json: index.js is CommonJS. Here the project's says "type": "module".
      copyFileSync(join(dir, 'index.js'), join(dir, 'index.cjs'));
    }
  }, 120_000);

  it('builds each function into a CommonJS module that exports the handler and requires the SDK', () => {
    // Assess
    expect([...bundles.keys()]).toEqual(['fetcher', 'parser', 'postprocessor']);
    for (const { code } of bundles.values()) {
      expect(code).toMatch(/\bmodule\.exports\s*=/);
      expect(code).not.toMatch(/^import\s|\bimport\s*\(\s*"@aws-sdk/m);
      expect(code).toMatch(/require\("@aws-sdk\/client-s3"\)/);
    }
  });

  it('loads as a CommonJS module and configures itself at cold start from the environment the stack sets', () => {
    // Prepare
    const env = {
      PATH: process.env.PATH,
      AWS_REGION: 'us-east-1',
      BUCKET_NAME: 'scrapeline-bucket',
      STATE_TABLE_NAME: 'scrapeline-state',
      FETCH_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/fetch',
      PARSE_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/parse',
      POSTPROCESS_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/postprocess',
      POWERTOOLS_SERVICE_NAME: 'Scrapeline',
      POWERTOOLS_METRICS_NAMESPACE: 'Scrapeline',
      LOG_LEVEL: 'INFO',
    };

    for (const { dir } of bundles.values()) {
      // Act
      const output = execFileSync(
        process.execPath,
        ['--no-warnings', '-e', `console.log(typeof require(${JSON.stringify(join(dir, 'index.cjs'))}).handler);`],
        { env, encoding: 'utf8' },
      );

      // Assess
      expect(output.trim()).toBe('function');
    }
  });

  it('loads the Secrets Manager and SSM packages only when a secret is read, not at cold start', () => {
    // Prepare
    const { dir, code } = defined(bundles.get('fetcher'), 'the fetcher bundle');
    const loaded = `const f = require(${JSON.stringify(join(dir, 'index.cjs'))}); console.log(JSON.stringify(Object.keys(require.cache).filter((k) => /client-(secrets-manager|ssm)/.test(k)).length));`;

    // Act
    const output = execFileSync(process.execPath, ['--no-warnings', '-e', loaded], {
      env: {
        PATH: process.env.PATH,
        AWS_REGION: 'us-east-1',
        BUCKET_NAME: 'scrapeline-bucket',
        STATE_TABLE_NAME: 'scrapeline-state',
        FETCH_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/fetch',
        PARSE_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/parse',
      },
      encoding: 'utf8',
    });

    // Assess: the fetcher can read them (the packages are required inside the source that reads)
    expect(output.trim()).toBe('0');
    expect(code).toMatch(/require\("@aws-sdk\/client-secrets-manager"\)/);
    expect(code).toMatch(/require\("@aws-sdk\/client-ssm"\)/);
  });

  it('links a source map and leaves the SDK v3 to the runtime', () => {
    // Assess
    for (const { code, dir } of bundles.values()) {
      expect(existsSync(join(dir, 'index.js.map'))).toBe(true);
      expect(code).toMatch(/\/\/# sourceMappingURL=index\.js\.map\s*$/);
      expect(code).not.toContain('class S3Client');
    }
  });

  it('keeps each bundle within its size budget (cdk/bundling/options.ts: raise it only with a reason)', () => {
    // Assess
    for (const [name, { dir }] of bundles) {
      const budget = BUNDLE_BUDGETS[name as StageFunction];
      const bytes = statSync(join(dir, 'index.js')).size;
      expect(bytes, `${name}: ${(bytes / 1024).toFixed(1)} KB, budget ${(budget / 1024).toFixed(0)} KB`).toBeLessThanOrEqual(
        budget,
      );
    }
  });

  it('leaves zod, yaml and the job schema out, and extraction out of all but the parser', () => {
    // Assess
    for (const [name, { code }] of bundles) {
      expect(code, name).not.toContain('ZodError');
      expect(code, name).not.toContain('YAMLParseError');
      expect(code.includes('cheerio'), name).toBe(name === 'parser');
    }
  });
});
