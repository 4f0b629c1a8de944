import { describe, expect, it } from 'vitest';
import { GzipNdjsonParts, GzipNdjsonWriter, gunzipLines, gzipNdjson } from '../../shared/ndjson.js';

/** Rows of varied sizes and characters, some long enough that a few fill the writer's pending text. */
function rowsOf(count: number): Record<string, unknown>[] {
  return Array.from({ length: count }, (_, index) => ({
    name: `product ${index} — ünïcode`,
    price: index * 1.25,
    tags: index % 3 === 0 ? ['a', 'b'] : null,
    description: 'x'.repeat((index * 997) % 9_000),
  }));
}

/** The parts a {@link GzipNdjsonParts} writes, by index. */
async function partsOf(rows: readonly unknown[], partRows: number): Promise<{ parts: Buffer[]; sink: GzipNdjsonParts }> {
  const parts: Buffer[] = [];
  const sink = new GzipNdjsonParts(partRows, async (body, index) => {
    parts[index] = body;
  });
  for (const row of rows) await sink.push(row);
  await sink.flush();
  return { parts, sink };
}

describe('Class: GzipNdjsonWriter', () => {
  it('makes the bytes gzipNdjson makes of the same rows, however many the pending text holds', async () => {
    // Prepare
    const rows = [...rowsOf(300), { long: 'y'.repeat(200_000) }, ...rowsOf(5)];
    const writer = new GzipNdjsonWriter();

    // Act
    for (const row of rows) await writer.write(row);
    const body = await writer.end();

    // Assess
    expect(writer.rows).toBe(rows.length);
    expect(body.equals(gzipNdjson(rows))).toBe(true);
    expect(gunzipLines('part', body)).toEqual([...rows.map((row) => JSON.stringify(row)), '']);
  });
});

describe('Class: GzipNdjsonParts', () => {
  it('splits at every partRows rows, the last part holding the rest, each part the rows written to it', async () => {
    // Prepare
    const rows = rowsOf(25);

    // Act
    const { parts, sink } = await partsOf(rows, 10);

    // Assess
    expect(sink.count).toBe(25);
    expect(sink.written).toBe(3);
    expect(parts.map((part) => gunzipLines('part', part).length - 1)).toEqual([10, 10, 5]);
    for (const [index, part] of parts.entries()) {
      expect(part.equals(gzipNdjson(rows.slice(index * 10, index * 10 + 10)))).toBe(true);
    }
  });

  it('writes no empty part: none for no rows, none after a full last part', async () => {
    // Act
    const none = await partsOf([], 10);
    const exact = await partsOf(rowsOf(20), 10);

    // Assess
    expect(none.parts).toEqual([]);
    expect(none.sink.written).toBe(0);
    expect(exact.parts).toHaveLength(2);
    expect(exact.sink.written).toBe(2);
  });

  it('writes a part as soon as it is full, before the next row is pushed', async () => {
    // Prepare
    const written: number[] = [];
    const sink = new GzipNdjsonParts(2, async (_body, index) => {
      written.push(index);
    });

    // Act
    await sink.push({ a: 1 });
    const afterOne = [...written];
    await sink.push({ a: 2 });

    // Assess
    expect(afterOne).toEqual([]);
    expect(written).toEqual([0]);
  });

  it('refuses a part size that is not a positive integer, naming the option and the value', () => {
    // Act / Assess
    expect(() => new GzipNdjsonParts(0, async () => {})).toThrow('partRows must be a positive integer, got 0');
    expect(() => new GzipNdjsonParts(1.5, async () => {})).toThrow(RangeError);
  });
});
