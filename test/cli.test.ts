import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../cli/common.js';
import { main } from '../cli/main.js';
import { type DemoServer, startDemoServer } from '../demo/server.js';
import { generateSite } from '../demo/site.js';
import { capture } from './support/cli-io.js';

const SITE = generateSite({ books: 40, perPage: 10, brokenNotFound: 1, brokenServerError: 0 });
/** Items of the books job on SITE: books, their authors and the authors' quotes. */
const ITEMS = SITE.books.length + SITE.authors.length + SITE.quotes.length;

describe('Function: main (the scrapeline CLI)', () => {
  let dataDir: string;
  let server: DemoServer;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'scrapeline-cli-'));
    server = await startDemoServer({ site: SITE });
  });

  afterAll(async () => {
    await server?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('prints help and exits 0; an unknown command exits 2', async () => {
    const help = capture();
    expect(await main(['--help'], help.io)).toBe(EXIT.ok);
    expect(help.stdout()).toContain('Commands:');
    const unknown = capture();
    expect(await main(['fly'], unknown.io)).toBe(EXIT.usage);
    expect(unknown.stderr()).toContain('unknown command "fly"');
  });

  it('validates the jobs folder; an invalid job exits 2 with its file and path', async () => {
    const good = capture();
    expect(await main(['validate'], good.io)).toBe(EXIT.ok);
    expect(good.stdout()).toMatch(/ok {2}jobs\/books\.ts: job books, no schedule/);
    expect(good.stdout()).toMatch(/ok {2}jobs\/toscrape\.yaml: job toscrape, schedule cron\(0 6 \* \* \? \*\)/);
    const dir = await mkdtemp(join(tmpdir(), 'scrapeline-jobs-'));
    await writeFile(
      join(dir, 'shop.yaml'),
      'name: shop\nstart: { urls: ["https://shop.example/"] }\ntemplates:\n  product:\n    key: sku\n    fields:\n      sku: { selector: ".sku", type: money }\n',
    );
    const bad = capture();
    expect(await main(['validate', '--jobs', dir], bad.io)).toBe(EXIT.usage);
    expect(bad.stderr()).toContain(
      'shop.yaml: templates.product.fields.sku.type: expected one of "string", "number", "integer", "boolean", "url", "date"',
    );
    await rm(dir, { recursive: true, force: true });
  });

  it('runs a job, then answers runs, query and changes from the local store', async () => {
    const run = capture();
    const runArgs = ['run', 'books', '--data-dir', dataDir, '--start-url', `${server.url}/catalogue/page-1.html`];
    const code = await main([...runArgs, '--allow-address', '127.0.0.1'], run.io);
    expect(code, run.stdout() + run.stderr()).toBe(EXIT.partial);
    expect(run.stdout()).toMatch(/Run \S+ of books: partial/);
    expect(run.stdout()).toContain(`${ITEMS} written`);
    expect(run.stdout()).toContain('http-404 ×1');

    const runs = capture();
    expect(await main(['runs', 'books', '--data-dir', dataDir, '--format', 'json'], runs.io)).toBe(EXIT.ok);
    const listed = JSON.parse(runs.stdout()) as { state: string; items: number }[];
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ state: 'partial', items: ITEMS });

    const query = capture();
    const args = ['query', 'books', '--data-dir', dataDir, '--where', 'price>=30', '--fields', 'upc,price', '--format', 'ndjson'];
    expect(await main(args, query.io)).toBe(EXIT.ok);
    const rows = query
      .stdout()
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { upc: string; price: number });
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((row) => row.price >= 30 && Object.keys(row).join() === 'upc,price')).toBe(true);

    const csv = capture();
    expect(
      await main(
        ['query', 'books', '--data-dir', dataDir, '--run', 'latest', '--format', 'csv', '--fields', 'upc,tags', '--limit', '2'],
        csv.io,
      ),
    ).toBe(EXIT.ok);
    expect(csv.stdout().split('\n')[0]).toBe('upc,tags');
    expect(csv.stdout().trim().split('\n')).toHaveLength(3);

    const changes = capture();
    expect(await main(['changes', 'books', '--data-dir', dataDir, '--format', 'ndjson'], changes.io)).toBe(EXIT.ok);
    expect(changes.stdout().trim().split('\n')).toHaveLength(ITEMS);
    expect(changes.stderr()).toContain(`${ITEMS} new, 0 changed, 0 removed`);
  });

  it('keeps the SSRF guard on unless an address is allowed: a run against 127.0.0.1 fails with ssrf-blocked', async () => {
    const blocked = capture();
    const code = await main(
      ['run', 'books', '--data-dir', dataDir, '--start-url', `${server.url}/catalogue/page-1.html`],
      blocked.io,
    );
    expect(code).toBe(EXIT.runFailed);
    expect(blocked.stdout()).toContain('ssrf-blocked ×1');
  });

  it('refuses bad options with exit code 2 and a message naming the option', async () => {
    const where = capture();
    expect(await main(['query', 'books', '--data-dir', dataDir, '--where', 'price'], where.io)).toBe(EXIT.usage);
    expect(where.stderr()).toContain('--where "price"');
    const format = capture();
    expect(await main(['query', 'books', '--data-dir', dataDir, '--format', 'xml'], format.io)).toBe(EXIT.usage);
    expect(format.stderr()).toContain('--format must be one of table, json, ndjson, csv');
    const job = capture();
    expect(await main(['run', 'nope', '--data-dir', dataDir], job.io)).toBe(EXIT.usage);
    expect(job.stderr()).toContain('no job named "nope"');
  });

  it('previews a template on a saved page with extract --file', async () => {
    const page = generateSite({ books: 1 });
    const book = page.books[0];
    if (!book) throw new Error('no book');
    const file = join(dataDir, 'book.html');
    await writeFile(file, page.page(book.url).body);
    const extract = capture();
    const args = ['extract', 'books', '--template', 'book', '--file', file, '--base-url', `http://127.0.0.1:8321${book.url}`];
    expect(await main(args, extract.io)).toBe(EXIT.ok);
    const output = JSON.parse(extract.stdout()) as { items: { key: string; data: { price: number }; problems: unknown[] }[] };
    expect(output.items).toHaveLength(1);
    expect(output.items[0]).toMatchObject({ key: book.upc, data: { price: book.price }, problems: [] });
  });
});
