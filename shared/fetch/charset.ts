/** Labels TextDecoder knows under another name, as browsers map them (WHATWG Encoding). */
const ALIASES: Record<string, string> = {
  'iso-8859-1': 'windows-1252',
  latin1: 'windows-1252',
  'us-ascii': 'windows-1252',
  ascii: 'windows-1252',
  sjis: 'shift_jis',
  'x-sjis': 'shift_jis',
  gb2312: 'gbk',
};

function supported(label: string | undefined): string | undefined {
  if (!label) return undefined;
  const name = label
    .trim()
    .replace(/^["']|["']$/g, '')
    .toLowerCase();
  const candidate = ALIASES[name] ?? name;
  try {
    new TextDecoder(candidate);
    return candidate;
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
 * Decodes an HTML or XML body the way browsers do, in order: byte-order mark, `charset` of the Content-Type
 * header, `<meta>` (or the XML declaration) in the first 1,024 bytes, then UTF-8. Unknown labels fall through
 * to the next source; undecodable bytes become U+FFFD instead of failing the page.
 */
export function decodeDocument(bytes: Uint8Array, contentType: string | undefined): { text: string; charset: string } {
  const bom = bomCharset(bytes);
  const charset = bom?.charset ?? supported(charsetOfContentType(contentType)) ?? supported(metaCharset(bytes)) ?? 'utf-8';
  const decoder = new TextDecoder(charset, { fatal: false, ignoreBOM: false });
  return { text: decoder.decode(bom ? bytes.subarray(bom.skip) : bytes), charset };
}
