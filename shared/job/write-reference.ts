import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { JSON_SCHEMA_PATH, jobJsonSchema, REFERENCE_PATH, renderJobReference, renderJsonSchema } from './reference.js';

/**
 * `npm run docs:jobs`: writes docs/jobs.md and docs/job.schema.json from the job schema. The JSON is formatted by
 * Biome, as `npm run lint` wants it; test/unit/job/reference.test.ts compares its content, not its layout.
 */
const root = fileURLToPath(new URL('../..', import.meta.url));

const reference = join(root, REFERENCE_PATH);
if ((await readFile(reference, 'utf8').catch(() => undefined)) === renderJobReference()) {
  process.stdout.write(`${REFERENCE_PATH} is current\n`);
} else {
  await writeFile(reference, renderJobReference());
  process.stdout.write(`wrote ${REFERENCE_PATH}\n`);
}

const schemaFile = join(root, JSON_SCHEMA_PATH);
const current = await readFile(schemaFile, 'utf8').catch(() => undefined);
if (current !== undefined && isDeepStrictEqual(JSON.parse(current), jobJsonSchema())) {
  process.stdout.write(`${JSON_SCHEMA_PATH} is current\n`);
} else {
  await writeFile(schemaFile, renderJsonSchema());
  execFileSync(join(root, 'node_modules/.bin/biome'), ['format', '--write', JSON_SCHEMA_PATH], { cwd: root, stdio: 'ignore' });
  process.stdout.write(`wrote ${JSON_SCHEMA_PATH}\n`);
}
