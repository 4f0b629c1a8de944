import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { coreImportViolations } from '../support/import-rule.js';

const ROOT = resolve(import.meta.dirname, '../..');

/** A project tree in a temporary folder: path → source. */
async function fixture(files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'scrapeline-imports-'));
  for (const [path, source] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), source);
  }
  return root;
}

describe('Rule: core code imports no adapter, function, CLI or CDK module', () => {
  it('holds for shared/ (shared/aws and shared/local excepted), and shared/ports.ts imports no pipeline module', async () => {
    expect(await coreImportViolations(ROOT)).toEqual([]);
  });

  it('reports every kind of import of a forbidden folder from core code, and none from the adapters, other folders or strings', async () => {
    // Prepare: a deliberate violation of each kind, and the same imports where they are allowed
    const root = await fixture({
      'shared/pipeline/stage.ts': [
        "import { S3ObjectStore } from '../aws/s3-object-store.js';",
        "import type { LocalRuntime } from '../local/runtime.js';",
        "export { main } from '../../cli/main.js';",
        "import '../../functions/fetcher.js';",
        "const stack = await import('../../cdk/stack.js');",
        "import {\n  ports,\n} from '../ports.js';",
        "import { z } from 'zod';",
        "import { tool } from '../../cdk-tools/tool.js';",
        'const text = \'import x from "../aws/clients.js"\';',
      ].join('\n'),
      'shared/handlers.ts': "import { ScrapelineStack } from '../cdk/stack.js';\n",
      'shared/ports.ts':
        "import type { Job } from './job/schema.js';\nexport interface RunEvents { runFinished(m: import('./pipeline/finalize.js').RunManifest): void }\n",
      'shared/query.ts': "import type { RunManifest } from './pipeline/finalize.js';\n",
      'shared/aws/clients.ts': "import { LocalQueue } from '../local/queue.js';\nimport { x } from '../../cli/main.js';\n",
      'shared/local/runtime.ts': "import { main } from '../../cli/main.js';\n",
      'cli/main.ts': "import { LocalRuntime } from '../shared/local/runtime.js';\n",
    });

    try {
      // Act
      const violations = await coreImportViolations(root);

      // Assess
      expect(violations).toEqual([
        { file: 'shared/handlers.ts', specifier: '../cdk/stack.js', forbidden: 'cdk' },
        { file: 'shared/pipeline/stage.ts', specifier: '../aws/s3-object-store.js', forbidden: 'shared/aws' },
        { file: 'shared/pipeline/stage.ts', specifier: '../local/runtime.js', forbidden: 'shared/local' },
        { file: 'shared/pipeline/stage.ts', specifier: '../../cli/main.js', forbidden: 'cli' },
        { file: 'shared/pipeline/stage.ts', specifier: '../../functions/fetcher.js', forbidden: 'functions' },
        { file: 'shared/pipeline/stage.ts', specifier: '../../cdk/stack.js', forbidden: 'cdk' },
        { file: 'shared/ports.ts', specifier: './pipeline/finalize.js', forbidden: 'shared/pipeline' },
      ]);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
