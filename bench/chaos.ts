/**
 * The chaos run as a report: crawls the fault-injecting fixture site (test/fixtures/fault-server.ts) with a local
 * runtime and prints, per fault kind, what was injected against how the URLs ended, with the requests the server
 * saw. Exits 1 when a URL is unaccounted for (no terminal state, or the run did not finish).
 *
 *   npm run chaos                                 # 2,000 URLs, 15% of detail pages faulty
 *   npm run chaos -- --pages=5000 --fault-rate=0.3 --seed=7 --timeout=1000 --retries=3 --strict
 */
import { parseArgs } from 'node:util';
import {
  CHAOS_DEFAULTS,
  type ChaosResult,
  FAULT_KINDS,
  runChaosScenario,
  type UrlVerdict,
  watchProcessErrors,
} from '../test/fixtures/fault-server.js';

const { values } = parseArgs({
  options: {
    pages: { type: 'string', default: String(CHAOS_DEFAULTS.pages) },
    'fault-rate': { type: 'string', default: String(CHAOS_DEFAULTS.faultRate) },
    seed: { type: 'string', default: '1' },
    timeout: { type: 'string', default: String(CHAOS_DEFAULTS.timeoutMs) },
    retries: { type: 'string', default: String(CHAOS_DEFAULTS.retries) },
    /** Also exit 1 when a URL ended otherwise than the ground truth says. */
    strict: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});

if (values.help) {
  console.log('usage: npm run chaos -- [--pages=2000] [--fault-rate=0.15] [--seed=1] [--timeout=2000] [--retries=2] [--strict]');
  process.exit(0);
}

function number(name: string, text: string, check: (value: number) => boolean, constraint: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || !check(value)) {
    console.error(`--${name} must be ${constraint}, got "${text}"`);
    process.exit(2);
  }
  return value;
}

const pages = number('pages', values.pages, (value) => Number.isInteger(value) && value >= 3, 'an integer of at least 3');
const faultRate = number('fault-rate', values['fault-rate'], (value) => value >= 0 && value <= 1, 'from 0 to 1');
const seed = number('seed', values.seed, Number.isInteger, 'an integer');
const timeoutMs = number(
  'timeout',
  values.timeout,
  (value) => Number.isInteger(value) && value >= 100,
  'an integer of at least 100 (ms)',
);
const retries = number(
  'retries',
  values.retries,
  (value) => Number.isInteger(value) && value >= 1 && value <= 10,
  'from 1 to 10',
);

/** A plain-text table; columns in `left` are left-aligned, the others right-aligned. */
function table(header: readonly string[], rows: readonly (readonly string[])[], left: ReadonlySet<number>): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => (left.has(column) ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.map(line)].join('\n');
}

function countBy<T>(items: readonly T[], key: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
}

/** One row per (role, fault, mode): injected against outcomes. */
function report(result: ChaosResult): string {
  const groups = new Map<string, UrlVerdict[]>();
  const order = (verdict: UrlVerdict) => {
    const kind = verdict.truth.fault ? FAULT_KINDS.indexOf(verdict.truth.fault) : FAULT_KINDS.length;
    const role = ['detail', 'listing', 'root'].indexOf(verdict.truth.role);
    return `${role}-${String(kind).padStart(3, '0')}-${verdict.truth.mode ?? ''}`;
  };
  for (const verdict of [...result.verdicts].sort((a, b) => order(a).localeCompare(order(b)))) {
    const id = `${verdict.truth.role}\0${verdict.truth.fault ?? '(none)'}\0${verdict.truth.mode ?? '-'}`;
    groups.set(id, [...(groups.get(id) ?? []), verdict]);
  }
  const rows = [...groups].map(([id, verdicts]) => {
    const [role = '', fault = '', mode = ''] = id.split('\0');
    const failed = verdicts.filter((verdict) => verdict.status === 'failed');
    const reasons = [...countBy(failed, (verdict) => verdict.reason ?? '?')].map(([reason, count]) => `${reason}:${count}`);
    const unaccounted = verdicts.filter((verdict) => verdict.status === 'missing' || verdict.status === 'accepted').length;
    const observed = verdicts.reduce((sum, verdict) => sum + verdict.attempts, 0);
    const expected = verdicts.reduce((sum, verdict) => sum + verdict.truth.expectedAttempts, 0);
    const mismatched = verdicts.filter((verdict) => verdict.problems.length > 0).length;
    const expectation = verdicts[0]?.truth.expect;
    return [
      role,
      fault,
      mode,
      String(verdicts.length),
      expectation?.state === 'failed' ? `failed ${expectation.family}` : 'parsed',
      String(verdicts.filter((verdict) => verdict.status === 'parsed').length),
      failed.length > 0 ? `${failed.length} (${reasons.join(' ')})` : '0',
      String(verdicts.filter((verdict) => verdict.status === 'skipped').length),
      String(unaccounted),
      `${observed}/${expected}`,
      mismatched === 0 ? 'yes' : `NO (${mismatched})`,
    ];
  });
  return table(
    [
      'page',
      'fault',
      'mode',
      'injected',
      'expected',
      'parsed',
      'failed (by reason)',
      'skipped',
      'unaccounted',
      'requests seen/expected',
      'as expected',
    ],
    rows,
    new Set([0, 1, 2, 4, 6]),
  );
}

const watch = watchProcessErrors();
console.log(
  `chaos: ${pages} URLs, ${Math.round(faultRate * 100)}% of detail pages faulty, seed ${seed}, ` +
    `timeout ${timeoutMs} ms, ${retries} retries`,
);
const result = await runChaosScenario({
  ...CHAOS_DEFAULTS,
  pages,
  faultRate,
  seed,
  timeoutMs,
  retries,
  deadlineMs: Math.max(300_000, pages * 200),
  onProgress: (() => {
    let last = 0;
    return ({ meta }) => {
      if (Date.now() - last < 5000) return;
      last = Date.now();
      const { accepted, parsed, failed, skipped, unchanged } = meta.counters;
      process.stderr.write(`  ${parsed + failed + skipped + unchanged}/${accepted} URLs ended\n`);
    };
  })(),
});
watch.stop();

console.log(`\n${report(result)}\n`);
const unaccounted = result.verdicts.filter((verdict) => verdict.status === 'missing' || verdict.status === 'accepted');
const mismatched = result.verdicts.filter((verdict) => verdict.problems.length > 0);
const { memory } = result;
console.log(
  `run ${result.runId}: ${result.outcome} in ${(result.durationMs / 1000).toFixed(1)} s; ` +
    `RSS ${memory.startRssMb.toFixed(0)} MB start, ${memory.peakRssMb.toFixed(0)} MB peak, ${memory.endRssMb.toFixed(0)} MB end; ` +
    `heap used peak ${memory.peakHeapUsedMb.toFixed(0)} MB; event loop stall max ${memory.eventLoopDelayMaxMs.toFixed(0)} ms`,
);
for (const line of result.attemptMismatches) console.log(`  requests: ${line}`);
for (const line of result.strays) console.log(`  stray: ${line}`);
for (const verdict of mismatched)
  console.log(`  ${verdict.truth.path} [${verdict.truth.fault ?? 'no fault'}]: ${verdict.problems.join('; ')}`);
for (const error of watch.errors) console.log(`  ${error.split('\n')[0]}`);
if (result.deadLetters > 0) console.log(`  ${result.deadLetters} messages in dead-letter queues`);

const manifest = result.manifest;
const invariant = manifest !== undefined && result.invariantProblems.length === 0;
if (manifest) {
  const { accepted, parsed, unchanged, skipped, failed } = manifest.urls;
  console.log(
    `manifest: accepted ${accepted} = parsed ${parsed} + unchanged ${unchanged} + skipped ${skipped} + failed ${failed}: ` +
      `${invariant ? 'invariant holds' : `INVARIANT BROKEN (${result.invariantProblems.join('; ')})`}; ` +
      `${manifest.items.written} items; unaccounted ${unaccounted.length}; not as expected ${mismatched.length}; ` +
      `unhandled errors ${watch.errors.length}`,
  );
} else {
  console.log(`manifest: none (the run ${result.outcome}); unaccounted ${unaccounted.length}`);
}

const broken = !manifest || !invariant || unaccounted.length > 0 || result.strays.length > 0 || watch.errors.length > 0;
process.exitCode = broken || (values.strict && mismatched.length > 0) ? 1 : 0;
