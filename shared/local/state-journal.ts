import { closeSync, openSync, readSync } from 'node:fs';
import type { StateValue } from '../ports.js';

/** One entry of the journal of earlier versions: the whole item after a change, `null` when it was deleted. */
export interface LegacyJournalEntry {
  readonly pk: string;
  readonly sk: string;
  readonly item: Record<string, StateValue> | null;
}

const CHUNK_BYTES = 1 << 20;

/**
 * Replays the JSON-lines journal `state.journal` of earlier versions (one `{pk, sk, item}` line per changed item,
 * later lines win), streaming it in 1 MB chunks so a journal of any size is read in bounded memory.
 *
 * Same tolerance as the old store's replay: blank lines are skipped; a line that does not parse is a torn write of a
 * crashed process when at most one (line-break-free) fragment follows it, and it and that fragment are dropped;
 * anything else that does not parse is corruption.
 *
 * @throws Error naming the file and line when the journal is corrupt before its end
 * @returns the number of entries replayed
 */
export function replayLegacyJournal(file: string, onEntry: (entry: LegacyJournalEntry) => void): number {
  const fd = openSync(file, 'r');
  try {
    const buffer = Buffer.allocUnsafe(CHUNK_BYTES);
    let pending = Buffer.alloc(0);
    let lineNumber = 0;
    let entries = 0;
    let eof = false;
    // A line that did not parse: only a torn write when no line break follows it.
    let torn: number | undefined;
    while (!eof) {
      const read = readSync(fd, buffer, 0, CHUNK_BYTES, null);
      eof = read === 0;
      pending = pending.length === 0 ? Buffer.from(buffer.subarray(0, read)) : Buffer.concat([pending, buffer.subarray(0, read)]);
      let start = 0;
      for (;;) {
        const end = pending.indexOf(0x0a, start);
        const last = end === -1;
        if (last && !eof) break;
        const line = pending.subarray(start, last ? pending.length : end);
        start = last ? pending.length : end + 1;
        if (torn !== undefined) {
          if (!last) throw new Error(`state journal ${file} is corrupt at line ${torn}`);
        } else {
          lineNumber++;
          if (line.length > 0) {
            let entry: LegacyJournalEntry;
            try {
              entry = JSON.parse(line.toString('utf8'));
            } catch {
              torn = lineNumber;
              if (last) break;
              continue;
            }
            onEntry(entry);
            entries++;
          }
        }
        if (last) break;
      }
      pending = pending.subarray(start);
    }
    return entries;
  } finally {
    closeSync(fd);
  }
}
