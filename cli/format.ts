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

function csvCell(value: unknown): string {
  const text = Array.isArray(value) || (value !== null && typeof value === 'object') ? JSON.stringify(value) : cell(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function clip(text: string, width: number): string {
  const flat = text.replace(/\s+/g, ' ');
  return flat.length > width ? `${flat.slice(0, width - 1)}…` : flat;
}

/**
 * Writes rows in a format. `json`, `ndjson` and `csv` stream row by row (CSV columns come from `columns` or the
 * first row); `table` holds the rows it prints, so callers bound it with a limit.
 *
 * @returns the number of rows written
 */
export async function writeRows(
  rows: AsyncIterable<Row>,
  format: Format,
  output: Output,
  columns?: readonly string[],
): Promise<number> {
  let count = 0;
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
        if (count === 0) output.write(`${header.map(csvCell).join(',')}\n`);
        output.write(`${header.map((name) => csvCell(row[name])).join(',')}\n`);
        count++;
      }
      if (count === 0 && header) output.write(`${header.map(csvCell).join(',')}\n`);
      return count;
    }
    case 'table': {
      const held: Row[] = [];
      for await (const row of rows) held.push(row);
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
