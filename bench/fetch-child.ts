/**
 * Fetching alone: 16 undici loops GET every fixture page once and drop the bodies. The floor a Node client can
 * reach on this machine, and a check that the server is not the bottleneck.
 * `node --import tsx bench/fetch-child.ts '{"url":"http://127.0.0.1:PORT","paths":[...]}'` (paths via a file).
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Agent, request } from 'undici';
import { CONCURRENCY } from './job.js';

export interface FetchOnlyResult {
  readonly pages: number;
  readonly bytes: number;
  readonly wallMs: number;
  readonly cpuSeconds: number;
  readonly errors: number;
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '{}') as { url: string; pathsFile: string };
  const paths = JSON.parse(readFileSync(args.pathsFile, 'utf8')) as string[];
  const dispatcher = new Agent({ connections: CONCURRENCY, keepAliveTimeout: 30_000 });
  let next = 0;
  let bytes = 0;
  let errors = 0;
  const before = process.cpuUsage();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (;;) {
        const path = paths[next++];
        if (path === undefined) return;
        const response = await request(args.url + path, { dispatcher });
        const body = Buffer.from(await response.body.arrayBuffer());
        bytes += body.length;
        if (response.statusCode !== 200) errors++;
      }
    }),
  );
  const wallMs = performance.now() - started;
  const cpu = process.cpuUsage(before);
  await dispatcher.close();
  const result: FetchOnlyResult = { pages: paths.length, bytes, wallMs, cpuSeconds: (cpu.user + cpu.system) / 1e6, errors };
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
