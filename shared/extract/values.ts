import type { FieldSpec, FieldType } from '../job/schema.js';

/** A converted value, or why the text could not become the field's type. */
export type Converted = { ok: true; value: unknown } | { ok: false; message: string };

const TRUE_WORDS = new Set(['true', 'yes', 'y', '1', 'on', 'in stock', 'available']);
const FALSE_WORDS = new Set(['false', 'no', 'n', '0', 'off', 'out of stock', 'unavailable', 'sold out']);

const MONTHS: Record<string, number> = {
  jan: 1,
  feb: 2,
  mar: 3,
  apr: 4,
  may: 5,
  jun: 6,
  jul: 7,
  aug: 8,
  sep: 9,
  sept: 9,
  oct: 10,
  nov: 11,
  dec: 12,
};

/** Collapses runs of white space (including no-break spaces) into one space and trims. */
export function collapseWhitespace(text: string): string {
  return text.replace(/[\s\u00a0]+/g, ' ').trim();
}

/**
 * Parses a number written for people: `£1,234.56`, `1 234,56 €` (with `decimal: ','`), `-3`, `12%`.
 * The first numeric run is taken; group separators (`,`/`.` opposite the decimal, spaces, `'`) are dropped.
 */
export function parseHumanNumber(text: string, decimal: '.' | ','): number | undefined {
  const match = /[-+−]?\d[\d\s\u00a0,.'’]*/.exec(text);
  if (!match) return undefined;
  let digits = match[0].replace(/[\s\u00a0'’]/g, '').replace('−', '-');
  digits = decimal === '.' ? digits.replace(/,/g, '') : digits.replace(/\./g, '').replace(',', '.');
  digits = digits.replace(/[.,]+$/, '');
  const value = Number(digits);
  return Number.isFinite(value) ? value : undefined;
}

function pad(value: number): string {
  return String(value).padStart(2, '0');
}

function validDate(year: number, month: number, day: number): string | undefined {
  const date = new Date(Date.UTC(year, month - 1, day));
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return undefined;
  return `${year}-${pad(month)}-${pad(day)}`;
}

/**
 * Parses a date without depending on the machine's time zone. Calendar dates (`2019-03-05`, `March 5, 2019`,
 * `5 March 2019`, `Mar 5 2019`) become `YYYY-MM-DD`; timestamps with an offset or `Z` (ISO 8601, RFC 2822)
 * become full ISO strings in UTC. A timestamp without a zone is ambiguous and refused.
 */
export function parseHumanDate(text: string): string | undefined {
  const value = text.trim();
  let match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (match) return validDate(Number(match[1]), Number(match[2]), Number(match[3]));
  match = /^([A-Za-z]{3,9})\.? (\d{1,2})(?:st|nd|rd|th)?,? (\d{4})$/.exec(value);
  if (match) {
    const month = MONTHS[(match[1] ?? '').slice(0, 3).toLowerCase()];
    return month ? validDate(Number(match[3]), month, Number(match[2])) : undefined;
  }
  match = /^(\d{1,2})(?:st|nd|rd|th)? ([A-Za-z]{3,9})\.?,? (\d{4})$/.exec(value);
  if (match) {
    const month = MONTHS[(match[2] ?? '').slice(0, 3).toLowerCase()];
    return month ? validDate(Number(match[3]), month, Number(match[1])) : undefined;
  }
  const hasZone = /(Z|[+-]\d{2}:?\d{2}|GMT|UTC)$/i.test(value);
  if (!hasZone) return undefined;
  const parsed = Date.parse(value);
  return Number.isNaN(parsed) ? undefined : new Date(parsed).toISOString();
}

/** Resolves a link against the page; http(s) only. */
export function resolveHttpUrl(href: string, base: string): string | undefined {
  try {
    const url = new URL(href.trim(), base);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : undefined;
  } catch {
    return undefined;
  }
}

/** Converts one extracted text to the field's type. */
export function convertText(text: string, field: Pick<FieldSpec, 'type' | 'decimal'>, base: string): Converted {
  const type: FieldType = field.type;
  switch (type) {
    case 'string':
      return { ok: true, value: text };
    case 'number':
    case 'integer': {
      const value = parseHumanNumber(text, field.decimal);
      if (value === undefined) return { ok: false, message: `expected a number, got ${JSON.stringify(clip(text))}` };
      if (type === 'integer' && !Number.isInteger(value)) {
        return { ok: false, message: `expected an integer, got ${JSON.stringify(clip(text))}` };
      }
      return { ok: true, value };
    }
    case 'boolean': {
      const word = collapseWhitespace(text).toLowerCase();
      if (TRUE_WORDS.has(word)) return { ok: true, value: true };
      if (FALSE_WORDS.has(word)) return { ok: true, value: false };
      return { ok: false, message: `expected a boolean (yes/no, true/false, 1/0), got ${JSON.stringify(clip(text))}` };
    }
    case 'url': {
      const value = resolveHttpUrl(text, base);
      return value === undefined
        ? { ok: false, message: `expected an http(s) URL, got ${JSON.stringify(clip(text))}` }
        : { ok: true, value };
    }
    case 'date': {
      const value = parseHumanDate(text);
      return value === undefined
        ? {
            ok: false,
            message: `expected a date (YYYY-MM-DD, "March 5, 2019", or a timestamp with a zone), got ${JSON.stringify(clip(text))}`,
          }
        : { ok: true, value };
    }
  }
}

/** Checks a value a code extractor returned against the field's type, converting strings like extracted text. */
export function convertValue(value: unknown, field: Pick<FieldSpec, 'type' | 'decimal'>, base: string): Converted {
  if (typeof value === 'string') return convertText(value, field, base);
  const ok =
    (field.type === 'number' && typeof value === 'number' && Number.isFinite(value)) ||
    (field.type === 'integer' && Number.isInteger(value)) ||
    (field.type === 'boolean' && typeof value === 'boolean');
  return ok ? { ok: true, value } : { ok: false, message: `expected ${field.type}, got ${typeof value}` };
}

function clip(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
