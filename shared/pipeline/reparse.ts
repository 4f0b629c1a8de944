import { gzipMembers, readWarcRecord } from '../archive/warc.js';
import { InvalidInputError } from '../errors.js';
import type { PipelineContext } from './context.js';
import { finalizeIfComplete, writeRunningManifest } from './finalize.js';
import type { ParseTask } from './messages.js';

/** Options of {@link startReparse}. */
export interface ReparseOptions {
  /**
   * Let the reparse stand as the job's latest run: its items update the item memory and the current state, its page
   * yields the page memory, and a good reparse becomes the quality baseline. Without it a reparse only writes its own
   * run (dataset, quarantine, changes compared with the current state, manifest) and never moves the job's current
   * state, which may be newer than the archive. Either way it infers no removals: its source run archived only the
   * pages it fetched, not those that were unchanged. @default false
   */
  readonly asLatest?: boolean;
}

/**
 * Starts a run that extracts again every page archived by an earlier run, without fetching: each archived response
 * becomes a URL of the new run and a parse task pointing at its WARC record, with link following off. Run it after
 * changing a template or an extractor; the new run's dataset, changes and quality report come out as usual.
 *
 * @returns the number of archived pages queued for parsing
 */
export async function startReparse(
  context: PipelineContext,
  job: string,
  sourceRunId: string,
  runId: string,
  options: ReparseOptions = {},
): Promise<number> {
  context.jobs.get(job);
  const source = await context.ledger.getStart(job, sourceRunId);
  if (!source) throw new InvalidInputError(`no run ${sourceRunId} of job ${job} to reparse`);
  const now = context.clock.now();
  const reparse = { sourceRunId, asLatest: options.asLatest ?? false };
  if (await context.ledger.createRun(job, runId, { hosts: source.hosts, seeds: source.seeds, reparse }, now)) {
    const meta = await context.ledger.getRun(job, runId);
    if (meta) await writeRunningManifest(context, meta);
  }
  const tasks: ParseTask[] = [];
  for await (const object of context.store.list(`raw/${job}/${sourceRunId}/`)) {
    const file = await context.store.get(object.key);
    if (!file) continue;
    const archived: ParseTask[] = [];
    for (const member of gzipMembers(file)) {
      const record = readWarcRecord(file.subarray(member.offset, member.offset + member.length));
      if (record.fields['WARC-Type'] !== 'response') continue;
      const template = record.fields['Scrapeline-Template'];
      archived.push({
        type: 'parse',
        job,
        runId,
        url: record.fields['Scrapeline-Requested-URI'] ?? record.fields['WARC-Target-URI'] ?? '',
        depth: Number(record.fields['Scrapeline-Depth'] ?? 0),
        ...(template === undefined ? {} : { template }),
        hosts: [...source.hosts],
        raw: { key: object.key, offset: member.offset, length: member.length },
        follow: false,
      });
    }
    const outcomes = await context.ledger.acceptMany(
      job,
      runId,
      archived.map((task) => ({ url: task.url, depth: task.depth, template: task.template, parent: 'reparse' })),
      { maxPages: Number.MAX_SAFE_INTEGER, now },
    );
    tasks.push(...archived.filter((_, index) => outcomes[index] === 'accepted' || outcomes[index] === 'pending'));
  }
  await context.parseQueue.send(tasks.map((task) => ({ body: JSON.stringify(task) })));
  if (tasks.length === 0) await finalizeIfComplete(context, job, runId);
  return tasks.length;
}
