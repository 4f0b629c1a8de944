/**
 * Runaway links: the probe's page of 160,000 links (about 4.5 MB) crawled with a budget of 100 pages, once with the
 * default cap on links per page and once with the cap lifted, so that every link past the budget meets the ledger.
 * Prints the run's URLs, what was counted rather than recorded, the state database's size and the peak RSS.
 *
 *   npx tsx bench/runaway-links.ts [--links=160000] [--pages=6]
 */
import { statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseJob } from '../shared/job/load.js';
import { LocalRuntime } from '../shared/local/runtime.js';

const { values } = parseArgs({
  options: { links: { type: 'string', default: '160000' }, pages: { type: 'string', default: '6' } },
});
const links = Number(values.links);
const runawayPages = Number(values.pages);

const server = createServer((request, response) => {
  const path = request.url ?? '/';
  response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  if (path === '/') {
    response.end(Array.from({ length: runawayPages }, (_, page) => `<a href="/runaway/${page}">r</a>`).join(''));
    return;
  }
  const match = /^\/runaway\/(\d+)$/.exec(path);
  if (!match) return response.end('<p>leaf</p>');
  const parts: string[] = ['<html><body>'];
  for (let index = 0; index < links; index++) parts.push(`<a href="/l/${match[1]}/${index}">x</a>`);
  response.end(`${parts.join('')}</body></html>`);
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

for (const maxLinksPerPage of [10_000, links]) {
  const dataDir = await mkdtemp(join(tmpdir(), 'scrapeline-runaway-'));
  const job = parseJob(
    {
      name: 'runaway',
      start: { urls: [`${base}/`] },
      follow: [{ selector: 'a' }],
      limits: { maxPages: 100, maxLinksPerPage },
      fetch: { maxBytes: 8 * 1024 * 1024 },
    },
    'runaway.ts',
  );
  const runtime = new LocalRuntime({ jobs: [job], ssrf: { allow: ['127.0.0.1'] } }, { dataDir, parseThreads: 1 });
  let peakRss = 0;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 50);
  const started = Date.now();
  const { outcome } = await runtime.run('runaway');
  clearInterval(sampler);
  await runtime.close();
  const bytes = ['state.db', 'state.db-wal'].reduce((sum, name) => {
    try {
      return sum + statSync(join(dataDir, name)).size;
    } catch {
      return sum;
    }
  }, 0);
  if (outcome.kind !== 'finished') throw new Error(`the run did not finish: ${outcome.kind}`);
  const { manifest } = outcome;
  console.log(
    `${runawayPages} pages of ${links} links, maxLinksPerPage ${maxLinksPerPage}: ${manifest.state} in ${Date.now() - started} ms; ` +
      `URLs ${JSON.stringify(manifest.urls)}; not followed ${JSON.stringify(manifest.notFollowed)}; ` +
      `state ${(bytes / 1e6).toFixed(1)} MB; peak RSS ${(peakRss / 1e6).toFixed(0)} MB`,
  );
  await rm(dataDir, { recursive: true, force: true });
}
server.close();
