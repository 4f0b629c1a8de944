/**
 * Why a URL ended `failed` or `skipped`: the short machine-readable reasons recorded with it (failures file, run
 * manifest counts, logs) and carried by every {@link ScrapelineError}. Defined once, so that a reason is spelled the
 * same wherever it is raised and wherever it is judged (a gone page, a budget, a retry).
 *
 * Records read back (queue messages, the state store, older runs) keep their reason as a plain string: a reason this
 * version does not know is still counted and shown.
 *
 * Code names a reason as a literal where a {@link FailureReason} is expected (`'robots'`, `'dead-lettered' as const
 * satisfies FailureReason`), checked against this table by the compiler, rather than reading the table at run time:
 * the functions' bundles, which have size budgets (cdk/bundling/options.ts), then do not carry it.
 */
export const FAILURE_REASONS = {
  // Fetching
  network: 'network',
  timeout: 'timeout',
  tooLarge: 'too-large',
  headersTooLarge: 'headers-too-large',
  contentType: 'content-type',
  badEncoding: 'bad-encoding',
  badRedirect: 'bad-redirect',
  tooManyRedirects: 'too-many-redirects',
  redirectLoop: 'redirect-loop',
  retryAfter: 'retry-after',
  ssrfBlocked: 'ssrf-blocked',
  proxyDown: 'proxy-down',
  proxyTunnel: 'proxy-tunnel',
  proxyAuth: 'proxy-auth',
  politenessDeferred: 'politeness-deferred',
  // robots.txt and sitemaps
  robots: 'robots',
  robotsUnreachable: 'robots-unreachable',
  sitemapInvalid: 'sitemap-invalid',
  sitemapTooLarge: 'sitemap-too-large',
  sitemapTooManyUrls: 'sitemap-too-many-urls',
  sitemapLoop: 'sitemap-loop',
  sitemapEntities: 'sitemap-entities',
  sitemapDepth: 'sitemap-depth',
  // Secrets and logins
  secretNotFound: 'secret-not-found',
  secretDenied: 'secret-denied',
  secretInvalid: 'secret-invalid',
  secretUnavailable: 'secret-unavailable',
  secretMissing: 'secret-missing',
  loginFailed: 'login-failed',
  loggedOut: 'logged-out',
  // Extraction
  unparseable: 'unparseable',
  formatMismatch: 'format-mismatch',
  invalidJson: 'invalid-json',
  extractorError: 'extractor-error',
  extractTimeout: 'extract-timeout',
  workerFailed: 'worker-failed',
  // The pipeline
  invalidInput: 'invalid-input',
  invalidJob: 'invalid-job',
  unknownJob: 'unknown-job',
  objectNotFound: 'object-not-found',
  unavailablePort: 'unavailable-port',
  deadLettered: 'dead-lettered',
  stalled: 'stalled',
  deadline: 'deadline',
  internal: 'internal',
  configuration: 'configuration',
  // Adapters (AWS and local)
  messageTooLarge: 'message-too-large',
  sqsSendFailed: 'sqs-send-failed',
  sqsSenderFault: 'sqs-sender-fault',
  transactionConflict: 'transaction-conflict',
  invalidStateWrite: 'invalid-state-write',
  diskFull: 'disk-full',
  locked: 'locked',
  queueClosed: 'queue-closed',
  athenaQueryFailed: 'athena-query-failed',
  athenaQueryTimeout: 'athena-query-timeout',
  athenaBadResponse: 'athena-bad-response',
} as const;

/** A page's HTTP status that ends it (`http-404`, `http-503` after its retries). */
export type HttpFailureReason = `http-${number}`;

/** A network error by its code or error name (`network-ECONNRESET`, `network-UND_ERR_SOCKET`). */
export type NetworkFailureReason = `network-${string}`;

/** A budget of the job that stopped the URL (`budget:maxPages`, `budget:maxDuration`, `budget:maxCost`). */
export type BudgetReason = `budget:${string}`;

/** A known reason: one of {@link FAILURE_REASONS}, an HTTP status, a network error's code or a budget. */
export type FailureReason =
  | (typeof FAILURE_REASONS)[keyof typeof FAILURE_REASONS]
  | HttpFailureReason
  | NetworkFailureReason
  | BudgetReason;

/**
 * The reason of a page that ended on an HTTP status.
 * @example httpReason(404) // 'http-404'
 */
export function httpReason(status: number): HttpFailureReason {
  return `http-${status}`;
}

/**
 * The reason of URLs a budget stopped.
 * @example budgetReason('maxPages') // 'budget:maxPages'
 */
export function budgetReason(budget: string): BudgetReason {
  return `budget:${budget}`;
}
