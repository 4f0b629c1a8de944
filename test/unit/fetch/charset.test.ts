import { describe, expect, it } from 'vitest';
import { decodeDocument } from '../../../shared/fetch/charset.js';

/** Shift_JIS for 日本. */
const NIHON_SJIS = [0x93, 0xfa, 0x96, 0x7b];
/** GBK / GB18030 for 中文. */
const ZHONGWEN_GBK = [0xd6, 0xd0, 0xce, 0xc4];

function bytes(...parts: (string | number[])[]): Uint8Array {
  return Buffer.concat(parts.map((part) => (typeof part === 'string' ? Buffer.from(part, 'latin1') : Buffer.from(part))));
}

describe('Function: decodeDocument', () => {
  it('decodes UTF-8 by default', () => {
    // Act
    const result = decodeDocument(Buffer.from('<p>héllo 日本 ✓</p>', 'utf8'), undefined);

    // Assess
    expect(result).toEqual({ text: '<p>héllo 日本 ✓</p>', charset: 'utf-8' });
  });

  it('replaces invalid UTF-8 with U+FFFD instead of failing', () => {
    // Act
    const result = decodeDocument(bytes('<p>a', [0xff, 0xc3], 'b</p>'), 'text/html');

    // Assess
    expect(result.text).toBe('<p>a\ufffd\ufffdb</p>');
  });

  it.each([
    ['UTF-8', [0xef, 0xbb, 0xbf, 0x68, 0x69], 'utf-8'],
    ['UTF-16LE', [0xff, 0xfe, 0x68, 0x00, 0x69, 0x00], 'utf-16le'],
    ['UTF-16BE', [0xfe, 0xff, 0x00, 0x68, 0x00, 0x69], 'utf-16be'],
  ])('follows a %s byte-order mark and drops it', (_what, input, charset) => {
    // Act
    const result = decodeDocument(Uint8Array.from(input), undefined);

    // Assess
    expect(result).toEqual({ text: 'hi', charset });
  });

  it('prefers the byte-order mark over the header and meta', () => {
    // Prepare
    const input = bytes([0xef, 0xbb, 0xbf], '<meta charset="shift_jis">', Array.from(Buffer.from('日本')));

    // Act
    const result = decodeDocument(input, 'text/html; charset=windows-1252');

    // Assess
    expect(result).toEqual({ text: '<meta charset="shift_jis">日本', charset: 'utf-8' });
  });

  it.each([
    ['iso-8859-1', 'windows-1252'],
    ['ISO-8859-1', 'windows-1252'],
    ['latin1', 'windows-1252'],
    ['us-ascii', 'windows-1252'],
    ['windows-1252', 'windows-1252'],
    ['"windows-1252"', 'windows-1252'],
  ])('decodes charset=%s from the header as %s', (label, charset) => {
    // Prepare
    const input = bytes('caf', [0xe9], ' na', [0xef], 've ', [0xff]);

    // Act
    const result = decodeDocument(input, `text/html; charset=${label}`);

    // Assess
    expect(result).toEqual({ text: 'café naïve ÿ', charset });
  });

  // The labels browsers read as another encoding need no table of our own: TextDecoder maps them (WHATWG Encoding).
  it.each([
    ['iso-8859-1', 'windows-1252'],
    ['latin1', 'windows-1252'],
    ['us-ascii', 'windows-1252'],
    ['ascii', 'windows-1252'],
    ['sjis', 'shift_jis'],
    ['x-sjis', 'shift_jis'],
    ['gb2312', 'gbk'],
    ['UTF8', 'utf-8'],
  ])('names the encoding of label %s %s, as TextDecoder maps it', (label, encoding) => {
    // Act
    const result = decodeDocument(new Uint8Array(), `text/html; charset=${label}`);

    // Assess
    expect(new TextDecoder(label).encoding).toBe(encoding);
    expect(result.charset).toBe(encoding);
  });

  it.each(['windows-1252', 'iso-8859-1'])('decodes the windows-1252 bytes 0x80-0x9F of a %s page', (label) => {
    // Prepare
    const input = bytes([0x80], ' ', [0x93], 'q', [0x94], ' ', [0x96], ' ', [0x99]);

    // Act
    const result = decodeDocument(input, `text/html; charset=${label}`);

    // Assess
    expect(result.text).toBe('€ “q” – ™');
  });

  it('decodes every windows-1252 byte as the WHATWG index does, keeping the five unassigned ones', () => {
    // Prepare
    const input = Uint8Array.from({ length: 32 }, (_, index) => 0x80 + index);

    // Act
    const result = decodeDocument(input, 'text/html; charset=cp1252');

    // Assess: the encoding's name, not the label
    expect(result.charset).toBe('windows-1252');
    expect(result.text).toBe('€\u0081‚ƒ„…†‡ˆ‰Š‹Œ\u008dŽ\u008f\u0090‘’“”•–—˜™š›œ\u009džŸ');
  });

  it('treats a UTF-16 XML declaration on a byte-oriented document as UTF-8', () => {
    // Act
    const result = decodeDocument(Buffer.from('<?xml version="1.0" encoding="UTF-16LE"?><a>é</a>', 'utf8'), undefined);

    // Assess
    expect(result).toEqual({ text: '<?xml version="1.0" encoding="UTF-16LE"?><a>é</a>', charset: 'utf-8' });
  });

  it.each([
    ['Shift_JIS', NIHON_SJIS, '日本', 'shift_jis'],
    ['shift_jis', NIHON_SJIS, '日本', 'shift_jis'],
    ['sjis', NIHON_SJIS, '日本', 'shift_jis'],
    ['x-sjis', NIHON_SJIS, '日本', 'shift_jis'],
    ['GBK', ZHONGWEN_GBK, '中文', 'gbk'],
    ['gb2312', ZHONGWEN_GBK, '中文', 'gbk'],
    ['GB18030', ZHONGWEN_GBK, '中文', 'gb18030'],
  ])('decodes charset=%s from the header', (label, encoded, text, charset) => {
    // Act
    const result = decodeDocument(bytes('<p>', encoded, '</p>'), `text/html;charset=${label}`);

    // Assess
    expect(result).toEqual({ text: `<p>${text}</p>`, charset });
  });

  it('decodes GB18030 four-byte sequences', () => {
    // Act
    const result = decodeDocument(Uint8Array.from([0x81, 0x30, 0x81, 0x30]), 'text/html; charset=gb18030');

    // Assess
    expect(result.text).toBe('\u0080');
  });

  it('reads a quoted charset with spaces in the header', () => {
    // Act
    const result = decodeDocument(bytes(NIHON_SJIS), 'text/html; charset = "Shift_JIS"; foo=bar');

    // Assess
    expect(result).toEqual({ text: '日本', charset: 'shift_jis' });
  });

  it.each([
    ['<meta charset>', '<html><head><meta charset="Shift_JIS"></head><body>', NIHON_SJIS, '日本', 'shift_jis'],
    ['<meta charset> unquoted', '<meta charset=gbk ><p>', ZHONGWEN_GBK, '中文', 'gbk'],
    [
      '<meta http-equiv>',
      '<meta http-equiv="Content-Type" content="text/html; charset=gb18030">',
      ZHONGWEN_GBK,
      '中文',
      'gb18030',
    ],
    ['an XML declaration', '<?xml version="1.0" encoding="Shift_JIS"?><root>', NIHON_SJIS, '日本', 'shift_jis'],
    ['an XML declaration with single quotes', "<?xml version='1.0' encoding='GBK'?><r>", ZHONGWEN_GBK, '中文', 'gbk'],
  ])('decodes by %s when the header names no charset', (_what, head, encoded, text, charset) => {
    // Act
    const result = decodeDocument(bytes(head, encoded), 'text/html');

    // Assess
    expect(result).toEqual({ text: `${head}${text}`, charset });
  });

  it('prefers the header charset over the meta', () => {
    // Prepare
    const input = bytes('<meta charset="gbk">', NIHON_SJIS);

    // Act
    const result = decodeDocument(input, 'text/html; charset=shift_jis');

    // Assess
    expect(result).toEqual({ text: '<meta charset="gbk">日本', charset: 'shift_jis' });
  });

  it('ignores a meta beyond the first 1,024 bytes', () => {
    // Prepare
    const input = bytes(' '.repeat(1100), '<meta charset="shift_jis">', Array.from(Buffer.from('ü')));

    // Act
    const result = decodeDocument(input, undefined);

    // Assess
    expect(result.charset).toBe('utf-8');
    expect(result.text.endsWith('ü')).toBe(true);
  });

  it('falls through an unknown header label to the meta, and an unknown meta label to UTF-8', () => {
    // Prepare
    const withMeta = bytes('<meta charset="shift_jis">', NIHON_SJIS);
    const unknownMeta = bytes('<meta charset="x-klingon">', Array.from(Buffer.from('ü')));

    // Act
    const fromMeta = decodeDocument(withMeta, 'text/html; charset=x-unknown-label');
    const fallback = decodeDocument(unknownMeta, 'text/html; charset=');

    // Assess
    expect(fromMeta.charset).toBe('shift_jis');
    expect(fromMeta.text.endsWith('日本')).toBe(true);
    expect(fallback).toEqual({ text: '<meta charset="x-klingon">ü', charset: 'utf-8' });
  });

  it('decodes an empty body', () => {
    // Act & Assess
    expect(decodeDocument(new Uint8Array(), 'text/html; charset=shift_jis')).toEqual({ text: '', charset: 'shift_jis' });
  });

  it('treats a UTF-16 meta declaration on a byte-oriented page as UTF-8', () => {
    // Prepare
    const input = Buffer.from('<html><head><meta charset="utf-16"></head><body>héllo</body></html>', 'utf8');

    // Act
    const result = decodeDocument(input, 'text/html');

    // Assess
    expect(result).toEqual({ text: '<html><head><meta charset="utf-16"></head><body>héllo</body></html>', charset: 'utf-8' });
  });
});
