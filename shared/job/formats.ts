import type { FieldSpec, Job } from './schema.js';

/**
 * Which documents a job reads: HTML, or JSON bodies (templates whose fields read `from: json`, follow rules with a
 * query or a page counter). Without zod, so that the fetcher and the parser can ask.
 */

/** Whether a template reads JSON: its `format` says so, or one of its fields (or their fallbacks) reads `from: json`. */
export function readsJson(template: {
  readonly fields: Readonly<Record<string, FieldSpec>>;
  readonly format?: string | undefined;
}): boolean {
  return (
    template.format === 'json' ||
    Object.values(template.fields).some((field) => [field, ...(field.fallback ?? [])].some((source) => source.from === 'json'))
  );
}

/** Whether any page of a job may be read as JSON: a JSON template, or a follow rule reading JSON values. */
export function jobReadsJson(job: Job): boolean {
  return (
    Object.values(job.templates).some(readsJson) ||
    job.follow.some((rule) => rule.query !== undefined || rule.pageCounter !== undefined)
  );
}

/** Media types read as JSON: `application/json` and every `+json` type (`application/ld+json`, `…/vnd.api+json`). */
const JSON_MEDIA_TYPE = /^application\/(?:json|[a-z0-9.!#$&^_-]+\+json)$/;

/** Whether a Content-Type header (or a bare media type) names JSON. */
export function isJsonContentType(contentType: string | undefined): boolean {
  return JSON_MEDIA_TYPE.test((contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '');
}
