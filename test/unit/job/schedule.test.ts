import { describe, expect, it } from 'vitest';
import { parseJob } from '../../../shared/job/load.js';
import { scheduleProblem } from '../../../shared/job/schedule.js';

describe('Function: scheduleProblem', () => {
  it.each([
    'rate(1 minute)',
    'rate(15 minutes)',
    'rate(1 day)',
    'cron(0 6 * * ? *)',
    'cron(59 23 31 12 ? 2199)',
    'cron(0 0 1 1 ? 1970)',
    'cron(*/5 * * * ? *)',
    'cron(0/15 8-18/2 ? * MON-FRI *)',
    'cron(0,30 9 ? jan,Jul SUN *)',
    'cron(0 12 L * ? *)',
    'cron(0 12 LW * ? *)',
    'cron(0 12 15W * ? *)',
    'cron(0 12 ? * 6L *)',
    'cron(0 12 ? * FRIL *)',
    'cron(0 12 ? * 3#2 *)',
    'cron(0 12 ? * L *)',
    'cron(0 12 ? DEC 7 2030-2040)',
  ])('accepts %s', (expression) => {
    expect(scheduleProblem(expression)).toBeUndefined();
  });

  it.each([
    ['cron(99 99 ? * * *)', 'cron minutes: 99 is out of range 0-59, in "99"'],
    ['cron(0 24 * * ? *)', 'cron hours: 24 is out of range 0-23, in "24"'],
    ['cron(0 6 0 * ? *)', 'cron day-of-month: 0 is out of range 1-31, in "0"'],
    ['cron(0 6 32 * ? *)', 'cron day-of-month: 32 is out of range 1-31, in "32"'],
    ['cron(0 6 1,40 * ? *)', 'cron day-of-month: 40 is out of range 1-31, in "1,40"'],
    ['cron(0 6 * 13 ? *)', 'cron month: 13 is out of range 1-12, in "13"'],
    ['cron(0 6 * JUNE ? *)', 'cron month: "JUNE" is not a number or JAN-DEC, in "JUNE"'],
    ['cron(0 6 ? * 8 *)', 'cron day-of-week: 8 is out of range 1-7, in "8"'],
    ['cron(0 6 ? * MON-FUN *)', 'cron day-of-week: "FUN" is not a number or SUN-SAT, in "MON-FUN"'],
    ['cron(0 6 ? * 2#6 *)', 'cron day-of-week: "#6" must be 1-5 (the week of the month), in "2#6"'],
    ['cron(0 6 ? * */2 *)', 'cron day-of-week: "/" is not allowed in day-of-week, in "*/2"'],
    ['cron(0 6 * * ? 1969)', 'cron year: 1969 is out of range 1970-2199, in "1969"'],
    ['cron(0 6 * * ? 2200)', 'cron year: 2200 is out of range 1970-2199, in "2200"'],
    ['cron(0/0 6 * * ? *)', 'cron minutes: the increment "0" must be a whole number 1-59, in "0/0"'],
    ['cron(0/60 6 * * ? *)', 'cron minutes: the increment "60" must be a whole number 1-59, in "0/60"'],
    ['cron(? 6 * * ? *)', 'cron minutes: "?" is only allowed in day-of-month and day-of-week'],
    ['cron(1-2-3 6 * * ? *)', 'cron minutes: "1-2-3" is not a value or a range, in "1-2-3"'],
    ['cron(0 6 5L * ? *)', 'cron day-of-month: "5L" is not a number, in "5L"'],
    ['cron(0 6 * * * *)', 'cron: exactly one of day-of-month and day-of-week must be "?"'],
    ['cron(0 6 ? * ? *)', 'cron: exactly one of day-of-month and day-of-week must be "?"'],
    ['cron(0 6 1 * MON *)', 'cron: exactly one of day-of-month and day-of-week must be "?"'],
  ])('refuses %s: %s', (expression, problem) => {
    expect(scheduleProblem(expression)).toBe(problem);
  });
});

describe('Function: parseJob, schedule', () => {
  it('reports a schedule out of range at validation, naming the job file, the key and the cron field', () => {
    // Act
    const parse = () =>
      parseJob({ name: 'shop', schedule: 'cron(99 99 ? * * *)', start: { urls: ['https://shop.example/'] } }, 'jobs/shop.yaml');

    // Assess
    expect(parse).toThrow('jobs/shop.yaml: schedule: cron minutes: 99 is out of range 0-59, in "99"');
  });

  it('accepts a valid cron schedule', () => {
    const job = parseJob(
      { name: 'shop', schedule: 'cron(30 5 ? * MON-FRI *)', start: { urls: ['https://shop.example/'] } },
      'shop.yaml',
    );
    expect(job.schedule).toBe('cron(30 5 ? * MON-FRI *)');
  });
});
