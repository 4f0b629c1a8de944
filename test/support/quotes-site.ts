import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A quote of the fixture site. */
export interface Quote {
  text: string;
  author: string;
  tags: string[];
}

/** An author page of the fixture site. */
export interface Author {
  name: string;
  born: string;
  location: string;
}

/** What the site serves; tests edit it between runs. */
export interface QuotesSiteData {
  quotes: Quote[];
  authors: Author[];
  perPage: number;
}

const escapeHtml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');
const slug = (name: string) => name.replace(/[^A-Za-z]+/g, '-');

function listing(data: QuotesSiteData, page: number): string | undefined {
  const quotes = data.quotes.slice((page - 1) * data.perPage, page * data.perPage);
  if (quotes.length === 0 && page > 1) return undefined;
  const more = data.quotes.length > page * data.perPage;
  const items = quotes
    .map(
      (quote) => `<div class="quote">
  <span class="text">${escapeHtml(quote.text)}</span>
  <span>by <small class="author">${escapeHtml(quote.author)}</small> <a href="/author/${slug(quote.author)}/">(about)</a></span>
  <div class="tags">Tags: ${quote.tags.map((tag) => `<a class="tag" href="/tag/${escapeHtml(tag)}/">${escapeHtml(tag)}</a>`).join(' ')}</div>
</div>`,
    )
    .join('\n');
  const pager = more ? `<ul class="pager"><li class="next"><a href="/page/${page + 1}/">Next</a></li></ul>` : '';
  return `<!doctype html><html><head><title>Quotes</title></head><body><h1>Quotes</h1>\n${items}\n${pager}</body></html>`;
}

function authorPage(data: QuotesSiteData, path: string): string | undefined {
  const author = data.authors.find((one) => `/author/${slug(one.name)}/` === path);
  if (!author) return undefined;
  return `<!doctype html><html><body><div class="author-details">
<h3 class="author-title">${escapeHtml(author.name)}</h3>
<p>Born: <span class="author-born-date">${escapeHtml(author.born)}</span> <span class="author-born-location">in ${escapeHtml(author.location)}</span></p>
</div></body></html>`;
}

/**
 * A small quotes site shaped like quotes.toscrape.com: listing pages (`/`, `/page/N/`) of `div.quote` items, each
 * with an "(about)" link to its author's page (`/author/<name>/`). Serves whatever `data` holds at request time.
 */
export async function startQuotesSite(
  data: QuotesSiteData,
): Promise<{ url: string; data: QuotesSiteData; close(): Promise<void> }> {
  const server: Server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    let body: string | undefined;
    if (path === '/robots.txt') body = '';
    else if (path === '/') body = listing(data, 1);
    else if (/^\/page\/\d+\/$/.test(path)) body = listing(data, Number(path.split('/')[2]));
    else if (path.startsWith('/author/')) body = authorPage(data, path);
    if (body === undefined) {
      response.writeHead(404, { 'content-type': 'text/html' }).end('<h1>Not found</h1>');
      return;
    }
    const type = path === '/robots.txt' ? 'text/plain' : 'text/html; charset=utf-8';
    response.writeHead(200, { 'content-type': type }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    data,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
