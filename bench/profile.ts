/**
 * Summarises V8 CPU profiles (`node --cpu-prof`): top functions by self time, and by inclusive time for the
 * functions whose URL matches a filter.
 *
 *   npx tsx bench/profile.ts <file.cpuprofile|dir> [--top 25] [--match shared/]
 *   npx tsx bench/profile.ts <file.heapprofile> [--top 25]   (node --heap-prof: sampled allocations by function)
 *   npx tsx bench/profile.ts <file.heapsnapshot> [--top 25]  (retained size by constructor, self sizes)
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileEntry {
  readonly name: string;
  readonly where: string;
  readonly selfMs: number;
  readonly selfShare: number;
  readonly totalMs: number;
  readonly totalShare: number;
}

function shortUrl(url: string): string {
  const cleaned = url.replace(/^file:\/\//, '');
  const modules = cleaned.lastIndexOf('node_modules/');
  if (modules >= 0) return cleaned.slice(modules + 'node_modules/'.length);
  const repo = cleaned.indexOf('/main/');
  return repo >= 0 ? cleaned.slice(repo + '/main/'.length) : cleaned;
}

/** Self and inclusive time per function (keyed by name + location), from one or more profiles. */
export function summarise(profiles: readonly Profile[]): ProfileEntry[] {
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const meta = new Map<string, { name: string; where: string }>();
  let all = 0;
  for (const profile of profiles) {
    const byId = new Map(profile.nodes.map((node) => [node.id, node]));
    const parent = new Map<number, number>();
    for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
    const key = (node: ProfileNode) => {
      const where = `${shortUrl(node.callFrame.url)}:${node.callFrame.lineNumber + 1}`;
      const name = node.callFrame.functionName || '(anonymous)';
      const id = `${name}@${where}`;
      if (!meta.has(id)) meta.set(id, { name, where });
      return id;
    };
    profile.samples.forEach((sample, index) => {
      const ms = (profile.timeDeltas[index] ?? 0) / 1000;
      const node = byId.get(sample);
      if (!node) return;
      all += ms;
      const id = key(node);
      self.set(id, (self.get(id) ?? 0) + ms);
      const seen = new Set<string>();
      let current: ProfileNode | undefined = node;
      while (current) {
        const currentId = key(current);
        if (!seen.has(currentId)) {
          seen.add(currentId);
          total.set(currentId, (total.get(currentId) ?? 0) + ms);
        }
        const up = parent.get(current.id);
        current = up === undefined ? undefined : byId.get(up);
      }
    });
  }
  return [...meta.entries()].map(([id, { name, where }]) => ({
    name,
    where,
    selfMs: self.get(id) ?? 0,
    selfShare: (self.get(id) ?? 0) / all,
    totalMs: total.get(id) ?? 0,
    totalShare: (total.get(id) ?? 0) / all,
  }));
}

export function loadProfiles(path: string): Profile[] {
  const files = statSync(path).isDirectory()
    ? readdirSync(path)
        .filter((name) => name.endsWith('.cpuprofile'))
        .map((name) => join(path, name))
    : [path];
  return files.map((file) => JSON.parse(readFileSync(file, 'utf8')) as Profile);
}

interface HeapNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: HeapNode[];
}

/** Bytes allocated per function (self), from a sampling heap profile. */
export function summariseHeap(head: HeapNode): { name: string; where: string; bytes: number; share: number }[] {
  const bytes = new Map<string, number>();
  let total = 0;
  const walk = (node: HeapNode) => {
    const id = `${node.callFrame.functionName || '(anonymous)'}@${shortUrl(node.callFrame.url)}:${node.callFrame.lineNumber + 1}`;
    bytes.set(id, (bytes.get(id) ?? 0) + node.selfSize);
    total += node.selfSize;
    for (const child of node.children) walk(child);
  };
  walk(head);
  return [...bytes.entries()]
    .map(([id, size]) => {
      const [name = '', where = ''] = id.split('@');
      return { name, where, bytes: size, share: size / total };
    })
    .sort((a, b) => b.bytes - a.bytes);
}

/** Self size per node type and constructor name, from a heap snapshot. */
export function summariseSnapshot(file: string): { name: string; count: number; bytes: number }[] {
  const snapshot = JSON.parse(readFileSync(file, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snapshot.snapshot.meta.node_fields;
  const types = snapshot.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeIndex = fields.indexOf('type');
  const nameIndex = fields.indexOf('name');
  const sizeIndex = fields.indexOf('self_size');
  const totals = new Map<string, { count: number; bytes: number }>();
  for (let offset = 0; offset < snapshot.nodes.length; offset += width) {
    const type = types[snapshot.nodes[offset + typeIndex] ?? 0] ?? '?';
    const rawName = snapshot.strings[snapshot.nodes[offset + nameIndex] ?? 0] ?? '';
    const name = type === 'object' || type === 'closure' ? `${type} ${rawName}` : `(${type})`;
    const entry = totals.get(name) ?? { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += snapshot.nodes[offset + sizeIndex] ?? 0;
    totals.set(name, entry);
  }
  return [...totals.entries()].map(([name, value]) => ({ name, ...value })).sort((a, b) => b.bytes - a.bytes);
}

function main(): void {
  const args = process.argv.slice(2);
  const path = args.find((arg) => !arg.startsWith('--'));
  if (!path) {
    console.error('usage: tsx bench/profile.ts <file.cpuprofile|dir> [--top N] [--match TEXT]');
    process.exit(2);
  }
  const top = Number(args[args.indexOf('--top') + 1] ?? 25) || 25;
  if (path.endsWith('.heapsnapshot')) {
    console.log('Largest self sizes by type / constructor');
    for (const entry of summariseSnapshot(path).slice(0, top)) {
      console.log(`${(entry.bytes / 2 ** 20).toFixed(1).padStart(8)} MB ${String(entry.count).padStart(9)}  ${entry.name}`);
    }
    return;
  }
  if (path.endsWith('.heapprofile')) {
    const profile = JSON.parse(readFileSync(path, 'utf8')) as { head: HeapNode };
    console.log('Top allocation sites (sampled, self)');
    for (const entry of summariseHeap(profile.head).slice(0, top)) {
      console.log(
        `${(entry.share * 100).toFixed(1).padStart(5)}% ${(entry.bytes / 2 ** 20).toFixed(1).padStart(8)} MB  ${entry.name}  ${entry.where}`,
      );
    }
    return;
  }
  const match = args.includes('--match') ? args[args.indexOf('--match') + 1] : undefined;
  const entries = summarise(loadProfiles(path));
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`.padStart(6);
  console.log('Top self time');
  for (const entry of [...entries].sort((a, b) => b.selfMs - a.selfMs).slice(0, top)) {
    console.log(`${pct(entry.selfShare)} ${entry.selfMs.toFixed(0).padStart(7)} ms  ${entry.name}  ${entry.where}`);
  }
  console.log('\nTop inclusive time', match ? `(matching "${match}")` : '');
  for (const entry of [...entries]
    .filter((entry) => (match ? entry.where.includes(match) : true))
    .sort((a, b) => b.totalMs - a.totalMs)
    .slice(0, top)) {
    console.log(`${pct(entry.totalShare)} ${entry.totalMs.toFixed(0).padStart(7)} ms  ${entry.name}  ${entry.where}`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
