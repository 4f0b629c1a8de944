import { fmix32, mulberry32, type Rng } from './random.js';
/**
 * Deterministic sample bookstore (books.toscrape.com in spirit) with exact ground truth.
 *
 * Everything derives from a seed through a small PRNG, so the same options always give
 * byte-identical HTML. Each book draws from its own PRNG stream keyed by its index, which
 * is what keeps a book's detail page byte-identical when other books are added, removed or
 * changed by {@link SiteOptions.edits}.
 *
 * Besides the listing and the book pages, the site has the shapes real sites have: each book
 * links its author as `/author/<slug>`, which answers 301 to `/author/<slug>/` (the trailing
 * slash: a redirected detail page whose relative links only resolve against the final URL),
 * and an author page links `quotes.html`, one page holding several quote items.
 */

/** One product of the sample store, exactly as a correct scraper extracts it from the HTML. */
export interface Book {
  /** Unique key: 16 lowercase hex characters. */
  upc: string;
  /** Decoded title; may contain `&`, quotes, apostrophes, `<` and non-ASCII characters. */
  title: string;
  /** Price in pounds with two decimals, rendered as `£51.77`. */
  price: number;
  inStock: boolean;
  /** Units available; 0 when out of stock. */
  stock: number;
  /** Integer 1..5. */
  rating: number;
  category: string;
  /** 0..4 distinct tags, in page order. */
  tags: string[];
  /** One paragraph; absent when the page has no description block. */
  description?: string;
  reviews: number;
  /** ISO date `YYYY-MM-DD`. */
  published: string;
  /** Name of the author, as on the author's page ({@link Author.name}). */
  author: string;
  /** Absolute path of the detail page, e.g. `/catalogue/the-silent-garden_7/index.html`. */
  url: string;
}

/** An author of the store, as a correct scraper extracts it from the author page. */
export interface Author {
  /** Unique key; may contain apostrophes and non-ASCII characters. */
  name: string;
  /** ISO date `YYYY-MM-DD`, rendered as `March 5, 1950`. */
  born: string;
  /** Rendered as `in Kraków`. */
  birthplace: string;
  /** Sentences joined by single spaces; the page breaks lines and indents between them. */
  bio: string;
  /**
   * Absolute path of the page after the redirect, with the trailing slash: `/author/zoe-muller/`. Books link
   * `/author/zoe-muller`, which answers 301 to it.
   */
  url: string;
}

/** One quote of an author's quote page: several items on one page. */
export interface Quote {
  /** Unique key: `q-` and 8 lowercase hex characters. */
  id: string;
  /** Without the typographic quotes the page wraps it in. */
  text: string;
  /** {@link Author.name} of the author. */
  author: string;
  /** 0..3 distinct tags, in page order. */
  tags: string[];
  /** Rendered as `1,234 likes`. */
  likes: number;
  /** Absolute path of the quote page, e.g. `/author/zoe-muller/quotes.html`. */
  url: string;
}

/** Options of {@link generateSite}. All counts must be non-negative integers. */
export interface SiteOptions {
  /** PRNG seed. Default 42. */
  seed?: number;
  /** Number of books before edits. Default 1000. */
  books?: number;
  /** Books per listing page (broken entries come on top). Default 20. */
  perPage?: number;
  /** Listing entries whose detail link answers 404. Default 5. */
  brokenNotFound?: number;
  /** Listing entries whose detail link always answers 500. Default 2. */
  brokenServerError?: number;
  /**
   * Authors the books are drawn from; an author no book links is not part of the site. Edits that add or
   * remove books never change it. Default `ceil(books / 20)`, at least 1.
   */
  authors?: number;
  /** Turns the site into the "next version" of the same seed, for change-detection tests. */
  edits?: SiteEdits;
}

/** Differences from the base site of the same seed. Default: none. */
export interface SiteEdits {
  /** Books whose price changes; every third of them also gets a new title, every third new tags. Default 0. */
  change?: number;
  /** New books appended after the existing ones. Default 0. */
  add?: number;
  /** Books removed. Default 0. `change + remove` must not exceed `books`. */
  remove?: number;
  /**
   * Renders one field differently on every detail page so its usual selector silently stops
   * matching: `'price'` uses `p.price` instead of `p.price_color`, `'title'` uses
   * `h2.product-title` instead of `h1`. Default null.
   */
  breakSelector?: 'price' | 'title' | null;
  /** Authors (of those the books link) whose biography gains a sentence. Default 0. */
  changeAuthors?: number;
  /**
   * Authors (of those the books link) whose pages are gone: their links still redirect, to a 404, and
   * their quote pages answer 404. Default 0. `changeAuthors + removeAuthors` must not exceed the linked authors.
   */
  removeAuthors?: number;
  /** Quotes dropped from the quote pages of the remaining authors; the pages stay. Default 0. */
  removeQuotes?: number;
}

/** A response of the site: what the demo server sends for one path. */
export interface SitePage {
  status: number;
  contentType: string;
  body: string;
  /** Extra response headers. */
  headers?: Record<string, string>;
}

/** A generated site: ground truth plus a pure path -> response function. */
export interface Site {
  /** Ground truth, in listing order. */
  books: Book[];
  /** Ground truth: the authors the books link whose pages exist, in the order of the author pool. */
  authors: Author[];
  /** Ground truth: the quotes of {@link authors}, author by author, in page order. */
  quotes: Quote[];
  /**
   * Every linked URL that fails, with the status it ends with: listing entries that are not books (their
   * paths start with `/catalogue/`), then links to removed authors (`/author/<slug>`, a 301 to a 404).
   */
  broken: { path: string; status: number }[];
  /** Every linked redirect: each linked author's `/author/<slug>` to `/author/<slug>/`, removed authors included. */
  redirects: { path: string; location: string }[];
  /** `/catalogue/page-1.html` .. `/catalogue/page-N.html`. */
  listingPaths: string[];
  /** The quote pages the author pages link (`/author/<slug>/quotes.html`); a page may have lost all its quotes. */
  quotePaths: string[];
  /**
   * The catalogue as JSON: `/api/books/page-1.json` .. `page-N.json`, each `{ page, books, next }` with the books of
   * listing page N (upc, title, price, availability, rating, tags, url) and `next` the relative path of the next
   * page, `null` on the last.
   */
  apiPaths: string[];
  /** The response for a path (query and fragment ignored); a 404 page for unknown paths. */
  page(path: string): SitePage;
}

/**
 * Stands for the scheme and host in `/robots.txt` and `/sitemap.xml`, which need absolute URLs
 * while {@link Site.page} stays host independent; the server substitutes its real origin.
 */
export const ORIGIN_PLACEHOLDER = 'http://ORIGIN';

/** Paths that embed {@link ORIGIN_PLACEHOLDER} in their body. */
export const ORIGIN_DEPENDENT_PATHS: readonly string[] = ['/robots.txt', '/sitemap.xml'];

const HTML = 'text/html; charset=utf-8';
const LISTING_TITLE_MAX = 40;

// Distinct stream ids keep the PRNG sequences of different concerns independent.
const STREAM_BOOK = 1;
const STREAM_EDIT_ORDER = 2;
const STREAM_CHANGE = 3;
const STREAM_BROKEN = 4;
const STREAM_UPC = 5;
const STREAM_AUTHOR = 6;
const STREAM_AUTHOR_OF = 7;
const STREAM_AUTHOR_NAMES = 8;
const STREAM_AUTHOR_EDIT_ORDER = 9;
const STREAM_QUOTE_ID = 10;
const STREAM_QUOTE_EDIT_ORDER = 11;
const STREAM_AUTHOR_CHANGE = 12;

function streamSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const part of parts) h = fmix32(h ^ fmix32(part));
  return h;
}

function stream(...parts: number[]): Rng {
  return mulberry32(streamSeed(...parts));
}

function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Inclusive integer range. */
function int(rng: Rng, min: number, max: number): number {
  return min + Math.floor(rng() * (max - min + 1));
}

function pick<T>(rng: Rng, items: readonly T[]): T {
  const item = items[Math.floor(rng() * items.length)];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
}

function shuffle<T>(rng: Rng, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

function hex8(value: number): string {
  return (value >>> 0).toString(16).padStart(8, '0');
}

const ADJECTIVES = [
  'Silent',
  'Crimson',
  'Hidden',
  'Last',
  'Forgotten',
  'Golden',
  'Broken',
  'Wandering',
  'Secret',
  'Little',
  'Midnight',
  'Endless',
  'Quiet',
  'Wild',
  'Bitter',
  'Electric',
  'Naïve',
  'Fragile',
  'Distant',
  'Burning',
] as const;
const NOUNS = [
  'Garden',
  'River',
  'House',
  'Letters',
  'Mountain',
  'Orchard',
  'Kingdom',
  'Harbor',
  'Library',
  'Winter',
  'Promise',
  'Map',
  'Lighthouse',
  'Mirror',
  'Storm',
  'Café',
  'Voyage',
  'Symphony',
  'Atlas',
  'Compass',
] as const;
const NAMES = ["O'Brien", 'Brontë', 'Zoë', 'Müller', 'José', 'Renée', "D'Arcy", 'Anaïs', 'Søren', 'Chloé'] as const;
const PLACES = ['Zürich', 'Montréal', 'São Paulo', 'Kraków', 'Reykjavík', 'Paris', 'Cairo', 'Dublin', 'Lisbon', 'Kyoto'] as const;
const SUBTITLES = [
  'A Novel',
  'Poems',
  'Stories & Sketches',
  'A Memoir',
  'The Complete Guide',
  'Notes from the Road',
  'Über Alles?',
  'Part Two',
] as const;
const CATEGORIES = [
  'Poetry',
  'Travel',
  'Mystery',
  'Historical Fiction',
  'Science Fiction',
  'Fantasy',
  'Romance',
  'Horror',
  'Philosophy',
  'Science',
  'Humor',
  'Biography',
  'Food & Drink',
  'Art',
  'Young Adult',
  'Classics',
  'Thriller',
  'Nonfiction',
  'Music',
  'Self Help',
] as const;
const TAGS = [
  'bestseller',
  'staff pick',
  'award winner',
  'classic',
  'new release',
  'signed copy',
  'book club',
  'illustrated',
  'translated',
  'first edition',
  'large print',
  'café reads',
  'rock & roll',
  'sci-fi',
  '"cult" favourite',
  'children’s',
] as const;
const RATING_WORDS = ['One', 'Two', 'Three', 'Four', 'Five'] as const;
const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
] as const;

function makeTitle(rng: Rng): string {
  const adj = pick(rng, ADJECTIVES);
  const noun = pick(rng, NOUNS);
  const other = pick(rng, NOUNS);
  switch (int(rng, 0, 8)) {
    case 0:
      return `The ${adj} ${noun}`;
    case 1:
      return `${noun} & ${other}`;
    case 2:
      return `${pick(rng, NAMES)}'s ${noun}`;
    case 3:
      return `${adj} ${noun}: ${pick(rng, SUBTITLES)}`;
    case 4:
      return `"${adj} ${noun}" and Other Stories`;
    case 5:
      return `${pick(rng, PLACES)} — ${adj} ${noun}`;
    case 6:
      return `${noun} in ${pick(rng, PLACES)}`;
    case 7:
      return `The ${noun} of ${pick(rng, NAMES)}`;
    default:
      return `${noun} < ${other}`;
  }
}

const SENTENCES: readonly ((rng: Rng) => string)[] = [
  (rng) => `A ${lower(rng, ADJECTIVES)} tale of ${lower(rng, NOUNS)} and ${lower(rng, NOUNS)}, set in ${pick(rng, PLACES)}.`,
  (rng) => `"Nothing is ${lower(rng, ADJECTIVES)} forever," says ${pick(rng, NAMES)}.`,
  (rng) => `Critics call it "${lower(rng, ADJECTIVES)}" & unforgettable.`,
  () => 'Recommended for readers aged 12 & up (not <12).',
  (rng) => `It's the story of ${pick(rng, NAMES)}'s ${lower(rng, NOUNS)} — and what it cost.`,
  () => 'Translated with care: über-faithful, naïve at times, always vivid.',
  (rng) => `Between the ${lower(rng, NOUNS)} and the ${lower(rng, NOUNS)}, a ${lower(rng, ADJECTIVES)} secret waits.`,
];

function lower(rng: Rng, words: readonly string[]): string {
  return pick(rng, words).toLowerCase();
}

/** 2..6 sentences, each from a different template so none repeats. */
function makeDescription(rng: Rng): string {
  const templates = shuffle(rng, [...SENTENCES]).slice(0, int(rng, 2, 6));
  return templates.map((sentence) => sentence(rng)).join(' ');
}

function slugify(title: string): string {
  const slug = title
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/ø/gi, 'o')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return slug || 'book';
}

const DAY_MS = 86_400_000;

const FIRST_NAMES = [
  'Zoë',
  'José',
  'Renée',
  'Anaïs',
  'Søren',
  'Chloé',
  'Margaret',
  'Haruki',
  'Ngozi',
  'Pál',
  'Ingrid',
  'Tomás',
  'Aoife',
  'Kwame',
  'Léa',
  'Björn',
  'Priya',
  'Dmitri',
  'Fatima',
  'Oscar',
] as const;
const LAST_NAMES = [
  "O'Brien",
  'Brontë',
  'Müller',
  "D'Arcy",
  'Okafor',
  'Nakamura',
  'García',
  'Lindqvist',
  'Novák',
  'Dubois',
  'Kowalski',
  'Haddad',
  'Rossi',
  'Andersen',
  'Mbeki',
  'Sato',
  'Fernández',
  'MacLeod',
  'Ivanova',
  'Weiß',
] as const;
const NAME_COMBINATIONS = FIRST_NAMES.length * LAST_NAMES.length;
/** Beyond the plain combinations, names take a middle initial A..Z. */
const MAX_AUTHORS = NAME_COMBINATIONS * 27;

const BIO_SENTENCES: readonly ((rng: Rng) => string)[] = [
  (rng) => `Grew up between ${pick(rng, PLACES)} and ${pick(rng, PLACES)}, & never stopped moving.`,
  (rng) => `Wrote a first novel at ${int(rng, 16, 60)}, on the back of "borrowed" envelopes.`,
  (rng) => `Their books about ${lower(rng, NOUNS)}s have been translated into ${int(rng, 2, 40)} languages.`,
  () => 'Teaches writing <sometimes> and reads everything, always.',
  (rng) => `Critics called the early work ${lower(rng, ADJECTIVES)}; readers called it theirs.`,
  (rng) => `Lives with a cat named ${pick(rng, NAMES)} — who edits every page.`,
];

const QUOTE_TEXTS: readonly ((rng: Rng) => string)[] = [
  (rng) => `Every ${lower(rng, NOUNS)} is a ${lower(rng, NOUNS)} if you wait long enough.`,
  (rng) => `I write to find out what I think of the ${lower(rng, ADJECTIVES)} ${lower(rng, NOUNS)}.`,
  () => 'A book is a dream you hold in your hands & carry home.',
  (rng) => `Nothing "${lower(rng, ADJECTIVES)}" ever stayed that way. Ask any ${lower(rng, NOUNS)}.`,
  (rng) => `We read to know we are not alone in ${pick(rng, PLACES)} — or anywhere.`,
  () => "It's never < too late > to be what you might have been.",
  (rng) => `The ${lower(rng, NOUNS)} remembers what the ${lower(rng, NOUNS)} forgets.`,
  () => 'Über-careful sentences are still sentences. Cut them.',
];
const QUOTE_TAGS = ['life', 'books', 'writing', 'love', 'humor', 'travel', 'truth', 'café talk', 'courage & fear'] as const;

/** The name pool of a seed: combinations in a seeded order, then the same with middle initials. */
function authorName(index: number, combinations: readonly string[][]): string {
  const [first, last] = combinations[index % NAME_COMBINATIONS] as [string, string];
  const tier = Math.floor(index / NAME_COMBINATIONS);
  return tier === 0 ? `${first} ${last}` : `${first} ${String.fromCharCode(64 + tier)}. ${last}`;
}

/** An author and the quotes of their quote page, before edits. */
interface AuthorDraft {
  index: number;
  author: Author;
  slug: string;
  quotes: Quote[];
}

function makeAuthor(seed: number, index: number, name: string, slug: string): AuthorDraft {
  const rng = stream(seed, STREAM_AUTHOR, index);
  const born = new Date(Date.UTC(1900, 0, 1) + int(rng, 0, 35_000) * DAY_MS).toISOString().slice(0, 10);
  const birthplace = pick(rng, PLACES);
  const bio = shuffle(rng, [...BIO_SENTENCES])
    .slice(0, int(rng, 2, 4))
    .map((sentence) => sentence(rng))
    .join(' ');
  const url = `/author/${slug}/`;
  const quoteSalt = streamSeed(seed, STREAM_QUOTE_ID);
  const quotes = Array.from({ length: int(rng, 0, 5) }, (_, k): Quote => {
    // (index, k) -> 32 bits is injective for k < 16 and index < 2^28, and fmix32 is a bijection: ids are unique.
    const id = `q-${hex8(fmix32(((index << 4) | k) ^ quoteSalt))}`;
    const sentences = shuffle(rng, [...QUOTE_TEXTS]).slice(0, int(rng, 1, 2));
    return {
      id,
      text: sentences.map((sentence) => sentence(rng)).join(' '),
      author: name,
      tags: shuffle(rng, [...QUOTE_TAGS]).slice(0, int(rng, 0, 3)),
      likes: int(rng, 0, 25_000),
      url: `${url}quotes.html`,
    };
  });
  return { index, author: { name, born, birthplace, bio, url }, slug, quotes };
}

/** The author pool of a site: unique names and unique slugs. */
function authorPool(seed: number, count: number): AuthorDraft[] {
  if (count > MAX_AUTHORS) throw new RangeError(`authors must be at most ${MAX_AUTHORS}, got ${count}`);
  const combinations = shuffle(
    stream(seed, STREAM_AUTHOR_NAMES),
    FIRST_NAMES.flatMap((first) => LAST_NAMES.map((last) => [first, last])),
  );
  const slugs = new Set<string>();
  return Array.from({ length: count }, (_, index) => {
    const name = authorName(index, combinations);
    let slug = slugify(name);
    if (slugs.has(slug)) slug = `${slug}-${index + 1}`;
    slugs.add(slug);
    return makeAuthor(seed, index, name, slug);
  });
}

const FIRST_PUBLISHED = Date.UTC(1990, 0, 1);
const PUBLISHED_DAYS = (Date.UTC(2023, 11, 31) - FIRST_PUBLISHED) / DAY_MS;

function makeBook(seed: number, index: number, author: string): Book {
  const rng = stream(seed, STREAM_BOOK, index);
  // The low half is a bijection of the index, so UPCs are unique by construction.
  const upc = hex8(rng() * 2 ** 32) + hex8(fmix32(index ^ streamSeed(seed, STREAM_UPC)));
  const title = makeTitle(rng);
  const price = int(rng, 1000, 5999) / 100;
  const inStock = rng() < 0.85;
  const stock = inStock ? int(rng, 1, 30) : 0;
  const rating = int(rng, 1, 5);
  const category = pick(rng, CATEGORIES);
  const tags = shuffle(rng, [...TAGS]).slice(0, int(rng, 0, 4));
  const hasDescription = rng() < 0.85;
  // Drawn either way so that whether a book has a description never shifts its later fields.
  const description = makeDescription(rng);
  const reviews = int(rng, 0, 250);
  const published = new Date(FIRST_PUBLISHED + int(rng, 0, PUBLISHED_DAYS) * DAY_MS).toISOString().slice(0, 10);
  const url = `/catalogue/${slugify(title)}_${index + 1}/index.html`;
  return {
    upc,
    title,
    price,
    inStock,
    stock,
    rating,
    category,
    tags,
    ...(hasDescription ? { description } : {}),
    reviews,
    published,
    author,
    url,
  };
}

function changeBook(seed: number, index: number, book: Book, variant: number): Book {
  const rng = stream(seed, STREAM_CHANGE, index);
  const cents = Math.round(book.price * 100);
  const delta = int(rng, 1, 500) * (rng() < 0.5 ? -1 : 1);
  const newCents = cents + delta >= 100 ? cents + delta : cents + Math.abs(delta);
  const changed: Book = { ...book, price: newCents / 100 };
  if (variant === 1) changed.title = `${book.title} (Revised Edition)`;
  if (variant === 2) {
    const extra = shuffle(
      rng,
      TAGS.filter((tag) => !book.tags.includes(tag)),
    )[0];
    changed.tags = book.tags.length < 4 && extra !== undefined ? [...book.tags, extra] : book.tags.slice(0, -1);
  }
  return changed;
}

function nonNegativeInt(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
  }
  return value;
}

/** Which author of the pool wrote a book: a stream of its own, so no other field of the book depends on it. */
function authorIndexOf(seed: number, index: number, authors: number): number {
  return int(stream(seed, STREAM_AUTHOR_OF, index), 0, authors - 1);
}

function applyEdits(seed: number, count: number, edits: SiteEdits, authorOf: (index: number) => string): Book[] {
  const change = nonNegativeInt('edits.change', edits.change ?? 0);
  const add = nonNegativeInt('edits.add', edits.add ?? 0);
  const remove = nonNegativeInt('edits.remove', edits.remove ?? 0);
  if (change + remove > count) {
    throw new RangeError(`edits.change + edits.remove (${change + remove}) exceeds books (${count})`);
  }
  // Removals come from the front of one permutation and changes from its back, so the books
  // picked for change do not depend on how many are removed (and vice versa).
  const order = shuffle(
    stream(seed, STREAM_EDIT_ORDER),
    Array.from({ length: count }, (_, i) => i),
  );
  const removed = new Set(order.slice(0, remove));
  const variants = new Map(order.slice(count - change).map((index, k) => [index, k % 3]));
  const books: Book[] = [];
  for (let index = 0; index < count + add; index++) {
    if (removed.has(index)) continue;
    const book = makeBook(seed, index, authorOf(index));
    const variant = variants.get(index);
    books.push(variant === undefined ? book : changeBook(seed, index, book, variant));
  }
  return books;
}

/**
 * Applies the author edits to the authors the books link. Removals come from the front of one permutation
 * and changes from its back (as for books); quotes are removed from the remaining authors.
 *
 * @returns the remaining authors by pool index, in pool order, each with its edited author and quotes
 */
function editAuthors(seed: number, linked: readonly AuthorDraft[], edits: SiteEdits): Map<number, AuthorDraft> {
  const change = nonNegativeInt('edits.changeAuthors', edits.changeAuthors ?? 0);
  const remove = nonNegativeInt('edits.removeAuthors', edits.removeAuthors ?? 0);
  const removeQuotes = nonNegativeInt('edits.removeQuotes', edits.removeQuotes ?? 0);
  if (change + remove > linked.length) {
    throw new RangeError(
      `edits.changeAuthors + edits.removeAuthors (${change + remove}) exceeds the linked authors (${linked.length})`,
    );
  }
  const order = shuffle(
    stream(seed, STREAM_AUTHOR_EDIT_ORDER),
    linked.map((draft) => draft.index),
  );
  const removed = new Set(order.slice(0, remove));
  const changed = new Set(order.slice(linked.length - change));
  const remaining = linked.filter((draft) => !removed.has(draft.index));
  const quoteIds = remaining.flatMap((draft) => draft.quotes.map((quote) => quote.id));
  if (removeQuotes > quoteIds.length) {
    throw new RangeError(`edits.removeQuotes (${removeQuotes}) exceeds the quotes of the remaining authors (${quoteIds.length})`);
  }
  const droppedQuotes = new Set(shuffle(stream(seed, STREAM_QUOTE_EDIT_ORDER), quoteIds).slice(0, removeQuotes));
  const live = new Map<number, AuthorDraft>();
  for (const draft of remaining) {
    let author = draft.author;
    if (changed.has(draft.index)) {
      const rng = stream(seed, STREAM_AUTHOR_CHANGE, draft.index);
      author = { ...author, bio: `${author.bio} Now lives in ${pick(rng, PLACES)}, writing again.` };
    }
    live.set(draft.index, { ...draft, author, quotes: draft.quotes.filter((quote) => !droppedQuotes.has(quote.id)) });
  }
  return live;
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Escapes text for both element content and quoted attribute values. */
function esc(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => ESCAPES[ch] ?? ch);
}

function formatPrice(price: number): string {
  return `£${price.toFixed(2)}`;
}

function availability(book: Book): string {
  return book.inStock ? `In stock (${book.stock} available)` : 'Out of stock';
}

function formatDate(iso: string): string {
  const date = new Date(`${iso}T00:00:00Z`);
  return `${MONTHS[date.getUTCMonth()]} ${date.getUTCDate()}, ${date.getUTCFullYear()}`;
}

function ratingWord(rating: number): string {
  return RATING_WORDS[rating - 1] ?? 'Zero';
}

function stars(rating: number): string {
  return `<p class="star-rating ${ratingWord(rating)}">${'<i class="icon-star"></i>'.repeat(5)}</p>`;
}

function truncate(title: string): string {
  const chars = Array.from(title);
  if (chars.length <= LISTING_TITLE_MAX) return title;
  return `${chars
    .slice(0, LISTING_TITLE_MAX - 3)
    .join('')
    .trimEnd()}…`;
}

// Padding that makes pages look and weigh like a real store, and gives regex scrapers
// something to trip over (selector-like strings inside script and style).
const STYLE = `<style>
body{font-family:"Helvetica Neue",Helvetica,Arial,sans-serif;font-size:14px;line-height:20px;color:#333;background:#f9f9f9}
.header{background:#f8f8f8;border-bottom:1px solid #e7e7e7;padding:10px 0}.header .h1 a{font-size:26px;color:#666}
.page_inner{max-width:1170px;margin:0 auto;padding:0 15px}.breadcrumb{list-style:none;padding:8px 15px;background:#f5f5f5;border-radius:4px}
.breadcrumb>li{display:inline-block}.breadcrumb>li+li:before{content:"/\\00a0";padding:0 5px;color:#ccc}.breadcrumb>.active{color:#777}
.product_pod{height:326px;overflow:hidden;margin-bottom:20px}.product_pod h3{font-size:16px;height:36px}
.price_color{color:#458b00;font-size:18px;font-weight:bold}.instock{color:#468847}.outofstock{color:#b94a48}
.star-rating{color:#e6ce31;font-size:12px}.star-rating .icon-star{display:inline-block;width:14px}
.star-rating.One .icon-star:nth-child(n+2),.star-rating.Two .icon-star:nth-child(n+3),.star-rating.Three .icon-star:nth-child(n+4),
.star-rating.Four .icon-star:nth-child(n+5){color:#ddd}.pager{padding-left:0;margin:20px 0;list-style:none;text-align:center}
.pager li{display:inline}.pager .next{float:right}.pager .previous{float:left}.tags{list-style:none;padding:0}
.tags .tag{display:inline-block;margin:0 4px 4px 0;padding:2px 8px;border-radius:10px;background:#eee}
.table{width:100%;max-width:100%;margin-bottom:20px}.table-striped>tbody>tr:nth-of-type(odd){background-color:#f9f9f9}
.recently-viewed ol{list-style:none;padding:0}.recently-viewed .rv-price{color:#999}.footer{padding:20px 0;color:#999;font-size:12px}
</style>`;

const SCRIPT = `<script>
(function () {
  'use strict';
  // Fake analytics, kept for weight: a scraper must not read prices from here.
  var selectors = { price: 'p.price_color', title: '.product_main h1', stock: '.availability' };
  var queue = window.__analytics = window.__analytics || [];
  function track(name, detail) { queue.push({ name: name, detail: detail, t: 0 }); }
  document.addEventListener('DOMContentLoaded', function () {
    var price = document.querySelector(selectors.price);
    track('view', { path: location.pathname, hasPrice: !!price });
    var buttons = document.querySelectorAll('button[data-loading-text]');
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].addEventListener('click', function (event) {
        event.preventDefault();
        track('basket', { label: this.getAttribute('data-loading-text') });
        alert('This is a demo website for web scraping purposes.');
      });
    }
  });
})();
</script>`;

function categoryMenu(): string {
  const items = CATEGORIES.map((name) => `<li><a href="#">${esc(name)}</a></li>`).join('\n');
  return `<div class="side_categories"><ul class="nav nav-list"><li><a href="#">Books</a><ul>\n${items}\n</ul></li></ul></div>`;
}

const CATEGORY_MENU = categoryMenu();

function layout(title: string, homeHref: string, content: string, head = ''): string {
  return `<!DOCTYPE html>
<html lang="en-us" class="no-js">
<head>
<meta charset="utf-8">
<title>${esc(title)} | Books to Scrape - Sandbox</title>
<meta name="viewport" content="width=device-width">
${head}${STYLE}
</head>
<body id="default" class="default">
<header class="header container-fluid"><div class="page_inner"><div class="row">
<div class="col-sm-8 h1"><a href="${homeHref}">Books to Scrape</a><small> We love being scraped!</small></div>
</div></div></header>
<nav class="navbar"><ul class="nav">
<li><a href="#">Basket</a></li><li><a href="#">Wish list</a></li><li><a href="#">Account</a></li><li><a href="#">Help</a></li>
</ul></nav>
<div class="container-fluid page"><div class="page_inner">
${content}
</div></div>
<footer class="footer container-fluid"><div class="page_inner">
<p>Sample data for scraping tests. Prices, ratings and stock are made up.</p>
<div class="row">
<div class="col-sm-4"><h4>Shop</h4><ul class="footer-links"><li><a href="#">New arrivals</a></li><li><a href="#">Bestsellers</a></li><li><a href="#">Gift cards</a></li><li><a href="#">Offers &amp; deals</a></li></ul></div>
<div class="col-sm-4"><h4>Help</h4><ul class="footer-links"><li><a href="#">Delivery</a></li><li><a href="#">Returns</a></li><li><a href="#">Order tracking</a></li><li><a href="#">FAQ</a></li></ul></div>
<div class="col-sm-4"><h4>About</h4><ul class="footer-links"><li><a href="#">Our story</a></li><li><a href="#">Contact</a></li><li><a href="#">Terms &amp; conditions</a></li><li><a href="#">Privacy</a></li></ul></div>
</div>
<form class="newsletter"><label for="newsletter-email">Get our newsletter</label><input id="newsletter-email" type="email" placeholder="you@example.com"><button type="submit" data-loading-text="Subscribing...">Subscribe</button></form>
</div></footer>
${SCRIPT}
</body>
</html>
`;
}

/** A listing entry: a book or a broken link dressed up as one. */
interface Pod {
  title: string;
  price: number;
  rating: number;
  inStock: boolean;
  url: string;
}

function podHtml(pod: Pod, position: number): string {
  const relative = pod.url.slice('/catalogue/'.length);
  // Both styles resolve to the same URL; a scraper must resolve hrefs, not paste them.
  const href = position % 2 === 0 ? relative : `../catalogue/${relative}`;
  const title = esc(pod.title);
  const stockClass = pod.inStock ? 'instock' : 'outofstock';
  return `<li class="col-xs-6 col-sm-4 col-md-3 col-lg-3">
<article class="product_pod">
<div class="image_container"><a href="${href}"><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt="${title}" class="thumbnail"></a></div>
${stars(pod.rating)}
<h3><a href="${href}" title="${title}">${esc(truncate(pod.title))}</a></h3>
<div class="product_price">
<p class="price_color">${formatPrice(pod.price)}</p>
<p class="${stockClass} availability"><i class="icon-ok"></i>${pod.inStock ? 'In stock' : 'Out of stock'}</p>
<form><button type="submit" class="btn btn-primary btn-block" data-loading-text="Adding...">Add to basket</button></form>
</div>
</article>
</li>`;
}

function listingHtml(pods: Pod[], pageNumber: number, pages: number, first: number, last: number, total: number): string {
  const previous = pageNumber > 1 ? `<li class="previous"><a href="page-${pageNumber - 1}.html">previous</a></li>` : '';
  const next = pageNumber < pages ? `<li class="next"><a href="page-${pageNumber + 1}.html">next</a></li>` : '';
  const content = `<ul class="breadcrumb"><li><a href="../index.html">Home</a></li><li class="active">All products</li></ul>
<div class="row"><aside class="sidebar col-sm-4 col-md-3">${CATEGORY_MENU}</aside>
<div class="col-sm-8 col-md-9">
<div class="page-header action"><h1>All products</h1></div>
<form class="form-horizontal"><strong>${total}</strong> results - showing <strong>${first}</strong> to <strong>${last}</strong>.</form>
<section><div class="alert alert-warning" role="alert"><strong>Warning!</strong> This is a demo website for web scraping purposes.</div>
<ol class="row">
${pods.map(podHtml).join('\n')}
</ol>
<ul class="pager">${previous}<li class="current">Page ${pageNumber} of ${pages}</li>${next}</ul>
</section></div></div>`;
  return layout(`All products | Page ${pageNumber} of ${pages}`, '../index.html', content);
}

/** Sidebar of made-up books: derived from the book itself so the page never depends on others. */
function recentlyViewed(book: Book): string {
  const rng = mulberry32(fnv1a(book.upc));
  const items = Array.from({ length: 12 }, () => {
    const title = esc(makeTitle(rng));
    return `<li><article class="rv-item"><h3><a href="#" title="${title}">${title}</a></h3>
<p class="rv-price">${formatPrice(int(rng, 1000, 5999) / 100)}</p><p class="rv-rating">Rated ${int(rng, 1, 5)} of 5</p>
<form><button type="submit" class="btn btn-default btn-sm" data-loading-text="Adding...">Add to basket</button></form></article></li>`;
  });
  return `<aside class="recently-viewed"><h2>Recently viewed</h2><ol>\n${items.join('\n')}\n</ol></aside>`;
}

/**
 * The book as schema.org JSON-LD, as shops publish it for search engines: what structured-data fields read
 * (`from: jsonld`, `preset: Product`). `<` is escaped so that no title can end the script element early.
 */
function bookJsonLd(book: Book): string {
  const data = {
    '@context': 'https://schema.org',
    '@type': ['Book', 'Product'],
    name: book.title,
    sku: book.upc,
    author: { '@type': 'Person', name: book.author },
    datePublished: book.published,
    offers: {
      '@type': 'Offer',
      price: book.price.toFixed(2),
      priceCurrency: 'GBP',
      availability: `https://schema.org/${book.inStock ? 'InStock' : 'OutOfStock'}`,
    },
    aggregateRating: { '@type': 'AggregateRating', ratingValue: book.rating, bestRating: 5, reviewCount: book.reviews },
  };
  return `<script type="application/ld+json">${JSON.stringify(data).replace(/</g, '\\u003c')}</script>\n`;
}

function detailHtml(book: Book, authorSlug: string, breakSelector: SiteEdits['breakSelector']): string {
  const title = esc(book.title);
  const price = formatPrice(book.price);
  const heading = breakSelector === 'title' ? `<h2 class="product-title">${title}</h2>` : `<h1>${title}</h1>`;
  const priceClass = breakSelector === 'price' ? 'price' : 'price_color';
  const stockClass = book.inStock ? 'instock' : 'outofstock';
  const description =
    book.description === undefined
      ? ''
      : `<div id="product_description" class="sub-header"><h2>Product Description</h2></div>
<p>${esc(book.description)}</p>
`;
  const tags = book.tags.map((tag) => `<li class="tag">${esc(tag)}</li>`).join('');
  const rows: [string, string][] = [
    ['UPC', book.upc],
    ['Product Type', 'Books'],
    ['Price (excl. tax)', price],
    ['Price (incl. tax)', price],
    ['Tax', formatPrice(0)],
    ['Availability', availability(book)],
    ['Number of reviews', String(book.reviews)],
    ['Published', formatDate(book.published)],
  ];
  const table = rows.map(([name, value]) => `<tr><th>${name}</th><td>${esc(value)}</td></tr>`).join('\n');
  const content = `<ul class="breadcrumb"><li><a href="../../index.html">Home</a></li><li><a href="#">${esc(book.category)}</a></li><li class="active">${title}</li></ul>
<div id="messages"></div>
<div class="content"><div id="content_inner">
<article class="product_page">
<div class="row">
<div class="col-sm-6"><div id="product_gallery" class="carousel"><div class="thumbnail"><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt="${title}"></div></div></div>
<div class="col-sm-6 product_main">
${heading}
<p class="author">by <a href="../../author/${authorSlug}">${esc(book.author)}</a></p>
<p class="${priceClass}">${price}</p>
<p class="${stockClass} availability">${availability(book)}</p>
${stars(book.rating)}
<hr>
<div class="alert alert-warning" role="alert"><strong>Warning!</strong> This is a demo website for web scraping purposes. Prices and ratings here were randomly assigned and have no real meaning.</div>
</div>
</div>
${description}<ul class="tags">${tags}</ul>
<div class="sub-header"><h2>Product Information</h2></div>
<table class="table table-striped">
${table}
</table>
</article>
${recentlyViewed(book)}
</div></div>`;
  const metaDescription = book.description === undefined ? '' : `<meta name="description" content="${esc(book.description)}">\n`;
  return layout(book.title, '../../index.html', content, `${metaDescription}${bookJsonLd(book)}`);
}

/** The author page, served at `/author/<slug>/`: its relative links only resolve against that final URL. */
function authorHtml(author: Author, hasQuotes: boolean): string {
  const bio = author.bio
    .split(/(?<=[.!?]) /)
    .map((sentence) => `\n    ${esc(sentence)}`)
    .join('');
  const quotes = hasQuotes ? `<p><a class="quotes-link" href="quotes.html">Quotes by ${esc(author.name)}</a></p>\n` : '';
  const content = `<ul class="breadcrumb"><li><a href="../../index.html">Home</a></li><li class="active">Authors</li></ul>
<div class="author-details">
<h1 class="author-title">${esc(author.name)}</h1>
<p><strong>Born:</strong> <span class="author-born-date">${formatDate(author.born)}</span>
<span class="author-born-location">in ${esc(author.birthplace)}</span></p>
<div class="author-description">${bio}
</div>
${quotes}</div>`;
  return layout(author.name, '../../index.html', content);
}

function formatLikes(likes: number): string {
  return `${likes.toLocaleString('en-US')} ${likes === 1 ? 'like' : 'likes'}`;
}

/** The quote page of an author: one item per `div.quote`. */
function quotesHtml(author: Author, quotes: readonly Quote[]): string {
  const items = quotes.map((quote) => {
    const tags = quote.tags.map((tag) => `<a class="tag" href="#">${esc(tag)}</a>`).join(' ');
    const text = quote.text
      .split(/(?<=[.!?]) /)
      .map(esc)
      .join('\n  ');
    return `<div class="quote" itemscope itemtype="http://schema.org/CreativeWork">
<meta itemprop="identifier" content="${quote.id}">
<span class="text" itemprop="text">“${text}”</span>
<span>by <small class="author" itemprop="author">${esc(quote.author)}</small> <a href="./">(about)</a></span>
<div class="tags">Tags: ${tags}</div>
<span class="likes">${formatLikes(quote.likes)}</span>
</div>`;
  });
  const content = `<ul class="breadcrumb"><li><a href="../../index.html">Home</a></li><li><a href="./">${esc(author.name)}</a></li><li class="active">Quotes</li></ul>
<div class="page-header"><h1>Quotes by ${esc(author.name)}</h1></div>
<div class="quotes">
${items.length === 0 ? '<p class="empty">No quotes yet.</p>' : items.join('\n')}
</div>`;
  return layout(`Quotes by ${author.name}`, '../../index.html', content);
}

function movedHtml(location: string): string {
  return `<!DOCTYPE html>
<html><head><title>301 Moved Permanently</title></head>
<body><h1>Moved Permanently</h1><p>The document has moved <a href="${esc(location)}">here</a>.</p></body></html>
`;
}

function homeHtml(): string {
  const content = `<div class="page-header"><h1>Welcome to Books to Scrape</h1></div>
<p>A sandbox bookstore for testing scrapers. Every price, rating and stock level here is invented.</p>
<p><a class="btn btn-primary" href="/catalogue/page-1.html">All products</a></p>
${CATEGORY_MENU}`;
  return layout('Home', 'index.html', content);
}

function errorHtml(status: number, message: string): string {
  return layout(
    `${status} ${message}`,
    '/',
    `<div class="page-header"><h1>${status} ${message}</h1></div>
<p>Sorry, something went wrong with this page.</p>`,
  );
}

function sitemapXml(books: Book[]): string {
  const urls = books.map((book) => `<url><loc>${esc(ORIGIN_PLACEHOLDER + book.url)}</loc></url>`);
  return `<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
${urls.join('\n')}
</urlset>
`;
}

function brokenPods(seed: number, notFound: number, serverError: number): { pod: Pod; status: number }[] {
  const rng = stream(seed, STREAM_BROKEN);
  const make = (count: number, name: string, status: number, idBase: number) =>
    Array.from({ length: count }, (_, k) => ({
      status,
      pod: {
        title: `${name} ${k + 1}`,
        price: int(rng, 1000, 5999) / 100,
        rating: int(rng, 1, 5),
        inStock: true,
        url: `/catalogue/${slugify(`${name} ${k + 1}`)}_${idBase + k}/index.html`,
      },
    }));
  return [...make(notFound, 'The Vanished Volume', 404, 900_000), ...make(serverError, 'The Unstable Edition', 500, 950_000)];
}

/**
 * Generates the sample bookstore. Deterministic: the same options give the same books and
 * byte-identical pages, and a book untouched by `edits` has the same detail page as in the
 * base site of the same seed.
 *
 * Paths: `/` (and `/index.html`), `/catalogue/page-N.html`, each book's `url`, each linked
 * author's `/author/<slug>` (301 to `/author/<slug>/`, the author page, also for removed authors),
 * `/author/<slug>/quotes.html`, the `broken` paths, `/robots.txt`, `/sitemap.xml`; anything else
 * is a 404 page. Pages render lazily and are memoized, so the same path returns the same
 * {@link SitePage} object.
 *
 * @throws RangeError on counts that are not non-negative integers, `perPage` < 1, `authors` <
 * 1, `edits.change + edits.remove` > `books`, `edits.changeAuthors + edits.removeAuthors` > the
 * linked authors, or `edits.removeQuotes` > the quotes of the remaining authors.
 */
export function generateSite(options: SiteOptions = {}): Site {
  const seed = options.seed ?? 42;
  const count = nonNegativeInt('books', options.books ?? 1000);
  const perPage = nonNegativeInt('perPage', options.perPage ?? 20);
  if (perPage < 1) throw new RangeError('perPage must be at least 1');
  const notFound = nonNegativeInt('brokenNotFound', options.brokenNotFound ?? 5);
  const serverError = nonNegativeInt('brokenServerError', options.brokenServerError ?? 2);
  const authorCount = nonNegativeInt('authors', options.authors ?? Math.max(1, Math.ceil(count / 20)));
  if (authorCount < 1) throw new RangeError('authors must be at least 1');
  const edits = options.edits ?? {};
  const breakSelector = edits.breakSelector ?? null;

  const pool = authorPool(seed, authorCount);
  const draftOf = (index: number) => pool[authorIndexOf(seed, index, authorCount)] as AuthorDraft;
  const books = applyEdits(seed, count, edits, (index) => draftOf(index).author.name);
  const byName = new Map(pool.map((draft) => [draft.author.name, draft]));
  const linked = pool.filter((draft) => books.some((book) => book.author === draft.author.name));
  const authors = editAuthors(seed, linked, edits);
  // An empty store still has one (empty) listing page, so the home page link never 404s.
  const pages = Math.max(1, Math.ceil(books.length / perPage));
  const listingPods: Pod[][] = Array.from({ length: pages }, (_, p) => books.slice(p * perPage, (p + 1) * perPage));
  const broken = brokenPods(seed, notFound, serverError);
  const placement = stream(seed, STREAM_BROKEN, 1);
  for (const { pod } of broken) {
    const podsOfPage = listingPods[int(placement, 0, pages - 1)] as Pod[];
    podsOfPage.splice(int(placement, 0, podsOfPage.length), 0, pod);
  }

  const listingPaths = listingPods.map((_, p) => `/catalogue/page-${p + 1}.html`);
  const html = (body: string, status = 200): SitePage => ({ status, contentType: HTML, body });
  const noStore = { 'Cache-Control': 'no-store' };
  const notFoundPage: SitePage = { ...html(errorHtml(404, 'Not Found'), 404), headers: noStore };

  const routes = new Map<string, () => SitePage>();
  routes.set('/', () => html(homeHtml()));
  routes.set('/index.html', () => html(homeHtml()));
  routes.set('/robots.txt', () => ({
    status: 200,
    contentType: 'text/plain; charset=utf-8',
    body: `User-agent: *\nDisallow: /admin/\nSitemap: ${ORIGIN_PLACEHOLDER}/sitemap.xml\n`,
  }));
  routes.set('/sitemap.xml', () => ({
    status: 200,
    contentType: 'application/xml; charset=utf-8',
    body: sitemapXml(books),
  }));
  listingPods.forEach((pods, p) => {
    const first = p * perPage;
    const last = Math.min(first + perPage, books.length);
    routes.set(listingPaths[p] as string, () =>
      html(listingHtml(pods, p + 1, pages, Math.min(first + 1, last), last, books.length)),
    );
  });
  for (const book of books) {
    const slug = (byName.get(book.author) as AuthorDraft).slug;
    routes.set(book.url, () => html(detailHtml(book, slug, breakSelector)));
  }
  // The catalogue as a JSON API: the books of each listing page, linked to the next page by a JSON value.
  const apiPaths = listingPods.map((_, p) => `/api/books/page-${p + 1}.json`);
  apiPaths.forEach((path, p) => {
    routes.set(path, () => ({
      status: 200,
      contentType: 'application/json; charset=utf-8',
      body: JSON.stringify({
        page: p + 1,
        books: books.slice(p * perPage, (p + 1) * perPage).map((book) => ({
          upc: book.upc,
          title: book.title,
          price: { amount: book.price, currency: 'GBP' },
          availability: { inStock: book.inStock, stock: book.stock },
          rating: book.rating,
          tags: book.tags,
          url: book.url,
        })),
        next: p + 1 < apiPaths.length ? `page-${p + 2}.json` : null,
      }),
    }));
  });
  const redirects: { path: string; location: string }[] = [];
  const brokenAuthors: { path: string; status: number }[] = [];
  const quotePaths: string[] = [];
  for (const draft of linked) {
    const path = `/author/${draft.slug}`;
    const location = `${path}/`;
    redirects.push({ path, location });
    routes.set(path, () => ({
      status: 301,
      contentType: HTML,
      body: movedHtml(location),
      headers: { Location: location, 'Cache-Control': 'no-store' },
    }));
    const edited = authors.get(draft.index);
    if (!edited) {
      brokenAuthors.push({ path, status: 404 });
      continue;
    }
    const hasQuotes = draft.quotes.length > 0;
    routes.set(location, () => html(authorHtml(edited.author, hasQuotes)));
    if (hasQuotes) {
      quotePaths.push(`${location}quotes.html`);
      routes.set(`${location}quotes.html`, () => html(quotesHtml(edited.author, edited.quotes)));
    }
  }
  for (const { pod, status } of broken) {
    if (routes.has(pod.url)) throw new Error(`broken link collides with ${pod.url}`);
    if (status === 500) {
      routes.set(pod.url, () => ({
        ...html(errorHtml(500, 'Internal Server Error'), 500),
        headers: noStore,
      }));
    }
  }

  const rendered = new Map<string, SitePage>();
  const live = [...authors.values()];
  return {
    books,
    authors: live.map((draft) => draft.author),
    quotes: live.flatMap((draft) => draft.quotes),
    broken: [...broken.map(({ pod, status }) => ({ path: pod.url, status })), ...brokenAuthors],
    redirects,
    listingPaths,
    quotePaths,
    apiPaths,
    page(path) {
      const clean = path.replace(/[?#].*$/s, '');
      const cached = rendered.get(clean);
      if (cached) return cached;
      const render = routes.get(clean);
      if (!render) return notFoundPage;
      const result = render();
      rendered.set(clean, result);
      return result;
    },
  };
}
