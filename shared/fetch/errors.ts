import { NonRetryableError, RetryableError } from '../errors.js';

/** Parses `Retry-After` (delta seconds or an HTTP date) into milliseconds from `now`. */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** The server answered with a status that is not a page. 5xx and 429 are retryable, other statuses are not. */
export function httpStatusError(status: number, url: string, retryAfterMs: number | undefined): Error {
  const message = `HTTP ${status} from ${url}`;
  if (status >= 500 || status === 429 || status === 408) {
    return new RetryableError(message, `http-${status}`, { retryAfterMs });
  }
  return new NonRetryableError(message, `http-${status}`);
}

/** The body grew past the configured limit (on the wire or after decompression). */
export class ResponseTooLargeError extends NonRetryableError {
  override readonly name = 'ResponseTooLargeError';
  constructor(url: string, limit: number) {
    super(`response from ${url} is larger than ${limit} bytes`, 'too-large');
  }
}

/** More redirects than allowed, or a redirect back to a URL already visited. */
export class RedirectError extends NonRetryableError {
  override readonly name = 'RedirectError';
  constructor(message: string, reason: 'too-many-redirects' | 'redirect-loop' | 'bad-redirect') {
    super(message, reason);
  }
}

/** The response is not a document type the parser reads. */
export class ContentTypeError extends NonRetryableError {
  override readonly name = 'ContentTypeError';
  constructor(url: string, contentType: string) {
    super(`content type "${contentType}" from ${url} is not HTML or XML`, 'content-type');
  }
}

/** Connection, DNS, TLS or timeout trouble: worth retrying. */
export class NetworkError extends RetryableError {
  override readonly name = 'NetworkError';
}

/** The body could not be decompressed. */
export class DecodingError extends NonRetryableError {
  override readonly name = 'DecodingError';
  constructor(message: string, cause?: unknown) {
    super(message, 'bad-encoding', cause);
  }
}
