/**
 * Ready-made templates (`preset: Product` / `preset: Article`): schema.org items read from whichever structured
 * data a page has. Each field reads JSON-LD first, then microdata, then the OpenGraph (or other) meta tags; the
 * fields are plain field definitions, so a template may override any of them, add its own, or choose another key.
 */

/** The presets a template may name. */
export const TEMPLATE_PRESETS = ['Product', 'Article'] as const;
export type TemplatePreset = (typeof TEMPLATE_PRESETS)[number];

/** The item key of a preset template unless it names another: the page, after redirects. */
export const PRESET_KEY = 'url';

type Source = Record<string, unknown>;

/** The same property path read from JSON-LD, then microdata, of each type in turn; then the given sources. */
function structured(types: readonly string[], paths: readonly string[], ...more: Source[]): Source[] {
  const sources: Source[] = [];
  for (const from of ['jsonld', 'microdata']) {
    for (const itemType of types) for (const path of paths) sources.push({ from, itemType, path });
  }
  return [...sources, ...more];
}

/** A field reading its sources in order, with the field's other keys. */
function field(sources: readonly Source[], keys: Record<string, unknown> = {}): Record<string, unknown> {
  const [first, ...fallback] = sources;
  return { ...first, ...(fallback.length > 0 ? { fallback } : {}), ...keys };
}

const meta = (...names: string[]): Source[] => names.map((name) => ({ from: 'meta', name }));

/**
 * Dates of articles: an ISO timestamp without a zone (common in JSON-LD) would be a problem that quarantines the
 * article; its calendar date is kept instead. Anything else goes to the date parser as it is.
 */
const DATE = {
  type: 'date',
  pattern: '^\\d{4}-\\d{2}-\\d{2}(?:T\\d{2}:\\d{2}(?::\\d{2}(?:\\.\\d{1,9})?)?(?:Z|[+-]\\d{2}:?\\d{2}))?|^.+',
};

const PRODUCT = ['Product'];
/** Article and the subtypes news sites and blogs use (a type is matched by name, not by the schema.org hierarchy). */
const ARTICLE = ['Article', 'NewsArticle', 'BlogPosting', 'Report', 'ScholarlyArticle', 'TechArticle'];

/** The fields of each preset, as a user would write them. */
export const PRESET_FIELDS: Readonly<Record<TemplatePreset, Readonly<Record<string, unknown>>>> = {
  Product: {
    url: { from: 'url', type: 'url' },
    name: field(structured(PRODUCT, ['name'], ...meta('og:title'))),
    sku: field(structured(PRODUCT, ['sku'], ...meta('product:retailer_item_id'))),
    gtin: field(structured(PRODUCT, ['gtin13', 'gtin', 'gtin12', 'gtin14', 'gtin8'])),
    brand: field(structured(PRODUCT, ['brand.name', 'brand'], ...meta('product:brand', 'og:brand'))),
    description: field(structured(PRODUCT, ['description'], ...meta('og:description', 'description'))),
    image: field(structured(PRODUCT, ['image.url', 'image', 'image.contentUrl'], ...meta('og:image')), { type: 'url' }),
    price: field(
      structured(
        PRODUCT,
        ['offers.price', 'offers.lowPrice', 'offers.priceSpecification.price'],
        ...meta('product:price:amount', 'og:price:amount'),
      ),
      { type: 'number' },
    ),
    currency: field(
      structured(
        PRODUCT,
        ['offers.priceCurrency', 'offers.priceSpecification.priceCurrency'],
        ...meta('product:price:currency', 'og:price:currency'),
      ),
    ),
    // "https://schema.org/InStock" and OpenGraph's "instock" both become the bare name.
    availability: field(structured(PRODUCT, ['offers.availability'], ...meta('product:availability', 'og:availability')), {
      pattern: '([^/]+)$',
    }),
    rating: field(structured(PRODUCT, ['aggregateRating.ratingValue']), { type: 'number' }),
    reviewCount: field(structured(PRODUCT, ['aggregateRating.reviewCount', 'aggregateRating.ratingCount']), { type: 'integer' }),
  },
  Article: {
    url: { from: 'url', type: 'url' },
    headline: field(structured(ARTICLE, ['headline', 'name'], ...meta('og:title'))),
    description: field(structured(ARTICLE, ['description'], ...meta('og:description', 'description'))),
    author: field(structured(ARTICLE, ['author.name', 'author'], ...meta('article:author', 'author'))),
    published: field(structured(ARTICLE, ['datePublished'], ...meta('article:published_time')), DATE),
    modified: field(structured(ARTICLE, ['dateModified'], ...meta('article:modified_time')), DATE),
    section: field(structured(ARTICLE, ['articleSection'], ...meta('article:section'))),
    publisher: field(structured(ARTICLE, ['publisher.name'], ...meta('og:site_name'))),
    image: field(structured(ARTICLE, ['image.url', 'image', 'image.contentUrl'], ...meta('og:image')), { type: 'url' }),
  },
};
