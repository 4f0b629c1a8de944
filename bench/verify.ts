/** Checks the items a tool wrote (NDJSON, one item a line) against the fixture's ground truth. */
import { createReadStream, existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Product } from './site.js';

export interface Verification {
  /** Lines read. */
  readonly items: number;
  /** Distinct products whose every field equals the ground truth. */
  readonly exact: number;
  /** Items whose sku is unknown, repeated, or whose fields differ. */
  readonly wrong: number;
  /** Products no item was found for. */
  readonly missing: number;
  /** A few differences, for the report. */
  readonly samples: string[];
  readonly complete: boolean;
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Compares one item with its product; returns the names of the fields that differ. */
export function differences(item: Record<string, unknown>, product: Product): string[] {
  const expected: Record<string, unknown> = {
    sku: product.sku,
    title: product.title,
    price: product.price,
    inStock: product.inStock,
    stock: product.stock,
    rating: product.rating,
    category: product.category,
    tags: product.tags,
    reviews: product.reviews,
  };
  const out: string[] = [];
  for (const [field, value] of Object.entries(expected)) if (!same(item[field], value)) out.push(field);
  let path: string | undefined;
  try {
    path = new URL(String(item.url)).pathname;
  } catch {
    path = undefined;
  }
  if (path !== product.path) out.push('url');
  return out;
}

export async function verifyItems(file: string, products: readonly Product[]): Promise<Verification> {
  const bySku = new Map(products.map((product) => [product.sku, product]));
  const seen = new Set<string>();
  let items = 0;
  let exact = 0;
  let wrong = 0;
  const samples: string[] = [];
  if (existsSync(file)) {
    const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Number.POSITIVE_INFINITY });
    for await (const line of lines) {
      if (line.trim() === '') continue;
      items++;
      const item = JSON.parse(line) as Record<string, unknown>;
      const sku = String(item.sku);
      const product = bySku.get(sku);
      if (!product || seen.has(sku)) {
        wrong++;
        if (samples.length < 5) samples.push(`${product ? 'duplicate' : 'unknown'} sku ${sku}`);
        continue;
      }
      seen.add(sku);
      const diff = differences(item, product);
      if (diff.length === 0) exact++;
      else {
        wrong++;
        if (samples.length < 5) {
          samples.push(`${sku}: ${diff.map((field) => `${field}=${JSON.stringify(item[field])}`).join(', ')}`);
        }
      }
    }
  }
  const missing = products.length - seen.size;
  return { items, exact, wrong, missing, samples, complete: exact === products.length && wrong === 0 };
}
