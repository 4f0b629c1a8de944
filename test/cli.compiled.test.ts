import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compiledCli, ROOT } from '../bin/compile.js';

const run = promisify(execFile);

/** The packages a compiled module and the chunks it imports statically import, followed through the chunks. */
async function staticPackageImports(entry: string): Promise<Set<string>> {
  const packages = new Set<string>();
  const seen = new Set<string>();
  const pending = [entry];
  for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
    if (seen.has(file)) continue;
    seen.add(file);
    const source = await readFile(file, 'utf8');
    // Static imports only: `import … from "x"` and `import "x"` at the start of a line (import() calls are lazy).
    for (const match of source.matchAll(/^(?:import|export)\s[^;]*?from\s*"([^"]+)"|^import\s*"([^"]+)"/gms)) {
      const specifier = match[1] ?? match[2] ?? '';
      if (specifier.startsWith('./')) pending.push(join(dirname(file), specifier));
      else packages.add(specifier);
    }
  }
  return packages;
}

describe('The compiled CLI (bin/scrapeline.js)', () => {
  let entry: string;
  let jobsDir: string;

  beforeAll(async () => {
    entry = await compiledCli();
    jobsDir = await mkdtemp(join(tmpdir(), 'scrapeline-compiled-jobs-'));
    await writeFile(join(jobsDir, 'package.json'), JSON.stringify({ type: 'module' }));
  }, 120_000);

  afterAll(async () => {
    await rm(jobsDir, { recursive: true, force: true });
  });

  it('loads no AWS SDK package until a command against a stack runs', async () => {
    const packages = await staticPackageImports(entry);
    expect([...packages].filter((name) => name.startsWith('@aws-sdk/'))).toEqual([]);
    // The pipeline's own packages are there: the check follows the chunks.
    expect(packages).toContain('better-sqlite3');
    expect(await readFile(entry, 'utf8')).toMatch(/import\("\.\/chunk-[A-Z0-9]+\.mjs"\)/);
  });

  it('validates a job written in TypeScript, registering a loader for it', async () => {
    await writeFile(
      join(jobsDir, 'typed.ts'),
      [
        `import { defineJob } from ${JSON.stringify(join(ROOT, 'shared/job/define.ts'))};`,
        "const name: string = 'typed';",
        "export default defineJob({ name, start: { urls: ['https://example.com/'] }, templates: {} });",
      ].join('\n'),
    );
    const { stdout, stderr } = await run(process.execPath, [join(ROOT, 'bin/scrapeline.js'), 'validate', '--jobs', jobsDir]);
    expect(stdout).toMatch(/^ok .*typed\.ts: job typed/m);
    expect(stdout).toMatch(/1 valid, 0 invalid/);
    expect(stderr).not.toMatch(/error/i);
  });
});
