/**
 * The checks of a job that look across its parts (template references, a template's key among its fields,
 * start URLs or sitemaps present). They read the job defensively, so they run both on a validated job (from the
 * schema's refinements) and on raw input whose other parts failed validation: a part that is not well-formed
 * enough to check is skipped, the schema reports it.
 */

/** A problem found by a cross-check, at a path relative to what was checked. */
export interface ReferenceIssue {
  readonly path: (string | number)[];
  readonly message: string;
}

type Loose = Record<string, unknown>;

function isObject(value: unknown): value is Loose {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** JSON with object keys sorted, so that two objects written in another order compare equal. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) =>
    isObject(inner) ? Object.fromEntries(Object.entries(inner).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : inner,
  );
}

/**
 * Checks one template: it has fields, and its key is one of them.
 *
 * @param template a validated template or raw input; skipped unless `key` is a string and `fields` an object
 */
export function templateReferenceIssues(template: unknown): ReferenceIssue[] {
  // A preset's fields are checked once the schema has added them (raw input does not show them).
  if (!isObject(template) || !isObject(template.fields) || (template.preset !== undefined && !('url' in template.fields)))
    return [];
  const fields = Object.keys(template.fields);
  const issues: ReferenceIssue[] = [];
  if (fields.length === 0) issues.push({ path: ['fields'], message: 'a template needs at least one field' });
  if (typeof template.key === 'string' && !fields.includes(template.key)) {
    issues.push({
      path: ['key'],
      message: `"${template.key}" is not one of the template's fields (${fields.join(', ') || 'none'})`,
    });
  }
  return issues;
}

/**
 * Checks a whole job: start URLs or sitemaps present, and every template named by `start` and `follow` defined.
 * Does not look inside templates (see {@link templateReferenceIssues}).
 *
 * @param job a validated job or raw input; missing optional parts count as their defaults
 */
export function jobReferenceIssues(job: unknown): ReferenceIssue[] {
  if (!isObject(job)) return [];
  const issues: ReferenceIssue[] = [];
  const templates = job.templates === undefined ? [] : isObject(job.templates) ? Object.keys(job.templates) : undefined;
  const unknownTemplate = (path: (string | number)[], name: unknown) => {
    if (templates === undefined || typeof name !== 'string' || templates.includes(name)) return;
    issues.push({ path, message: `unknown template "${name}" (templates: ${templates.join(', ') || 'none'})` });
  };
  const start = job.start;
  if (isObject(start)) {
    const urls = start.urls ?? [];
    const sitemaps = start.sitemaps ?? [];
    if (Array.isArray(urls) && Array.isArray(sitemaps)) {
      if (urls.length === 0 && sitemaps.length === 0) {
        issues.push({ path: ['start', 'urls'], message: 'at least one start URL or sitemap is needed' });
      }
      if (start.sitemapsFromRobots === true && urls.length === 0) {
        issues.push({ path: ['start', 'sitemapsFromRobots'], message: "needs start URLs (their hosts' robots.txt is read)" });
      }
    }
    unknownTemplate(['start', 'sitemapTemplate'], start.sitemapTemplate);
    unknownTemplate(['start', 'template'], start.template);
  }
  if (Array.isArray(job.follow)) {
    // A URL is fetched once per run, with the request options of its template, whichever rule found it.
    const requests = new Map<string, { index: number; request: string }>();
    job.follow.forEach((rule: unknown, index) => {
      if (!isObject(rule) || (rule.template !== undefined && typeof rule.template !== 'string')) return;
      const template = rule.template ?? '(none)';
      const request = canonicalJson(rule.request ?? null);
      const first = requests.get(template);
      if (first === undefined) requests.set(template, { index, request });
      else if (first.request !== request) {
        issues.push({
          path: ['follow', index, 'request'],
          message: `differs from follow[${first.index}].request: rules leading to ${rule.template === undefined ? 'pages without a template' : `template "${template}"`} must have the same request options (a URL is fetched once per run, whichever rule found it)`,
        });
      }
    });
    job.follow.forEach((rule: unknown, index) => {
      if (!isObject(rule)) return;
      unknownTemplate(['follow', index, 'template'], rule.template);
      if (templates === undefined || !Array.isArray(rule.from)) return;
      rule.from.forEach((name: unknown, fromIndex) => {
        if (typeof name === 'string' && name !== 'start' && !templates.includes(name)) {
          issues.push({
            path: ['follow', index, 'from', fromIndex],
            message: `unknown template "${name}" (use "start" for pages without a template)`,
          });
        }
      });
    });
  }
  return issues;
}

/** Every cross-check of a job, templates included, with paths from the job's root. */
export function referenceIssues(job: unknown): ReferenceIssue[] {
  const issues: ReferenceIssue[] = [];
  if (isObject(job) && isObject(job.templates)) {
    for (const [name, template] of Object.entries(job.templates)) {
      for (const issue of templateReferenceIssues(template)) issues.push({ ...issue, path: ['templates', name, ...issue.path] });
    }
  }
  issues.push(...jobReferenceIssues(job));
  return issues;
}
