import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadJobDirectory, MAX_JOB_FILE_BYTES } from '../../../shared/job/load.js';
import { tempDirEach } from '../../fixtures/temp-dir.js';

const VALID = 'name: good\nstart:\n  urls: [https://good.example/]\n';

/** A "billion laughs": nine levels of aliases, each naming the previous one nine times. */
function aliasBomb(): string {
  const lines = ['name: bomb', 'start:', '  urls: [https://bomb.example/]', 'a0: &a0 [lol]'];
  for (let level = 1; level < 9; level++) {
    lines.push(`a${level}: &a${level} [${Array.from({ length: 9 }, () => `*a${level - 1}`).join(', ')}]`);
  }
  return `${lines.join('\n')}\n`;
}

describe('Function: loadJobDirectory (hostile files)', () => {
  const dir = tempDirEach('hostile-jobs');

  it('reports an alias bomb, an oversized file and a module that never finishes loading per file; the valid job loads', async () => {
    // Prepare
    await writeFile(join(dir.path, 'good.yaml'), VALID);
    await writeFile(join(dir.path, 'bomb.yaml'), aliasBomb());
    await writeFile(join(dir.path, 'huge.yaml'), `${VALID}# ${'x'.repeat(MAX_JOB_FILE_BYTES)}\n`);
    await writeFile(join(dir.path, 'hang.mjs'), 'await new Promise(() => {});\nexport default {};\n');

    // Act
    const loaded = await loadJobDirectory(dir.path, dir.path, { timeoutMs: 300 });

    // Assess
    const byFile = new Map(loaded.map((entry) => [entry.file.slice(dir.path.length + 1), entry]));
    const good = byFile.get('good.yaml');
    expect(good && 'job' in good ? good.job.name : undefined).toBe('good');
    const message = (file: string) => {
      const entry = byFile.get(file);
      return entry && 'error' in entry ? entry.error.message : `${file} loaded`;
    };
    expect(message('bomb.yaml')).toMatch(/^bomb\.yaml: .*alias/i);
    expect(message('huge.yaml')).toContain(`huge.yaml: (file): is ${MAX_JOB_FILE_BYTES + 2 + VALID.length + 1} bytes`);
    expect(message('hang.mjs')).toContain('hang.mjs: (module): cannot be loaded: did not finish loading within 300 ms');
  });
});
