/**
 * The local state store, old (every item in memory + a JSON-lines journal, from git history) against new (SQLite):
 * writes/s, transacts/s, gets/s, query items/s, and RSS after 1,000,000 small items written across 100 partitions.
 * Each measurement runs in a child process of its own, one after the other, so RSS is the store's alone.
 *
 *   npx tsx bench/state-store.ts [--items 1000000] [--ops 100000] [--old-rev a13257b]
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { StateStore } from '../shared/ports.js';

const { values } = parseArgs({
  options: {
    items: { type: 'string', default: '1000000' },
    ops: { type: 'string', default: '100000' },
    'old-rev': { type: 'string', default: 'a13257b' },
    child: { type: 'string' },
    impl: { type: 'string' },
    dir: { type: 'string' },
  },
});

type Store = StateStore & { close(): void };
const here = fileURLToPath(new URL('.', import.meta.url));

async function open(impl: string, dir: string): Promise<Store> {
  if (impl === 'old') {
    const module = await import(join(here, 'results', 'tmp', 'old-state.ts'));
    return new module.EmbeddedStateStore({ file: join(dir, 'state.journal') });
  }
  const module = await import('../shared/local/state.js');
  return new module.EmbeddedStateStore({ file: join(dir, 'state.db') });
}

function rss(): { rssMb: number; peakMb: number } {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
  return { rssMb: Math.round(kb('VmRSS') / 1024), peakMb: Math.round(kb('VmHWM') / 1024) };
}

function diskMb(dir: string): number {
  let bytes = 0;
  for (const name of ['state.journal', 'state.db', 'state.db-wal']) {
    try {
      bytes += statSync(join(dir, name)).size;
    } catch {}
  }
  return Math.round(bytes / 1048576);
}

async function timed(count: number, run: (index: number) => Promise<unknown>): Promise<number> {
  const started = performance.now();
  for (let index = 0; index < count; index++) await run(index);
  return Math.round(count / ((performance.now() - started) / 1000));
}

const expiresAt = Math.floor(Date.now() / 1000) + 30 * 24 * 3600;

async function throughput(impl: string, dir: string, ops: number): Promise<Record<string, number>> {
  const store = await open(impl, dir);
  const pk = 'run#bench#20260101T000000Z-abcdef';
  const url = (index: number) => `https://shop.example/catalogue/product_${index}/index.html`;
  const writes = await timed(ops, (index) =>
    store.write({
      pk,
      sk: `url#${index.toString(16).padStart(12, '0')}`,
      set: { status: 'accepted', url: url(index), depth: 2, template: 'product' },
      condition: { kind: 'absent' },
      expiresAt,
    }),
  );
  // The ledger's pattern: accept a URL (put-if-absent) and count it against the budget.
  await store.write({ pk, sk: 'meta', set: { accepted: 0, admitted: 0 } });
  let refused = 0;
  const transacts = await timed(ops, (index) =>
    store
      .transact([
        {
          pk,
          sk: `url#t${index.toString(16).padStart(12, '0')}`,
          set: { status: 'accepted', url: url(index), depth: 2 },
          condition: { kind: 'absent' },
          expiresAt,
        },
        {
          pk,
          sk: 'meta',
          add: { accepted: 1, admitted: 1 },
          condition: { kind: 'lessThan', attribute: 'admitted', value: 1e12 },
        },
      ])
      .then((result) => {
        if (!result.ok) refused++;
      }),
  );
  if (refused > 0) throw new Error(`${refused} transactions refused: the benchmark measures nothing`);
  const gets = await timed(ops, (index) => store.get(pk, `url#${(index % ops).toString(16).padStart(12, '0')}`));
  const started = performance.now();
  let items = 0;
  for await (const _ of store.query(pk, 'url#')) items++;
  const queryItems = Math.round(items / ((performance.now() - started) / 1000));
  store.close();
  return { writesPerS: writes, transactsPerS: transacts, getsPerS: gets, queryItemsPerS: queryItems };
}

async function memory(impl: string, dir: string, items: number): Promise<Record<string, number>> {
  const store = await open(impl, dir);
  const before = rss();
  const started = performance.now();
  for (let index = 0; index < items; index++) {
    await store.write({
      pk: `run#bench#r${index % 100}`,
      sk: `url#${index.toString(16).padStart(10, '0')}`,
      set: { status: 'parsed', depth: 3, items: index % 20 },
      expiresAt,
    });
  }
  const seconds = (performance.now() - started) / 1000;
  (globalThis as { gc?: () => void }).gc?.();
  const after = rss();
  store.close();
  return {
    writesPerS: Math.round(items / seconds),
    rssBeforeMb: before.rssMb,
    rssAfterMb: after.rssMb,
    peakRssMb: after.peakMb,
    heapUsedMb: Math.round(process.memoryUsage().heapUsed / 1048576),
    diskMb: diskMb(dir),
  };
}

if (values.child) {
  const impl = values.impl ?? 'new';
  const dir = values.dir ?? mkdtempSync(join(tmpdir(), 'scrapeline-state-bench-'));
  const result =
    values.child === 'throughput'
      ? await throughput(impl, dir, Number(values.ops))
      : await memory(impl, dir, Number(values.items));
  process.stdout.write(`${JSON.stringify(result)}\n`);
} else {
  // The old store, as it was before the SQLite one replaced it.
  mkdirSync(join(here, 'results', 'tmp'), { recursive: true });
  const old = execFileSync('git', ['show', `${values['old-rev']}:shared/local/state.ts`], { encoding: 'utf8' });
  writeFileSync(join(here, 'results', 'tmp', 'old-state.ts'), old.replaceAll("'../ports.js'", "'../../../shared/ports.js'"));
  const run = (child: string, impl: string) =>
    new Promise<Record<string, number>>((resolve, reject) => {
      const dir = mkdtempSync(join(tmpdir(), `scrapeline-state-bench-${impl}-`));
      const process_ = spawn(
        process.execPath,
        [
          '--expose-gc',
          '--import',
          'tsx',
          join(here, 'state-store.ts'),
          '--child',
          child,
          '--impl',
          impl,
          '--dir',
          dir,
          '--items',
          String(values.items),
          '--ops',
          String(values.ops),
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let output = '';
      process_.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
      });
      process_.on('exit', (code) => {
        rmSync(dir, { recursive: true, force: true });
        if (code === 0) resolve(JSON.parse(output));
        else reject(new Error(`${child} ${impl} exited with ${code}`));
      });
    });
  for (const child of ['throughput', 'memory']) {
    for (const impl of ['old', 'new']) {
      const result = await run(child, impl);
      console.log(`${child.padEnd(10)} ${impl.padEnd(3)} ${JSON.stringify(result)}`);
    }
  }
}
