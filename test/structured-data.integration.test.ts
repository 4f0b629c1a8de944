import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../cli/common.js';
import { main } from '../cli/main.js';
import { extractPage } from '../shared/extract/page.js';
import { resolveBundledJobs } from '../shared/job/bundled.js';
import { loadJobFile } from '../shared/job/load.js';
import type { Job } from '../shared/job/schema.js';
import type { RunManifest } from '../shared/pipeline/finalize.js';
import { type Row, readNdjsonGzip } from '../shared/query.js';
import { type FixtureServer, startFixtureServer } from './fixtures/http-fixture.js';
import { makeTempDir, type TempDir } from './fixtures/temp-dir.js';
import { capture } from './support/cli-io.js';
import { tempRuntime } from './support/local-run.js';
import { expectManifestInvariant } from './support/manifest.js';

/** Product pages that each publish their data one way, and one whose only JSON-LD block is malformed. */
const PAGES: Record<string, string> = {
  '/p/jsonld': `<html><head><script type="application/ld+json">
      {"@context": "https://schema.org", "@type": "Product", "name": "Lamp", "sku": "L-1",
       "offers": {"@type": "Offer", "price": "24.90", "priceCurrency": "EUR", "availability": "https://schema.org/InStock"}}
    </script></head><body><h1>Lamp</h1></body></html>`,
  '/p/microdata': `<html><body><div itemscope itemtype="https://schema.org/Product">
      <h1 itemprop="name">Chair</h1><span itemprop="sku">C-2</span>
      <div itemprop="offers" itemscope itemtype="https://schema.org/Offer">
        <span itemprop="price" content="49.00">£49</span><meta itemprop="priceCurrency" content="GBP">
      </div></div></body></html>`,
  '/p/opengraph': `<html><head><meta property="og:title" content="Rug">
      <meta property="product:price:amount" content="120"><meta property="product:price:currency" content="USD">
    </head><body></body></html>`,
  '/p/malformed': `<html><head><script type="application/ld+json">{"@type": "Product", "name": "Desk",</script></head>
    <body><h1>Desk</h1></body></html>`,
};

const JOB_YAML = (origin: string) => `name: structured
start: { urls: ['${origin}/'] }
follow:
  - { selector: a.product, template: product }
templates:
  product:
    preset: Product
    fields:
      name: { from: jsonld, itemType: Product, path: name, required: true,
              fallback: [{ from: microdata, itemType: Product, path: name }, { from: meta, name: 'og:title' }] }
`;

describe('Structured data through the pipeline (local runtime, Lambda job form, extract --url)', () => {
  let server: FixtureServer;
  let job: Job;
  let local: Awaited<ReturnType<typeof tempRuntime>>;
  let jobsDir: TempDir;
  let manifest: RunManifest;
  let rows: Row[];

  beforeAll(async () => {
    server = await startFixtureServer();
    const links = Object.keys(PAGES).map((path) => `<a class="product" href="${path}">${path}</a>`);
    server.route('/', (_request, response) => {
      response.writeHead(200, { 'content-type': 'text/html' }).end(`<html><body>${links.join('')}</body></html>`);
    });
    for (const [path, html] of Object.entries(PAGES)) {
      server.route(path, (_request, response) => {
        response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
      });
    }
    jobsDir = await makeTempDir('structured');
    await writeFile(join(jobsDir.path, 'structured.yaml'), JOB_YAML(server.origin));
    job = await loadJobFile(join(jobsDir.path, 'structured.yaml'));
    local = await tempRuntime([job]);
    manifest = await local.run('structured');
    rows = await local.rows(manifest);
  });

  afterAll(async () => {
    await local?.dispose();
    await server?.close();
    await jobsDir?.remove();
  });

  it('writes an item from each kind of structured data and quarantines the page whose JSON-LD is malformed', () => {
    // Assess
    expectManifestInvariant(manifest);
    expect(manifest.urls).toMatchObject({ accepted: 5, parsed: 5, failed: 0 });
    expect(manifest.items).toMatchObject({ written: 3, invalid: 1 });
    const items = rows
      .map(({ url, name, sku, price, currency }) => ({ url, name, sku, price, currency }))
      .sort((a, b) => String(a.url).localeCompare(String(b.url)));
    expect(items).toEqual([
      { url: `${server.origin}/p/jsonld`, name: 'Lamp', sku: 'L-1', price: 24.9, currency: 'EUR' },
      { url: `${server.origin}/p/microdata`, name: 'Chair', sku: 'C-2', price: 49, currency: 'GBP' },
      { url: `${server.origin}/p/opengraph`, name: 'Rug', sku: undefined, price: 120, currency: 'USD' },
    ]);
  });

  it('records why the malformed page has no item: the JSON-LD error, in the quarantine', async () => {
    // Act
    const quarantined: { url: string; problems: { field: string; message: string }[] }[] = [];
    for await (const object of local.runtime.store.list(`quarantine/structured/${manifest.runId}/`)) {
      for await (const row of readNdjsonGzip(local.runtime.store, object.key))
        quarantined.push(row as (typeof quarantined)[number]);
    }

    // Assess
    expect(quarantined).toHaveLength(1);
    expect(quarantined[0]?.url).toBe(`${server.origin}/p/malformed`);
    const name = quarantined[0]?.problems.find((problem) => problem.field === 'name');
    expect(name?.message).toMatch(/^no Product node; JSON-LD block 1 is not valid JSON: /);
  });

  it('extracts the same from the job as the Lambda functions embed it (JSON, validated at synth)', async () => {
    // Prepare
    const [bundled] = resolveBundledJobs([{ source: 'structured.yaml', job: JSON.parse(JSON.stringify(job)) }]);
    if (!bundled) throw new Error('no bundled job');

    // Act and assess
    for (const [path, html] of Object.entries(PAGES)) {
      const page = { url: `${server.origin}${path}`, finalUrl: `${server.origin}${path}`, template: 'product', hosts: [] };
      expect(await extractPage(html, bundled, page)).toEqual(await extractPage(html, job, page));
    }
  });

  it('previews a page with extract --url', async () => {
    // Act
    const extract = capture();
    const args = [
      'extract',
      'structured',
      '--jobs',
      jobsDir.path,
      '--url',
      `${server.origin}/p/microdata`,
      '--allow-address',
      '127.0.0.1',
    ];
    const code = await main(args, extract.io);

    // Assess
    expect(code, extract.stderr()).toBe(EXIT.ok);
    const output = JSON.parse(extract.stdout()) as {
      template: string;
      items: { key: string; data: unknown; problems: unknown[] }[];
    };
    expect(output.template).toBe('product');
    expect(output.items).toEqual([
      {
        key: `${server.origin}/p/microdata`,
        data: { url: `${server.origin}/p/microdata`, name: 'Chair', sku: 'C-2', price: 49, currency: 'GBP' },
        problems: [],
      },
    ]);
    expect(extract.stderr()).toContain('1 item(s), 0 problem(s)');
  });
});
