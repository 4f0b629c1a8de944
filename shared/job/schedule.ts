/**
 * EventBridge Scheduler expressions, checked when a job is validated so that a bad schedule fails `scrapeline
 * validate` (and synth), not the deployment: `rate(value unit)` and `cron(minutes hours day-of-month month
 * day-of-week year)` with the ranges, names and wildcards of
 * https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html#cron-based.
 */

const RATE_UNITS = ['minute', 'minutes', 'hour', 'hours', 'day', 'days'] as const;

/** One field of a cron expression: its name in messages, its range, its names and the wildcards it allows. */
interface CronField {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  /** Upper-case names standing for `min`, `min + 1`, … */
  readonly names?: readonly string[];
  /** `/` increments. */
  readonly increments: boolean;
  /** `?` (whole field), and the `L`, `W` or `#` forms of the day fields. */
  readonly day?: 'month' | 'week';
}

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const WEEKDAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

const CRON_FIELDS: readonly CronField[] = [
  { name: 'minutes', min: 0, max: 59, increments: true },
  { name: 'hours', min: 0, max: 23, increments: true },
  { name: 'day-of-month', min: 1, max: 31, increments: true, day: 'month' },
  { name: 'month', min: 1, max: 12, names: MONTHS, increments: true },
  { name: 'day-of-week', min: 1, max: 7, names: WEEKDAYS, increments: false, day: 'week' },
  { name: 'year', min: 1970, max: 2199, increments: true },
];

/** The problem with one value of a field (a number or a name), `undefined` when it is in range. */
function valueProblem(field: CronField, value: string): string | undefined {
  const named = field.names?.indexOf(value.toUpperCase()) ?? -1;
  if (named >= 0) return undefined;
  if (!/^\d+$/.test(value)) {
    const names = field.names ? ` or ${field.names[0]}-${field.names.at(-1)}` : '';
    return `"${value}" is not a number${names}`;
  }
  const number = Number(value);
  if (number < field.min || number > field.max) return `${value} is out of range ${field.min}-${field.max}`;
  return undefined;
}

/** The problem with one comma-separated element of a field. */
function elementProblem(field: CronField, element: string): string | undefined {
  if (field.day === 'month') {
    if (element === 'L' || element === 'LW') return undefined;
    const weekday = /^(\d+)W$/.exec(element);
    if (weekday) return valueProblem(field, weekday[1] ?? '');
  }
  if (field.day === 'week') {
    if (element === 'L') return undefined;
    const last = /^([^#L]+)L$/.exec(element);
    if (last) return valueProblem(field, last[1] ?? '');
    const nth = /^([^#]+)#(\d+)$/.exec(element);
    if (nth) {
      const occurrence = Number(nth[2]);
      if (occurrence < 1 || occurrence > 5) return `"#${nth[2]}" must be 1-5 (the week of the month)`;
      return valueProblem(field, nth[1] ?? '');
    }
  }
  const slash = element.indexOf('/');
  let range = element;
  if (slash >= 0) {
    if (!field.increments) return `"/" is not allowed in ${field.name}`;
    range = element.slice(0, slash);
    const step = element.slice(slash + 1);
    if (!/^\d+$/.test(step) || Number(step) < 1 || Number(step) > field.max) {
      return `the increment "${step}" must be a whole number 1-${field.max}`;
    }
  }
  if (range === '*') return undefined;
  const bounds = range.split('-');
  if (bounds.length > 2 || bounds.some((bound) => bound === '')) return `"${range}" is not a value or a range`;
  for (const bound of bounds) {
    const problem = valueProblem(field, bound);
    if (problem) return problem;
  }
  return undefined;
}

/** The problem with one field of a cron expression, naming the field. */
function fieldProblem(field: CronField, value: string): string | undefined {
  if (value === '?') return field.day ? undefined : `cron ${field.name}: "?" is only allowed in day-of-month and day-of-week`;
  if (value === '*') return undefined;
  for (const element of value.split(',')) {
    const problem = elementProblem(field, element);
    if (problem) return `cron ${field.name}: ${problem}, in "${value}"`;
  }
  return undefined;
}

/**
 * Checks an EventBridge Scheduler expression: `rate(N unit)` (minute, hour or day, singular for 1) or
 * `cron(minutes hours day-of-month month day-of-week year)`, with every field in range (minutes 0-59, hours 0-23,
 * day-of-month 1-31, month 1-12 or JAN-DEC, day-of-week 1-7 or SUN-SAT, year 1970-2199), the wildcards each field
 * allows, and exactly one of day-of-month and day-of-week `?`.
 *
 * @returns the problem, naming the field at fault, or `undefined` for a valid expression
 * @example scheduleProblem('cron(0 24 * * ? *)') // 'cron hours: 24 is out of range 0-23, in "24"'
 */
export function scheduleProblem(expression: string): string | undefined {
  const rate = /^rate\((\d+) ([a-z]+)\)$/.exec(expression);
  if (rate) {
    const value = Number(rate[1]);
    const unit = rate[2] ?? '';
    if (!(RATE_UNITS as readonly string[]).includes(unit)) {
      return `rate unit must be one of ${RATE_UNITS.join(', ')}, got "${unit}"`;
    }
    if (value < 1) return 'rate value must be a positive integer';
    if (value === 1 && unit.endsWith('s')) return `use the singular unit for a value of 1: "rate(1 ${unit.slice(0, -1)})"`;
    if (value > 1 && !unit.endsWith('s')) return `use the plural unit for a value above 1: "rate(${value} ${unit}s)"`;
    return undefined;
  }
  const cron = /^cron\((.*)\)$/.exec(expression);
  if (cron) {
    const parts = (cron[1] ?? '').trim().split(/\s+/);
    if (parts.length !== 6) {
      return `cron expressions have 6 fields (minutes hours day-of-month month day-of-week year), got ${parts.length}`;
    }
    const [, , dayOfMonth, , dayOfWeek] = parts;
    if ((dayOfMonth === '?') === (dayOfWeek === '?')) {
      return 'cron: exactly one of day-of-month and day-of-week must be "?"';
    }
    const token = /^[0-9A-Za-z*?,/#LW-]+$/;
    const bad = parts.find((part) => !token.test(part));
    if (bad !== undefined) return `cron: invalid field "${bad}"`;
    for (const [index, field] of CRON_FIELDS.entries()) {
      const problem = fieldProblem(field, parts[index] ?? '');
      if (problem) return problem;
    }
    return undefined;
  }
  return 'expected "rate(<value> <unit>)" or "cron(<minutes> <hours> <day-of-month> <month> <day-of-week> <year>)"';
}
