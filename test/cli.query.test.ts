import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { CloudServices } from '../cli/cloud.js';
import { EXIT } from '../cli/common.js';
import { main } from '../cli/main.js';
import { parseJob } from '../shared/job/load.js';
import { CHANGE_COLUMNS, METADATA_COLUMNS, rowColumns } from '../shared/query.js';
import { capture } from './support/cli-io.js';
import { type QuotesSiteData, startQuotesSite } from './support/quotes-site.js';

/** The YAML job of the README's Jobs section (so that what the README shows is what this test runs). */
async function readmeQuotesJob(): Promise<string> {
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
  const block = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)]
    .map((match) => match[1] ?? '')
    .find((text) => /^name: quotes$/m.test(text));
  if (!block) throw new Error('README has no YAML job named quotes');
  return block;
}

/** Splits CSV text into records of cells (RFC 4180: quoted cells may hold commas, quotes and newlines). */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let cell = '';
  let quoted = false;
  for (let index = 0; index < text.length; index++) {
    const char = text[index];
    if (quoted) {
      if (char === '"' && text[index + 1] === '"') {
        cell += '"';
        index++;
      } else if (char === '"') quoted = false;
      else cell += char;
    } else if (char === '"') quoted = true;
    else if (char === ',') {
      record.push(cell);
      cell = '';
    } else if (char === '\n') {
      record.push(cell);
      records.push(record);
      record = [];
      cell = '';
    } else cell += char;
  }
  if (cell !== '' || record.length > 0) records.push([...record, cell]);
  return records;
}

function csvObjects(text: string): Record<string, string>[] {
  const [header = [], ...records] = parseCsv(text);
  return records.map((record) => Object.fromEntries(header.map((name, index) => [name, record[index] ?? ''])));
}

const FORMULA = '=HYPERLINK("http://evil.example/","click me")';

function siteData(): QuotesSiteData {
  return {
    perPage: 3,
    quotes: [
      {
        text: 'The world as we have created it is a process of our thinking.',
        author: 'Albert Einstein',
        tags: ['change', 'world'],
      },
      { text: FORMULA, author: 'Mallory', tags: ['attack'] },
      { text: 'It is our choices that show what we truly are.', author: 'J.K. Rowling', tags: ['choices'] },
      { text: 'There are only two ways to live your life.', author: 'Albert Einstein', tags: ['miracles'] },
      { text: '-1 is not a number here, it is text.', author: 'Mallory', tags: [] },
    ],
    authors: [
      { name: 'Albert Einstein', born: 'March 14, 1879', location: 'Ulm, Germany' },
      { name: 'J.K. Rowling', born: 'July 31, 1965', location: 'Yate, South Gloucestershire, England' },
      { name: 'Mallory', born: 'April 1, 2000', location: 'Nowhere' },
    ],
  };
}

describe('query and changes over a job with two templates (the README quotes job)', () => {
  let site: Awaited<ReturnType<typeof startQuotesSite>>;
  let jobsDir: string;
  let dataDir: string;
  let base: string[];
  let firstRunId = '';

  const run = async () => {
    const io = capture();
    const code = await main(['run', 'quotes', ...base, '--start-url', `${site.url}/`, '--allow-address', '127.0.0.1'], io.io);
    expect(code, io.stdout() + io.stderr()).toBe(EXIT.ok);
    return /Run (\S+) of quotes/.exec(io.stdout())?.[1] ?? '';
  };
  const cli = async (args: string[]) => {
    const io = capture();
    const code = await main([...args, ...base], io.io);
    return { code, stdout: io.stdout(), stderr: io.stderr() };
  };

  beforeAll(async () => {
    site = await startQuotesSite(siteData());
    jobsDir = await mkdtemp(join(tmpdir(), 'scrapeline-quotes-jobs-'));
    dataDir = await mkdtemp(join(tmpdir(), 'scrapeline-quotes-data-'));
    await writeFile(join(jobsDir, 'quotes.yaml'), await readmeQuotesJob());
    base = ['--jobs', jobsDir, '--data-dir', dataDir];
    firstRunId = await run();
  });

  afterAll(async () => {
    await site?.close();
    await rm(jobsDir, { recursive: true, force: true });
    await rm(dataDir, { recursive: true, force: true });
  });

  it('the README job is valid and extracts several quotes per listing page and one item per author page', async () => {
    const rows = await cli(['query', 'quotes', '--format', 'ndjson']);
    expect(rows.code).toBe(EXIT.ok);
    const items = rows.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(items.filter((item) => 'text' in item)).toHaveLength(5);
    expect(items.filter((item) => 'name' in item).map((item) => item.name)).toEqual(
      expect.arrayContaining(['Albert Einstein', 'J.K. Rowling', 'Mallory']),
    );
    expect(items.find((item) => item.name === 'Albert Einstein')).toMatchObject({ born: '1879-03-14', bornIn: 'Ulm, Germany' });
  });

  it('query --format csv has the columns of both templates, whichever comes first, and escapes formulas', async () => {
    const csv = await cli(['query', 'quotes', '--format', 'csv']);
    expect(csv.code, csv.stderr).toBe(EXIT.ok);
    const [header] = parseCsv(csv.stdout);
    expect(header).toEqual(['text', 'author', 'tags', 'name', 'born', 'bornIn', 'url', '_key', '_url', '_changedIn']);
    const rows = csvObjects(csv.stdout);
    expect(rows).toHaveLength(8);
    expect(rows.find((row) => row.name === 'J.K. Rowling')).toMatchObject({ born: '1965-07-31', text: '' });
    expect(rows.find((row) => row.author === 'J.K. Rowling')).toMatchObject({ tags: '["choices"]', name: '' });
    // The scraped formula opens as text, and a string field starting with "-" too.
    expect(rows.map((row) => row.text)).toContain(`'${FORMULA}`);
    expect(rows.map((row) => row.text)).toContain("'-1 is not a number here, it is text.");
    expect(csv.stdout).not.toMatch(/(^|,)=HYPERLINK/m);

    const run = await cli(['query', 'quotes', '--run', 'latest', '--format', 'csv']);
    expect(parseCsv(run.stdout)[0]).toEqual([
      'text',
      'author',
      'tags',
      'name',
      'born',
      'bornIn',
      'url',
      '_key',
      '_url',
      '_runId',
      '_fetchedAt',
    ]);
    const table = await cli(['query', 'quotes']);
    expect(table.stdout.split('\n')[0]?.split(/\s+/)).toEqual([
      'text',
      'author',
      'tags',
      'name',
      'born',
      'bornIn',
      'url',
      '_key',
      '_url',
      '_changedIn',
    ]);
  });

  it('the columns named up front are exactly those the pipeline writes (current state, one run, changes)', async () => {
    const job = parseJob(parseYaml(await readmeQuotesJob()), 'quotes.yaml');
    for (const [view, args] of [
      ['current', []],
      ['run', ['--run', firstRunId]],
    ] as const) {
      const out = await cli(['query', 'quotes', ...args, '--format', 'ndjson']);
      const keys = new Set(
        out.stdout
          .trim()
          .split('\n')
          .flatMap((line) => Object.keys(JSON.parse(line) as object)),
      );
      expect([...keys].sort(), view).toEqual([...rowColumns(job, view)].sort());
      for (const column of METADATA_COLUMNS[view]) expect(keys, column).toContain(column);
    }
    const changes = await cli(['changes', 'quotes', '--run', firstRunId, '--format', 'ndjson']);
    const keys = new Set(
      changes.stdout
        .trim()
        .split('\n')
        .flatMap((line) => Object.keys(JSON.parse(line) as object)),
    );
    // A first run has only `new` records: no diff key in any of them, the rest as CHANGE_COLUMNS says.
    expect([...keys].sort()).toEqual([...CHANGE_COLUMNS.filter((column) => column !== 'diff'), 'data'].sort());
  });

  it('changes --format csv has a diff column and data.<field> columns even when the first record is new', async () => {
    const csv = await cli(['changes', 'quotes', '--run', firstRunId, '--format', 'csv']);
    expect(csv.code, csv.stderr).toBe(EXIT.ok);
    expect(parseCsv(csv.stdout)[0]).toEqual([
      'type',
      'key',
      'runId',
      'url',
      'diff',
      'data.text',
      'data.author',
      'data.tags',
      'data.name',
      'data.born',
      'data.bornIn',
      'data.url',
    ]);
    const rows = csvObjects(csv.stdout);
    expect(rows).toHaveLength(8);
    expect(rows.every((row) => row.type === 'new' && row.diff === '')).toBe(true);
    expect(rows.find((row) => row['data.name'] === 'Mallory')).toMatchObject({ 'data.bornIn': 'Nowhere', 'data.text': '' });
    expect(rows.find((row) => row.key === `'${FORMULA}`)).toMatchObject({ 'data.text': `'${FORMULA}`, 'data.author': 'Mallory' });
  });

  it('--run latest of a run whose pages were all unchanged says so on stderr, exit 0; changes then show the diff', async () => {
    const unchangedRun = await run();
    const latest = await cli(['query', 'quotes', '--run', 'latest', '--format', 'csv']);
    expect(latest.code).toBe(EXIT.ok);
    expect(csvObjects(latest.stdout)).toHaveLength(0);
    expect(latest.stderr).toMatch(
      new RegExp(
        `run ${unchangedRun} wrote no rows: all \\d+ pages were unchanged .*the current state is \`scrapeline query quotes\``,
      ),
    );
    const current = await cli(['query', 'quotes', '--format', 'csv']);
    expect(csvObjects(current.stdout)).toHaveLength(8);
    expect(current.stderr).not.toContain('wrote no rows');

    const first = site.data.quotes[0];
    if (!first) throw new Error('no quote');
    first.tags = ['change', 'world', 'thinking'];
    const changedRun = await run();
    const changes = await cli(['changes', 'quotes', '--format', 'csv']);
    expect(changes.stderr).toContain(`run ${changedRun}`);
    const rows = csvObjects(changes.stdout);
    expect(rows).toEqual([
      expect.objectContaining({
        type: 'changed',
        key: first.text,
        diff: JSON.stringify({ tags: { before: ['change', 'world'], after: ['change', 'world', 'thinking'] } }),
        'data.tags': '["change","world","thinking"]',
      }),
    ]);
    const partly = await cli(['query', 'quotes', '--run', 'latest', '--format', 'ndjson']);
    expect(partly.stderr).not.toContain('wrote no rows');
  });

  it('an unknown field of --where or --fields is a usage error naming the fields; metadata columns are fields', async () => {
    const where = await cli(['query', 'quotes', '--where', 'nosuchfield=1']);
    expect(where.code).toBe(EXIT.usage);
    expect(where.stderr).toContain(
      '--where: unknown field "nosuchfield" (fields: text, author, tags, name, born, bornIn, url, _key, _url, _changedIn)',
    );
    const fields = await cli(['query', 'quotes', '--fields', 'text,nope,alsonot', '--format', 'csv']);
    expect(fields.code).toBe(EXIT.usage);
    expect(fields.stderr).toContain('--fields: unknown fields "nope", "alsonot" (fields: text, author');
    expect(fields.stdout).toBe('');
    // _runId is a column of one run's rows, not of the current state.
    expect((await cli(['query', 'quotes', '--where', '_runId=x'])).code).toBe(EXIT.usage);
    const ok = await cli([
      'query',
      'quotes',
      '--run',
      firstRunId,
      '--where',
      `_runId=${firstRunId}`,
      '--where',
      'born~1879',
      '--fields',
      'name,_key',
      '--format',
      'csv',
    ]);
    expect(ok.code, ok.stderr).toBe(EXIT.ok);
    expect(parseCsv(ok.stdout)).toEqual([
      ['name', '_key'],
      ['Albert Einstein', 'Albert Einstein'],
    ]);
  });

  it('an unknown job is a usage error naming the jobs, for query, changes and runs', async () => {
    for (const command of ['query', 'changes', 'runs']) {
      const out = await cli([command, 'nosuchjob']);
      expect(out.code, command).toBe(EXIT.usage);
      expect(out.stderr, command).toContain(`no job named "nosuchjob" in ${jobsDir} (jobs: quotes)`);
      expect(out.stderr, command).not.toContain('no finished run');
    }
  });

  it('the cloud path validates jobs and fields from the job definitions before it reads any bucket', async () => {
    const noAws = (): never => {
      throw new Error('no AWS call expected');
    };
    const offline: CloudServices = { aws: noAws, cloudFormation: noAws };
    const io = capture();
    expect(await main(['query', 'nosuchjob', '--bucket', 'b', '--jobs', jobsDir], io.io, offline)).toBe(EXIT.usage);
    expect(io.stderr()).toContain('no job named "nosuchjob"');
    const field = capture();
    expect(await main(['query', 'quotes', '--stack', 'S', '--where', 'x=1', '--jobs', jobsDir], field.io, offline)).toBe(
      EXIT.usage,
    );
    expect(field.stderr()).toContain('--where: unknown field "x"');
    const changes = capture();
    expect(await main(['changes', 'nosuchjob', '--stack', 'S', '--jobs', jobsDir], changes.io, offline)).toBe(EXIT.usage);
    expect(changes.stderr()).toContain('(jobs: quotes)');
  });
});
