import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderJobsModule } from '../../../shared/job/bundle.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const MODULE = join(ROOT, 'functions/commons/jobs.generated.ts');

describe('Function: renderJobsModule', () => {
  it('matches the committed jobs module (jobs are embedded with their defaults: a schema change regenerates it)', async () => {
    // Act
    const rendered = await renderJobsModule(join(ROOT, 'jobs'), MODULE, ROOT);

    // Assess (on a mismatch: `npm run synth`, or writeJobsModule from shared/job/bundle.ts)
    expect(rendered).toBe(await readFile(MODULE, 'utf8'));
  });

  it('embeds every job as validated JSON, importing TypeScript jobs only for their code extractors', async () => {
    // Act
    const rendered = await renderJobsModule(join(ROOT, 'jobs'), MODULE, ROOT);

    // Assess
    expect(rendered).toContain("import job0 from '../../jobs/books.js';");
    expect(rendered).toMatch(/\{ source: "jobs\/books\.ts", job: \{"name":"books",.*\}, input: job0 \},/);
    expect(rendered).toMatch(
      /\{ source: "jobs\/toscrape\.yaml", job: \{"name":"toscrape",.*"politeness":\{"perHostConcurrency":2,/,
    );
    expect(rendered).not.toMatch(/from 'yaml'|from 'zod'/);
  });
});
