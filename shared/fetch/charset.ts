/**
 * The WHATWG encoding a charset label stands for (`iso-8859-1`, `latin1` and `us-ascii` are windows-1252, `sjis`
 * is shift_jis, `gb2312` is gbk: TextDecoder maps every label of the Encoding standard), `undefined` for a label it
 * does not know.
 */
function supported(label: string | undefined): string | undefined {
  if (!label) return undefined;
  const name = label
    .trim()
    .replace(/^["']|["']$/g, '')
    .toLowerCase();
  try {
    return new TextDecoder(name).encoding;
  } catch {
    return undefined;
  }
}

function charsetOfContentType(contentType: string | undefined): string | undefined {
  return /charset\s*=\s*("?)([^";\s]+)\1/i.exec(contentType ?? '')?.[2];
}

function bomCharset(bytes: Uint8Array): { charset: string; skip: number } | undefined {
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) return { charset: 'utf-8', skip: 3 };
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return { charset: 'utf-16be', skip: 2 };
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return { charset: 'utf-16le', skip: 2 };
  return undefined;
}

/** Looks for `<meta charset>` or `<meta http-equiv="content-type" content="...charset=...">` in the first 1,024 bytes. */
function metaCharset(bytes: Uint8Array): string | undefined {
  const head = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, 1024)).toString('latin1');
  return (
    /<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)/i.exec(head)?.[1] ??
    /<\?xml[^>]+encoding\s*=\s*["']([A-Za-z0-9_.:-]+)/i.exec(head)?.[1]
  );
}

/**
 * The charset a `<meta>` (or XML) declaration stands for. The declaration was read as bytes, so the page is not
 * UTF-16: a UTF-16 label means UTF-8 (WHATWG HTML, prescan), as browsers decode it.
 */
function declaredCharset(bytes: Uint8Array): string | undefined {
  const charset = supported(metaCharset(bytes));
  if (charset === undefined) return undefined;
  return charset.startsWith('utf-16') ? 'utf-8' : charset;
}

/**
 * windows-1252 at 0x80-0x9F (WHATWG Encoding index); 0x81, 0x8D, 0x8F, 0x90 and 0x9D stay as they are (C1).
 * Decoded here because Node 20's TextDecoder decodes windows-1252 as Latin-1 there (nodejs/node#56542).
 */
const WINDOWS_1252_C1 =
  '\u20ac\u0081\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u008d\u017d\u008f' +
  '\u0090\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u009d\u017e\u0178';

function decodeWindows1252(bytes: Uint8Array): string {
  const latin1 = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  return latin1.replace(/[\u0080-\u009f]/g, (character) => WINDOWS_1252_C1[character.charCodeAt(0) - 0x80] ?? character);
}

/**
 * Decodes an HTML or XML body the way browsers do, in order: byte-order mark, `charset` of the Content-Type
 * header, `<meta>` (or the XML declaration) in the first 1,024 bytes, then UTF-8. Unknown labels fall through
 * to the next source; undecodable bytes become U+FFFD instead of failing the page.
 */
export function decodeDocument(bytes: Uint8Array, contentType: string | undefined): { text: string; charset: string } {
  const bom = bomCharset(bytes);
  const charset = bom?.charset ?? supported(charsetOfContentType(contentType)) ?? declaredCharset(bytes) ?? 'utf-8';
  const body = bom ? bytes.subarray(bom.skip) : bytes;
  if (charset === 'windows-1252') return { text: decodeWindows1252(body), charset };
  const decoder = new TextDecoder(charset, { fatal: false, ignoreBOM: false });
  return { text: decoder.decode(body), charset };
}

/** Whether a Content-Type header declares UTF-16 (`charset=utf-16le` and the like), where zero bytes are text. */
export function declaresUtf16(contentType: string | undefined): boolean {
  const charset = supported(charsetOfContentType(contentType));
  return charset?.startsWith('utf-16') ?? false;
}
