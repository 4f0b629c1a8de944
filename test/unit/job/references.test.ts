import { describe, expect, it } from 'vitest';
import { jobReferenceIssues, referenceIssues, templateReferenceIssues } from '../../../shared/job/references.js';

describe('Function: templateReferenceIssues', () => {
  it('reports a template without fields and a key that is not a field', () => {
    // Act & Assess
    expect(templateReferenceIssues({ key: 'id', fields: {} })).toEqual([
      { path: ['fields'], message: 'a template needs at least one field' },
      { path: ['key'], message: '"id" is not one of the template\'s fields (none)' },
    ]);
  });

  it.each([
    ['fields of the wrong type', { key: 'id', fields: ['id'] }],
    ['a key of the wrong type', { key: 1, fields: { sku: '.sku' } }],
    ['no template at all', 'product'],
  ])('skips %s (the schema reports it)', (_what, template) => {
    // Act & Assess
    expect(templateReferenceIssues(template)).toEqual([]);
  });
});

describe('Function: jobReferenceIssues', () => {
  it('reports every unknown template a raw job names, with its path', () => {
    // Prepare
    const job = {
      start: { urls: ['https://shop.example/'], template: 'listing', sitemapTemplate: 'entry' },
      follow: [{ selector: 'a', template: 'product', from: ['start', 'listing', 3] }, 'not a rule'],
      templates: { product: {} },
    };

    // Act & Assess
    expect(jobReferenceIssues(job)).toEqual([
      { path: ['start', 'sitemapTemplate'], message: 'unknown template "entry" (templates: product)' },
      { path: ['start', 'template'], message: 'unknown template "listing" (templates: product)' },
      {
        path: ['follow', 0, 'from', 1],
        message: 'unknown template "listing" (use "start" for pages without a template)',
      },
    ]);
  });

  it('counts missing optional parts as their defaults, and skips malformed ones', () => {
    // Act & Assess
    expect(jobReferenceIssues({ start: { template: 'x' } })).toEqual([
      { path: ['start', 'urls'], message: 'at least one start URL or sitemap is needed' },
      { path: ['start', 'template'], message: 'unknown template "x" (templates: none)' },
    ]);
    expect(jobReferenceIssues({ start: { urls: 'https://shop.example/', template: 'x' }, templates: [] })).toEqual([]);
    expect(jobReferenceIssues(null)).toEqual([]);
  });
});

describe('Function: referenceIssues', () => {
  it('gives template problems first, with paths from the job root', () => {
    // Act & Assess
    expect(
      referenceIssues({
        start: { urls: [], sitemapsFromRobots: true },
        templates: { product: { key: 'id', fields: { sku: 1 } } },
      }),
    ).toEqual([
      { path: ['templates', 'product', 'key'], message: '"id" is not one of the template\'s fields (sku)' },
      { path: ['start', 'urls'], message: 'at least one start URL or sitemap is needed' },
      { path: ['start', 'sitemapsFromRobots'], message: "needs start URLs (their hosts' robots.txt is read)" },
    ]);
  });
});
