import type { FieldSpec, FieldType } from '../job/schema.js';

/** A converted value, or why the text could not become the field's type. */
export type Converted = { ok: true; value: unknown } | { ok: false; message: string };

const TRUE_WORDS = new Set(['true', 'yes', 'y', '1', 'on', 'in stock', 'available']);
const FALSE_WORDS = new Set(['false', 'no', 'n', '0', 'off', 'out of stock', 'unavailable', 'sold out']);

const MONTH_NAMES = [
  'january',
  'february',
  'march',
  'april',
  'may',
  'june',
  'july',
  'august',
  'september',
  'october',
  'november',
  'december',
] as const;

/** The standard abbreviations of month names; written with or without a dot. */
const MONTH_ABBREVIATIONS = new Map<string, number>([
  ...MONTH_NAMES.map((name, index) => [name.slice(0, 3), index + 1] as const),
  ['sept', 9],
]);

/** The month of a full month name or a standard abbreviation (`Mar`, `Mar.`, `Sept`), in any case. */
function monthNumber(word: string): number | undefined {
  const lower = word.toLowerCase();
  if (lower.endsWith('.')) return MONTH_ABBREVIATIONS.get(lower.slice(0, -1));
  const index = MONTH_NAMES.indexOf(lower as (typeof MONTH_NAMES)[number]);
  return index >= 0 ? index + 1 : MONTH_ABBREVIATIONS.get(lower);
}

/** Zones of RFC 2822 dates, in minutes east of UTC. */
const ZONE_NAMES: Record<string, number> = {
  UT: 0,
  UTC: 0,
  GMT: 0,
  Z: 0,
  EST: -300,
  EDT: -240,
  CST: -360,
  CDT: -300,
  MST: -420,
  MDT: -360,
  PST: -480,
  PDT: -420,
};

/** Collapses runs of white space (including no-break spaces) into one space and trims. */
export function collapseWhitespace(text: string): string {
  return text.replace(/[\s\u00a0]+/g, ' ').trim();
}

/**
 * Parses a number written for people: `£1,234.56`, `1 234,56 €` (with `decimal: ','`), `-3`, `12%`.
 * The first numeric run is taken; group separators (`,`/`.` opposite the decimal, spaces, `'`) are dropped.
 * A space or `'` separates groups only before exactly three digits, so `10 20` is 10, not 1020.
 */
export function parseHumanNumber(text: string, decimal: '.' | ','): number | undefined {
  const match = /[-+−]?\d+(?:[\s'’](?=\d{3}(?!\d))\d{3}|[,.]\d+)*/.exec(text);
  if (!match) return undefined;
  let digits = match[0].replace(/[\s'’]/g, '').replace('−', '-');
  digits = decimal === '.' ? digits.replace(/,/g, '') : digits.replace(/\./g, '').replace(',', '.');
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

function validTime(hour: number, minute: number, second: number): boolean {
  return hour <= 23 && minute <= 59 && second <= 59;
}

function offsetMinutes(zone: string): number | undefined {
  const named = ZONE_NAMES[zone.toUpperCase()];
  if (named !== undefined) return named;
  const match = /^([+-])(\d{2}):?(\d{2})$/.exec(zone);
  if (!match) return undefined;
  const hours = Number(match[2]);
  const minutes = Number(match[3]);
  if (hours > 23 || minutes > 59) return undefined;
  return (match[1] === '-' ? -1 : 1) * (hours * 60 + minutes);
}

/** A timestamp as an ISO string in UTC, or undefined when a part is out of range (no rolling over). */
function timestamp(
  parts: { year: number; month: number; day: number; hour: number; minute: number; second: number; fraction?: string },
  zone: string,
): string | undefined {
  const { year, month, day, hour, minute, second } = parts;
  const offset = offsetMinutes(zone);
  if (offset === undefined || !validDate(year, month, day) || !validTime(hour, minute, second)) return undefined;
  const milliseconds = Number((parts.fraction ?? '').padEnd(3, '0').slice(0, 3));
  const time = Date.UTC(year, month - 1, day, hour, minute, second, milliseconds) - offset * 60_000;
  return new Date(time).toISOString();
}

const ISO_TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?([Zz]|[+-]\d{2}:?\d{2})$/;
const RFC_2822 =
  /^(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), ?)?(\d{1,2}) ([A-Za-z]{3}) (\d{4}) (\d{2}):(\d{2})(?::(\d{2}))? ([A-Za-z]{1,3}|[+-]\d{4})$/;

/**
 * Parses a date without depending on the machine's time zone. Calendar dates (`2019-03-05`, `March 5, 2019`,
 * `5 March 2019`, `Mar 5 2019`) become `YYYY-MM-DD`; timestamps with an offset or `Z` (ISO 8601, RFC 2822/1123)
 * become full ISO strings in UTC. A timestamp without a zone is ambiguous and refused, and so is any part out
 * of range (February 30th, 25 o'clock): nothing rolls over into the next day or month.
 */
export function parseHumanDate(text: string): string | undefined {
  const value = text.trim();
  let match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (match) return validDate(Number(match[1]), Number(match[2]), Number(match[3]));
  match = /^([A-Za-z]{3,9}\.?) (\d{1,2})(?:st|nd|rd|th)?,? (\d{4})$/.exec(value);
  if (match) {
    const month = monthNumber(match[1] ?? '');
    return month ? validDate(Number(match[3]), month, Number(match[2])) : undefined;
  }
  match = /^(\d{1,2})(?:st|nd|rd|th)? ([A-Za-z]{3,9}\.?),? (\d{4})$/.exec(value);
  if (match) {
    const month = monthNumber(match[2] ?? '');
    return month ? validDate(Number(match[3]), month, Number(match[1])) : undefined;
  }
  match = ISO_TIMESTAMP.exec(value);
  if (match) {
    return timestamp(
      {
        year: Number(match[1]),
        month: Number(match[2]),
        day: Number(match[3]),
        hour: Number(match[4]),
        minute: Number(match[5]),
        second: Number(match[6] ?? 0),
        ...(match[7] === undefined ? {} : { fraction: match[7] }),
      },
      match[8] ?? '',
    );
  }
  match = RFC_2822.exec(value);
  if (match) {
    const month = MONTH_ABBREVIATIONS.get((match[2] ?? '').toLowerCase());
    if (month === undefined) return undefined;
    return timestamp(
      {
        year: Number(match[3]),
        month,
        day: Number(match[1]),
        hour: Number(match[4]),
        minute: Number(match[5]),
        second: Number(match[6] ?? 0),
      },
      match[7] ?? '',
    );
  }
  return undefined;
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
      if (value === undefined) {
        const expected = type === 'integer' ? 'an integer' : 'a number';
        return { ok: false, message: `expected ${expected}, got ${JSON.stringify(clip(text))}` };
      }
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
