import { describe, expect, it } from 'vitest';
import { extractPage } from '../../../shared/extract/page.js';
import { pageSource, productJob, SHOP } from '../../fixtures/jobs.js';

/** The same values written once in HTML (declarative fields) and once returned by a code extractor. */
const HTML = `<div class="p">
  <h1>  A Light
      in the\u00a0\u00a0Attic </h1>
  <ul><li> poetry </li><li>kids\n\tbooks</li><li>   </li></ul>
  <p class="note">  keep
   me </p>
</div>`;

const FIELDS = {
  title: 'h1',
  tags: { selector: 'li', many: true },
  note: { selector: 'p.note', trim: false },
};

const RAW = {
  title: '  A Light\n      in the\u00a0\u00a0Attic ',
  tags: [' poetry ', 'kids\n\tbooks', '   '],
  note: '  keep\n   me ',
};

async function declarative() {
  const job = productJob({ sku: { from: 'url' }, ...FIELDS });
  const { items } = await extractPage(HTML, job, pageSource());
  return items[0]?.data;
}

async function fromCode(raw: Record<string, unknown>) {
  const job = productJob({ sku: { from: 'url' }, ...FIELDS }, { extractor: () => [{ sku: `${SHOP}/p/1`, ...raw }] });
  const { items } = await extractPage(HTML, job, pageSource());
  return items[0];
}

describe('Function: extractPage (one white-space rule for declarative fields and code extractors)', () => {
  it('collapses and trims the strings a code extractor returns exactly like declarative text', async () => {
    // Act
    const expected = await declarative();
    const item = await fromCode(RAW);

    // Assess
    expect(expected).toEqual({
      sku: `${SHOP}/p/1`,
      title: 'A Light in the Attic',
      tags: ['poetry', 'kids books'],
      note: '  keep\n   me ',
    });
    expect(item?.data).toEqual(expected);
    expect(item?.problems).toEqual([]);
  });

  it('keeps a code extractor string as returned when its field has trim: false', async () => {
    // Act
    const item = await fromCode({ note: ' \n a \t b ' });

    // Assess
    expect(item?.data.note).toBe(' \n a \t b ');
  });

  it('treats a code extractor string of only white space as no value, like an empty match', async () => {
    // Prepare
    const job = productJob(
      { sku: '.sku', title: { selector: 'h1', required: true }, stock: { selector: '.s', type: 'integer', default: 0 } },
      { extractor: () => [{ sku: ' A ', title: ' \n\u00a0 ', stock: '  ' }] },
    );

    // Act
    const { items } = await extractPage('', job, pageSource());

    // Assess
    expect(items).toEqual([
      { key: 'A', data: { sku: 'A', stock: 0 }, problems: [{ field: 'title', message: 'required field is missing' }] },
    ]);
  });

  it('trims before typing, so numbers, dates and URLs read the same from code as from HTML', async () => {
    // Prepare
    const job = productJob(
      {
        sku: '.sku',
        price: { selector: '.p', type: 'number' },
        published: { selector: '.d', type: 'date' },
        link: { selector: 'a', type: 'url' },
      },
      { extractor: () => [{ sku: 'A', price: '\n £3.50 ', published: ' March\n 5,   2019 ', link: '  /p/a  ' }] },
    );

    // Act
    const { items } = await extractPage('', job, pageSource());

    // Assess
    expect(items[0]).toEqual({
      key: 'A',
      data: { sku: 'A', price: 3.5, published: '2019-03-05', link: `${SHOP}/p/a` },
      problems: [],
    });
  });

  it('leaves non-string values and fields the template does not declare untouched', async () => {
    // Act
    const item = await fromCode({ title: 'x', extra: '  spaced   out  ', nested: { text: ' a  b ' } });

    // Assess
    expect(item?.data.extra).toBe('  spaced   out  ');
    expect(item?.data.nested).toEqual({ text: ' a  b ' });
  });
});
