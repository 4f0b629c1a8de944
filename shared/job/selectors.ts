import { load } from 'cheerio/slim';
import type { JobProblem } from './errors.js';
import type { Job } from './schema.js';

const probe = load('<html><body></body></html>');

function selectorProblem(selector: string): string | undefined {
  try {
    probe(selector);
    return undefined;
  } catch (error) {
    return `invalid CSS selector "${selector}": ${(error as Error).message}`;
  }
}

/** Compiles every CSS selector of a job once, so a typo fails validation instead of every page of a run. */
export function selectorProblems(job: Job): JobProblem[] {
  const problems: JobProblem[] = [];
  const check = (path: string, selector: string | undefined) => {
    if (selector === undefined) return;
    const message = selectorProblem(selector);
    if (message) problems.push({ path, message });
  };
  for (const [index, rule] of job.follow.entries()) check(`follow[${index}].selector`, rule.selector);
  for (const [name, template] of Object.entries(job.templates)) {
    check(`templates.${name}.items`, template.items);
    for (const [field, spec] of Object.entries(template.fields))
      check(`templates.${name}.fields.${field}.selector`, spec.selector);
  }
  return problems;
}
