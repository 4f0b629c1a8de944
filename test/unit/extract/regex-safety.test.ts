import { describe, expect, it } from 'vitest';
import { nestedQuantifierProblem } from '../../../shared/extract/regex-safety.js';

describe('Function: nestedQuantifierProblem', () => {
  it.each(['^(a+)+$', '(a{1,3})+', '(a+){10}', '((a+)b)+', '(?<word>\\w+\\s?)*$', '(?:x*)*'])('rejects %s', (pattern) => {
    expect(nestedQuantifierProblem(pattern)).toMatch(/^nested quantifier: /);
  });

  it.each([
    '^(a?)+$',
    '^(\\d{3})+$',
    '(a{1,3}){2}',
    '[(a+)]+',
    '\\(a+\\)+',
    '(One|Two|Three)',
    '^in (.*)',
    '^(\\d+)(?:[.,](\\d+))?$',
    '/catalogue/[^/]+_\\d+/index\\.html$',
  ])('accepts %s', (pattern) => {
    expect(nestedQuantifierProblem(pattern)).toBeUndefined();
  });

  it('names the offending part', () => {
    expect(nestedQuantifierProblem('^SKU: ([A-Z]+-?)+$')).toContain('"([A-Z]+-?)+"');
  });
});
