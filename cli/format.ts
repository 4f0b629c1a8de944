import type { Row } from '../shared/query.js';

export const FORMATS = ['table', 'json', 'ndjson', 'csv'] as const;
export type Format = (typeof FORMATS)[number];

/** Where formatted output goes (stdout in the CLI, a buffer in tests). */
export interface Output {
  write(text: string): void;
}

function cell(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (Array.isArray(value)) return value.map(cell).join(', ');
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** First characters that make a spreadsheet (Excel, LibreOffice, Google Sheets) read a cell as a formula. */
const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * One CSV cell (RFC 4180: quoted when it holds `"`, `,`, CR or LF; quotes doubled).
 *
 * Scraped text is attacker-controlled, and a spreadsheet runs a cell starting with `=`, `+`, `-`, `@`, tab or CR
 * as a formula (CSV injection): such text cells get a leading `'`, as OWASP advises, so that they open as text.
 * Numbers and booleans, which the pipeline typed from the page, are written as they are: `-3` from a number field
 * is a number, not text, and a spreadsheet reads it as one. A string field that holds "-3" is text and is escaped.
 */
export function csvCell(value: unknown): string {
  let text: string;
  if (value === undefined || value === null) text = '';
  else if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') text = String(value);
  else {
    text = typeof value === 'object' ? JSON.stringify(value) : String(value);
    if (FORMULA_START.test(text)) text = `'${text}`;
  }
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/**
 * Control characters (C0, DEL, C1) and bidirectional overrides: raw in a terminal, scraped text could retitle or
 * clear it, move the cursor or reorder what is shown. A table shows them escaped (`\x1b`, `\u202e`).
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: these control characters are what it looks for
const UNSAFE_FOR_TERMINAL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

function clip(text: string, width: number): string {
  const flat = text.replace(/\s+/g, ' ').replace(UNSAFE_FOR_TERMINAL, (character) => {
    const code = character.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16)}`;
  });
  return flat.length > width ? `${flat.slice(0, width - 1)}…` : flat;
}

/**
 * Writes rows in a format. `json`, `ndjson` and `csv` stream row by row; `table` holds the rows it prints, so
 * callers bound it with a limit. CSV and table columns are `columns` when given (callers that know the rows' shape
 * up front pass it, so that no row's fields are lost), else the keys of the first row (CSV) or of every row (table).
 *
 * @param unlisted collects keys of rows that are not among `columns` (and so were left out of CSV and table output)
 * @returns the number of rows written
 */
export async function writeRows(
  rows: AsyncIterable<Row>,
  format: Format,
  output: Output,
  columns?: readonly string[],
  unlisted?: Set<string>,
): Promise<number> {
  let count = 0;
  const note = (row: Row) => {
    if (!unlisted || !columns) return;
    for (const key of Object.keys(row)) if (!columns.includes(key)) unlisted.add(key);
  };
  switch (format) {
    case 'ndjson':
      for await (const row of rows) {
        output.write(`${JSON.stringify(row)}\n`);
        count++;
      }
      return count;
    case 'json':
      output.write('[');
      for await (const row of rows) {
        output.write(`${count === 0 ? '\n' : ',\n'}  ${JSON.stringify(row)}`);
        count++;
      }
      output.write(count === 0 ? ']\n' : '\n]\n');
      return count;
    case 'csv': {
      let header = columns;
      for await (const row of rows) {
        if (!header) header = Object.keys(row);
        note(row);
        if (count === 0) output.write(`${header.map(csvCell).join(',')}\n`);
        output.write(`${header.map((name) => csvCell(row[name])).join(',')}\n`);
        count++;
      }
      if (count === 0 && header) output.write(`${header.map(csvCell).join(',')}\n`);
      return count;
    }
    case 'table': {
      const held: Row[] = [];
      for await (const row of rows) {
        note(row);
        held.push(row);
      }
      const names = columns ?? [...new Set(held.flatMap((row) => Object.keys(row)))];
      const maxWidth = Math.max(24, Math.floor(200 / Math.max(1, names.length)));
      const texts = held.map((row) => names.map((name) => clip(cell(row[name]), maxWidth)));
      const widths = names.map((name, index) => Math.max(name.length, ...texts.map((line) => line[index]?.length ?? 0)));
      const line = (values: readonly string[]) =>
        `${values
          .map((value, index) => value.padEnd(widths[index] ?? 0))
          .join('  ')
          .trimEnd()}\n`;
      output.write(line(names));
      output.write(line(widths.map((width) => '-'.repeat(width))));
      for (const values of texts) output.write(line(values));
      return held.length;
    }
  }
}
