import { describe, expect, it } from 'vitest';
import {
  collapseWhitespace,
  convertText,
  convertValue,
  parseHumanDate,
  parseHumanNumber,
  resolveHttpUrl,
} from '../../../shared/extract/values.js';

const BASE = 'https://shop.example/catalogue/page-1.html';

describe('Function: collapseWhitespace', () => {
  it('collapses runs of spaces, tabs, newlines and no-break spaces, and trims', () => {
    // Act & Assess
    expect(collapseWhitespace('\n\t  Hello\u00a0\u00a0 \n world \r\n')).toBe('Hello world');
    expect(collapseWhitespace('   ')).toBe('');
  });
});

describe('Function: parseHumanNumber', () => {
  it.each([
    ['£1,234.56', '.', 1234.56],
    ['1.234,56', ',', 1234.56],
    ['1 234,56 €', ',', 1234.56],
    ['1\u00a0234,5', ',', 1234.5],
    ["1'234'567", '.', 1_234_567],
    ['−3', '.', -3],
    ['-3', '.', -3],
    ['+5', '.', 5],
    ['12%', '.', 12],
    ['Price: 42 (incl. VAT)', '.', 42],
    ['0.5', '.', 0.5],
    ['1,000,000', '.', 1_000_000],
    ['3.', '.', 3],
    ['In stock (22 available)', '.', 22],
    ['12 345 678', '.', 12_345_678],
    ['10 20', '.', 10],
    ['1 2345', '.', 1],
    ["1'23", '.', 1],
  ] as const)('reads %j with decimal %j as %d', (text, decimal, expected) => {
    // Act & Assess
    expect(parseHumanNumber(text, decimal)).toBe(expected);
  });

  it.each(['', 'free', '-', '£', 'n/a'])('finds no number in %j', (text) => {
    // Act & Assess
    expect(parseHumanNumber(text, '.')).toBeUndefined();
  });
});

describe('Function: parseHumanDate', () => {
  it.each([
    ['2019-03-05', '2019-03-05'],
    ['March 5, 2019', '2019-03-05'],
    ['March 5 2019', '2019-03-05'],
    ['Mar. 5, 2019', '2019-03-05'],
    ['Sept 30, 2019', '2019-09-30'],
    ['5 March 2019', '2019-03-05'],
    ['5th March 2019', '2019-03-05'],
    ['1st Jan 2020', '2020-01-01'],
    ['December 31, 1999', '1999-12-31'],
    ['  2020-02-29  ', '2020-02-29'],
    ['2019-03-05T10:00:00Z', '2019-03-05T10:00:00.000Z'],
    ['2019-03-05T10:00:00.250Z', '2019-03-05T10:00:00.250Z'],
    ['2019-03-05T10:00:00+02:00', '2019-03-05T08:00:00.000Z'],
    ['2019-03-05T10:00:00-05:30', '2019-03-05T15:30:00.000Z'],
    ['2019-03-05T10:00:00+0200', '2019-03-05T08:00:00.000Z'],
    ['Tue, 05 Mar 2019 10:00:00 GMT', '2019-03-05T10:00:00.000Z'],
    ['Tue, 05 Mar 2019 10:00:00 +0100', '2019-03-05T09:00:00.000Z'],
    ['5 Mar 2019 10:00 EST', '2019-03-05T15:00:00.000Z'],
    ['2019-03-05T10:00:00.1234Z', '2019-03-05T10:00:00.123Z'],
    ['2019-03-05 10:00Z', '2019-03-05T10:00:00.000Z'],
    ['2020-02-29T23:59:59-01:00', '2020-03-01T00:59:59.000Z'],
    ['5 JAN. 2020', '2020-01-05'],
    ['september 5, 2019', '2019-09-05'],
  ])('reads %j as %j', (text, expected) => {
    // Act & Assess
    expect(parseHumanDate(text)).toBe(expected);
  });

  it.each([
    ['a timestamp without a zone', '2019-03-05T10:00:00'],
    ['a local date and time', '2019-03-05 10:00'],
    ['February 30th (ISO)', '2019-02-30'],
    ['February 30th (words)', 'Feb 30, 2019'],
    ['29 February of a common year', '29 February 2019'],
    ['month 13', '2019-13-01'],
    ['day 0', '2019-03-00'],
    ['an unknown month word', 'Foo 5, 2019'],
    ['an hour of 25', '2019-03-05T25:00:00Z'],
    ['two-digit years', '5 March 19'],
    ['slashes', '03/05/2019'],
    ['nothing', ''],
    ['words', 'tomorrow'],
    ['a full month name with a dot', 'March. 5, 2019'],
    ['an offset beyond 23 hours', '2019-03-05T10:00:00+24:00'],
    ['a second of 60', '2019-03-05T10:00:60Z'],
    ['an unknown zone name', 'Tue, 05 Mar 2019 10:00:00 XYZ'],
    ['a full month name in an RFC 2822 date', '05 March 2019 10:00:00 GMT'],
  ])('refuses %s (%j)', (_what, text) => {
    // Act & Assess
    expect(parseHumanDate(text)).toBeUndefined();
  });

  it('refuses a timestamp on a day that does not exist', () => {
    // Act & Assess
    expect(parseHumanDate('2019-02-30T10:00:00Z')).toBeUndefined();
  });

  it('refuses a word that merely starts like a month name', () => {
    // Act & Assess
    expect(parseHumanDate('Marzipan 5, 2019')).toBeUndefined();
    expect(parseHumanDate('5 Junk 2019')).toBeUndefined();
  });

  it('refuses text that is not a date but ends with a zone name', () => {
    // Act & Assess
    expect(parseHumanDate('1 UTC')).toBeUndefined();
    expect(parseHumanDate('Chapter 12 GMT')).toBeUndefined();
  });
});

describe('Function: resolveHttpUrl', () => {
  it('resolves relative links against the base', () => {
    // Act & Assess
    expect(resolveHttpUrl('../p/1.html', BASE)).toBe('https://shop.example/p/1.html');
    expect(resolveHttpUrl('  /x?y=1 ', BASE)).toBe('https://shop.example/x?y=1');
    expect(resolveHttpUrl('//cdn.example/a.png', BASE)).toBe('https://cdn.example/a.png');
  });

  it('refuses other schemes and garbage', () => {
    // Act & Assess
    expect(resolveHttpUrl('javascript:alert(1)', BASE)).toBeUndefined();
    expect(resolveHttpUrl('mailto:a@b.example', BASE)).toBeUndefined();
    expect(resolveHttpUrl('http://', BASE)).toBeUndefined();
  });
});

describe('Function: convertText', () => {
  const as = (type: 'string' | 'number' | 'integer' | 'boolean' | 'url' | 'date', decimal: '.' | ',' = '.') => ({
    type,
    decimal,
  });

  it('keeps strings as they are', () => {
    // Act & Assess
    expect(convertText('  x  ', as('string'), BASE)).toEqual({ ok: true, value: '  x  ' });
  });

  it('converts numbers and integers', () => {
    // Act & Assess
    expect(convertText('£51.77', as('number'), BASE)).toEqual({ ok: true, value: 51.77 });
    expect(convertText('1.234,56', as('number', ','), BASE)).toEqual({ ok: true, value: 1234.56 });
    expect(convertText('1,234', as('integer'), BASE)).toEqual({ ok: true, value: 1234 });
    expect(convertText('−3', as('integer'), BASE)).toEqual({ ok: true, value: -3 });
  });

  it('refuses a fraction as an integer, and text without digits as a number', () => {
    // Act & Assess
    expect(convertText('2.5', as('integer'), BASE)).toEqual({ ok: false, message: 'expected an integer, got "2.5"' });
    expect(convertText('free', as('number'), BASE)).toEqual({ ok: false, message: 'expected a number, got "free"' });
    expect(convertText('n/a', as('integer'), BASE)).toEqual({ ok: false, message: 'expected an integer, got "n/a"' });
  });

  it.each([
    ['true', true],
    ['Yes', true],
    ['y', true],
    ['1', true],
    ['ON', true],
    ['In stock', true],
    [' available ', true],
    ['false', false],
    ['NO', false],
    ['0', false],
    ['off', false],
    ['Out of  stock', false],
    ['unavailable', false],
    ['Sold out', false],
  ])('reads the boolean word %j', (text, expected) => {
    // Act & Assess
    expect(convertText(text, as('boolean'), BASE)).toEqual({ ok: true, value: expected });
  });

  it('refuses other boolean words', () => {
    // Act & Assess
    expect(convertText('maybe', as('boolean'), BASE)).toEqual({
      ok: false,
      message: 'expected a boolean (yes/no, true/false, 1/0), got "maybe"',
    });
  });

  it('resolves URLs against the base and refuses non-http ones', () => {
    // Act & Assess
    expect(convertText('p/2.html', as('url'), BASE)).toEqual({ ok: true, value: 'https://shop.example/catalogue/p/2.html' });
    expect(convertText('ftp://x.example/', as('url'), BASE)).toEqual({
      ok: false,
      message: 'expected an http(s) URL, got "ftp://x.example/"',
    });
  });

  it('converts dates and names the accepted forms when refusing one', () => {
    // Act & Assess
    expect(convertText('5 March 2019', as('date'), BASE)).toEqual({ ok: true, value: '2019-03-05' });
    expect(convertText('2019-02-30', as('date'), BASE)).toEqual({
      ok: false,
      message: 'expected a date (YYYY-MM-DD, "March 5, 2019", or a timestamp with a zone), got "2019-02-30"',
    });
  });

  it('clips long text in messages to 60 characters', () => {
    // Act
    const result = convertText('x'.repeat(500), as('number'), BASE);

    // Assess
    expect(result).toEqual({ ok: false, message: `expected a number, got "${'x'.repeat(57)}..."` });
  });
});

describe('Function: convertValue', () => {
  it('converts strings like extracted text', () => {
    // Act & Assess
    expect(convertValue('£3.50', { type: 'number', decimal: '.' }, BASE)).toEqual({ ok: true, value: 3.5 });
    expect(convertValue('/a', { type: 'url', decimal: '.' }, BASE)).toEqual({ ok: true, value: 'https://shop.example/a' });
  });

  it('accepts values that already have the type', () => {
    // Act & Assess
    expect(convertValue(2.5, { type: 'number', decimal: '.' }, BASE)).toEqual({ ok: true, value: 2.5 });
    expect(convertValue(7, { type: 'integer', decimal: '.' }, BASE)).toEqual({ ok: true, value: 7 });
    expect(convertValue(false, { type: 'boolean', decimal: '.' }, BASE)).toEqual({ ok: true, value: false });
  });

  it('refuses values of another type', () => {
    // Act & Assess
    expect(convertValue(2.5, { type: 'integer', decimal: '.' }, BASE)).toEqual({
      ok: false,
      message: 'expected integer, got number',
    });
    expect(convertValue(Number.NaN, { type: 'number', decimal: '.' }, BASE)).toEqual({
      ok: false,
      message: 'expected number, got number',
    });
    expect(convertValue(1, { type: 'boolean', decimal: '.' }, BASE)).toEqual({
      ok: false,
      message: 'expected boolean, got number',
    });
    expect(convertValue({}, { type: 'string', decimal: '.' }, BASE)).toEqual({
      ok: false,
      message: 'expected string, got object',
    });
  });
});
