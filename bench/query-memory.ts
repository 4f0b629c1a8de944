/**
 * `scrapeline query` over a large current-state snapshot on local disk: streams it and reports peak RSS, to show the
 * memory stays bounded whatever the dataset size.
 *
 *   npx tsx bench/query-memory.ts [--items 1000000]
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { layout } from '../shared/layout.js';
import { FileSystemObjectStore } from '../shared/local/object-store.js';

const { values } = parseArgs({ options: { items: { type: 'string', default: '1000000' } } });
const items = Number(values.items);
const PART = 50_000;

async function peakRss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

const dataDir = await mkdtemp(join(tmpdir(), 'scrapeline-query-bench-'));
try {
  const store = new FileSystemObjectStore({ root: join(dataDir, 'store') });
  const started = Date.now();
  const parts: string[] = [];
  for (let part = 0; part * PART < items; part++) {
    const rows: string[] = [];
    for (let index = part * PART; index < Math.min(items, (part + 1) * PART); index++) {
      rows.push(
        JSON.stringify({
          upc: index.toString(16).padStart(16, '0'),
          title: `Book number ${index} of the benchmark, a title of realistic length`,
          price: (index % 5000) / 100,
          inStock: index % 3 !== 0,
          stock: index % 40,
          rating: (index % 5) + 1,
          tags: ['fiction', 'large print'].slice(0, index % 3),
          _key: index.toString(16).padStart(16, '0'),
          _url: `https://shop.example/catalogue/book_${index}/index.html`,
          _changedIn: '20261126T060000Z-abcdef',
        }),
      );
    }
    const key = layout.currentPart('books', '20261126T060000Z-abcdef', part);
    await store.put(key, gzipSync(`${rows.join('\n')}\n`, { level: 1 }));
    parts.push(key);
  }
  await store.put(
    layout.currentPointer('books'),
    JSON.stringify({ job: 'books', runId: '20261126T060000Z-abcdef', items, parts, writtenAt: new Date().toISOString() }),
  );
  const generatedMs = Date.now() - started;
  await mkdir(join(dataDir, 'jobs'), { recursive: true });
  const queryStarted = Date.now();
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'cli/main.ts', 'query', 'books', '--data-dir', dataDir, '--where', 'price>=10', '--format', 'ndjson'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let lines = 0;
  let peak = 0;
  child.stdout.on('data', (chunk: Buffer) => {
    for (const byte of chunk) if (byte === 10) lines++;
  });
  const sampler = setInterval(async () => {
    if (child.pid) peak = Math.max(peak, await peakRss(child.pid));
  }, 50);
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  clearInterval(sampler);
  const seconds = (Date.now() - queryStarted) / 1000;
  const result = {
    benchmark: 'query-memory',
    date: new Date().toISOString(),
    node: process.version,
    items,
    matched: lines,
    exitCode: code,
    seconds,
    rowsPerSecond: Math.round(items / seconds),
    peakRssMb: Math.round(peak / 1e6),
    generatedSeconds: generatedMs / 1000,
  };
  console.log(
    `| query over ${items} items (local disk) | ${result.rowsPerSecond} rows/s scanned, ${lines} matched | peak RSS ${result.peakRssMb} MB | exit ${code} |`,
  );
  await writeFile(
    join('bench', 'results', `query-memory-${result.date.replace(/[:.]/g, '-')}.json`),
    `${JSON.stringify(result, null, 2)}\n`,
  );
} finally {
  await rm(dataDir, { recursive: true, force: true });
}
