import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { renderJobsModule } from '../../../shared/job/bundle.js';
import { isJobFileName, loadJobDirectory } from '../../../shared/job/load.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const BIN = join(ROOT, 'bin/scrapeline.js');

/** A project outside this repository: scrapeline installed (linked) in node_modules, jobs in my-jobs/. */
async function project(jobsPackage: Record<string, unknown> | undefined) {
  const dir = await mkdtemp(join(tmpdir(), 'scrapeline-project-'));
  await mkdir(join(dir, 'node_modules'), { recursive: true });
  await symlink(ROOT, join(dir, 'node_modules', 'scrapeline'), 'dir');
  const jobs = join(dir, 'my-jobs');
  await mkdir(jobs);
  if (jobsPackage) await writeFile(join(jobs, 'package.json'), JSON.stringify(jobsPackage));
  await writeFile(
    join(jobs, 'shop.ts'),
    "import { defineJob } from 'scrapeline/shared/job/define.js';\n\nexport default defineJob({ name: 'shop', start: { urls: ['https://shop.example/'] }, templates: {} });\n",
  );
  await writeFile(join(jobs, 'feed.yaml'), 'name: feed\nstart: { urls: ["https://feed.example/"] }\n');
  return { dir, jobs };
}

let made: string | undefined;
afterEach(async () => {
  if (made) await rm(made, { recursive: true, force: true });
  made = undefined;
});

describe('a jobs folder outside this repository', () => {
  it('is not read for jobs from package.json, tsconfig.json and other project files', () => {
    for (const name of ['package.json', 'package-lock.json', 'tsconfig.json']) expect(isJobFileName(name)).toBe(false);
    for (const name of ['shop.ts', 'shop.mts', 'feed.yaml', 'feed.json']) expect(isJobFileName(name)).toBe(true);
  });

  it('with its own package.json loads: TypeScript jobs import defineJob from scrapeline/shared/job/define.js', async () => {
    const { dir, jobs } = await project({ name: 'my-jobs', private: true, type: 'module' });
    made = dir;
    const loaded = await loadJobDirectory(jobs, dir);
    expect(loaded.map((entry) => ('job' in entry ? entry.job.name : entry.error.message))).toEqual(['feed', 'shop']);
    expect(await renderJobsModule(jobs, join(dir, 'jobs.generated.ts'), dir)).not.toContain('package.json');
  });

  it('validates through the installed CLI (tsx), and says how to fix a job loaded as CommonJS', { timeout: 60_000 }, async () => {
    const { dir } = await project({ name: 'my-jobs', type: 'module' });
    made = dir;
    const run = promisify(execFile);
    const ok = await run(process.execPath, [BIN, 'validate', '--jobs', 'my-jobs'], { cwd: dir });
    expect(ok.stdout).toContain('2 valid, 0 invalid');
    // Without "type": "module" anywhere up the tree, tsx loads shop.ts as CommonJS.
    await writeFile(join(dir, 'my-jobs', 'package.json'), JSON.stringify({ name: 'my-jobs' }));
    const failed = await run(process.execPath, [BIN, 'validate', '--jobs', 'my-jobs'], { cwd: dir }).catch(
      (error: { code: number; stdout: string; stderr: string }) => error,
    );
    expect(failed).toMatchObject({ code: 2 });
    expect(failed.stdout).toContain('1 valid, 1 invalid');
    expect(failed.stderr).toContain('my-jobs/shop.ts: (module): cannot be loaded');
    expect(failed.stderr).toContain('name it .mts/.mjs, or add "type": "module" to the package.json of its folder');
  });
});
