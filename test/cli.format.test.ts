import { describe, expect, it } from 'vitest';
import { csvCell, writeRows } from '../cli/format.js';
import type { Row } from '../shared/query.js';

async function* from(rows: Row[]): AsyncIterable<Row> {
  yield* rows;
}

async function render(rows: Row[], format: 'csv' | 'table', columns?: string[], unlisted?: Set<string>) {
  const out: string[] = [];
  const count = await writeRows(from(rows), format, { write: (text) => void out.push(text) }, columns, unlisted);
  return { text: out.join(''), count };
}

describe('Function: csvCell', () => {
  it.each([
    ['=1+1', "'=1+1"],
    ['+1', "'+1"],
    ['-1', "'-1"],
    ['@SUM(A1)', "'@SUM(A1)"],
    ['\tx', "'\tx"],
    ['\rx', `"'\rx"`],
    ['=HYPERLINK("http://evil/","x")', `"'=HYPERLINK(""http://evil/"",""x"")"`],
    ['a=b', 'a=b'],
  ])('escapes text starting like a formula: %j', (text, cell) => {
    expect(csvCell(text)).toBe(cell);
  });

  it('writes numbers and booleans as they are, negative numbers included: they are values, not text', () => {
    expect(csvCell(-3)).toBe('-3');
    expect(csvCell(-0.5)).toBe('-0.5');
    expect(csvCell(true)).toBe('true');
  });

  it('quotes per RFC 4180 and writes lists and objects as JSON (escaped when they start like a formula)', () => {
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell('two\nlines')).toBe('"two\nlines"');
    expect(csvCell(['a', 'b'])).toBe('"[""a"",""b""]"');
    expect(csvCell(null)).toBe('');
    expect(csvCell(undefined)).toBe('');
  });
});

describe('Function: writeRows', () => {
  it('CSV columns are the given columns, not the first row’s: later rows keep their fields', async () => {
    const { text, count } = await render([{ a: 1 }, { b: '-x', a: 2 }], 'csv', ['a', 'b']);
    expect(count).toBe(2);
    expect(text).toBe("a,b\n1,\n2,'-x\n");
  });

  it('collects the keys of rows that the given columns leave out', async () => {
    const unlisted = new Set<string>();
    await render([{ a: 1, old: 2 }], 'csv', ['a'], unlisted);
    expect([...unlisted]).toEqual(['old']);
    const table = await render([{ b: 1 }, { a: 2 }], 'table', ['a', 'b']);
    expect(table.text.split('\n')[0]).toBe('a  b');
  });

  it('CSV of no rows with columns still writes the header', async () => {
    expect((await render([], 'csv', ['a', 'b'])).text).toBe('a,b\n');
  });

  it('table output shows control characters and bidi overrides escaped: scraped text cannot drive the terminal', async () => {
    // Prepare: retitle the terminal (OSC), clear it (CSI 2J), ring the bell, a C1 CSI, a right-to-left override
    const hostile = '\u001b]0;pwned\u0007\u001b[2Jtitle\u009b31m\u202egnp.exe';

    // Act
    const { text } = await render([{ title: hostile }], 'table', ['title']);

    // Assess
    // biome-ignore lint/suspicious/noControlCharactersInRegex: asserting that none reaches the terminal
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e]/);
    expect(text).toContain('\\x1b]0;pwned\\x07\\x1b[2Jtitle\\x9b31m\\u202egnp.exe');
  });
});
