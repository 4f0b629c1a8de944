/**
 * What an fsync per commit would cost the local state store: single-write transactions on SQLite in WAL mode with
 * `synchronous=NORMAL` (the store's setting: durable against a killed process, fsync at checkpoints) and `FULL`
 * (fsync at every commit). Run: `npx tsx bench/fsync.ts` (PROBE_DIR picks the disk; default the temp folder).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';

for (const mode of ['NORMAL', 'FULL']) {
  const dir = mkdtempSync(join(process.env.PROBE_DIR ?? tmpdir(), 'fsync-'));
  const db = new Database(join(dir, 'state.db'));
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${mode}`);
  db.exec('CREATE TABLE items (pk TEXT, sk TEXT, value TEXT, PRIMARY KEY (pk, sk))');
  const put = db.prepare('INSERT OR REPLACE INTO items VALUES (?, ?, ?)');
  const n = 5000;
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) put.run('run#books#r1', `url#${i}`, JSON.stringify({ url: `https://x/${i}`, status: 'accepted' }));
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  console.log(`${mode}: ${n} single-write transactions in ${ms.toFixed(0)} ms (${((ms / n) * 1000).toFixed(1)} µs each)`);
  db.close();
  rmSync(dir, { recursive: true });
}
