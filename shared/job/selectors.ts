import { load } from 'cheerio/slim';
import type { JobProblem } from './errors.js';

const probe = load('<html><body></body></html>');

function selectorProblem(selector: string): string | undefined {
  try {
    probe(selector);
    return undefined;
  } catch (error) {
    return `invalid CSS selector "${selector}": ${(error as Error).message}`;
  }
}

type Loose = Record<string, unknown>;

function isObject(value: unknown): value is Loose {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Compiles every CSS selector of a job once, so a typo fails validation instead of every page of a run.
 *
 * @param job a validated job, or raw input that failed validation elsewhere: every selector that is a non-empty
 *   string is checked, whatever else is wrong around it
 */
export function selectorProblems(job: unknown): JobProblem[] {
  const problems: JobProblem[] = [];
  const check = (path: string, selector: unknown) => {
    if (typeof selector !== 'string' || selector === '') return;
    const message = selectorProblem(selector);
    if (message) problems.push({ path, message });
  };
  if (!isObject(job)) return problems;
  if (Array.isArray(job.follow)) {
    for (const [index, rule] of job.follow.entries()) {
      if (isObject(rule)) check(`follow[${index}].selector`, rule.selector);
    }
  }
  if (isObject(job.templates)) {
    for (const [name, template] of Object.entries(job.templates)) {
      if (!isObject(template)) continue;
      // A JSON template's items are a JMESPath query, which the schema checks.
      const fields = isObject(template.fields) ? Object.values(template.fields) : [];
      const json =
        template.format === 'json' ||
        fields.some(
          (spec) =>
            isObject(spec) &&
            (spec.from === 'json' ||
              (Array.isArray(spec.fallback) && spec.fallback.some((one) => isObject(one) && one.from === 'json'))),
        );
      if (!json) check(`templates.${name}.items`, template.items);
      if (!isObject(template.fields)) continue;
      for (const [field, spec] of Object.entries(template.fields)) {
        check(`templates.${name}.fields.${field}.selector`, isObject(spec) ? spec.selector : spec);
      }
    }
  }
  return problems;
}
