import { METRICS_NAMESPACE } from '../../shared/metrics.js';
import { ConfigurationError } from './errors.js';

/** Log levels Powertools Logger knows (case-insensitive in the environment). */
export const LOG_LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'CRITICAL', 'SILENT'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const S3_BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const DYNAMODB_TABLE = /^[A-Za-z0-9_.-]{3,255}$/;
const ADDRESS_OR_CIDR = /^[0-9A-Fa-f.:]+(\/\d{1,3})?$/;

/** A variable's value read, or what is wrong with it (said after the variable's name). */
type Read<T> = { readonly value: T } | { readonly problem: string };

/**
 * Reads one variable: `undefined` when it is not set. Plain functions rather than a schema library, so that checking
 * the environment costs nothing at cold start.
 */
type Reader<T> = (value: string | undefined) => Read<T>;

const REQUIRED = 'is required';

function required<T>(read: (value: string) => Read<T>): Reader<T> {
  return (value) => (value === undefined ? { problem: REQUIRED } : read(value));
}

function optional<T>(read: (value: string) => Read<T>): Reader<T | undefined> {
  return (value) => (value === undefined ? { value: undefined } : read(value));
}

function withDefault<T>(fallback: T, read: (value: string) => Read<T>): Reader<T> {
  return (value) => (value === undefined ? { value: fallback } : read(value));
}

function matching(pattern: RegExp, problem: string): (value: string) => Read<string> {
  return (value) => (pattern.test(value) ? { value } : { problem });
}

const nonEmpty = matching(/^[\s\S]+$/, 'must not be empty');

function isQueueUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'https:' || url.protocol === 'http:') && url.hostname !== '';
  } catch {
    return false;
  }
}

function queueUrl(value: string): Read<string> {
  return isQueueUrl(value) ? { value } : { problem: 'must be an SQS queue URL' };
}

/** A whole number from `min` to `max`, e.g. `wholeNumber(1, 1000, 'receives')`. */
function wholeNumber(min: number, max: number, unit: string, minNote = ''): (value: string) => Read<number> {
  return (text) => {
    const value = Number(text);
    if (Number.isNaN(value)) return { problem: `must be a number of ${unit}` };
    if (!Number.isInteger(value)) return { problem: `must be a whole number of ${unit}` };
    if (value < min) return { problem: `must be at least ${min}${minNote}` };
    if (value > max) return { problem: `must be at most ${max}` };
    return { value };
  };
}

function addressList(text: string): Read<string[]> {
  const entries = text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  return entries.every((entry) => ADDRESS_OR_CIDR.test(entry))
    ? { value: entries }
    : { problem: 'must list IP addresses or CIDRs, separated by commas' };
}

function deadLetterRoutes(text: string): Read<Record<string, string>> {
  let routes: unknown;
  try {
    routes = JSON.parse(text);
  } catch {
    return { problem: 'must be JSON' };
  }
  if (typeof routes !== 'object' || routes === null || Array.isArray(routes)) return { problem: 'must be a JSON object' };
  const entries = Object.entries(routes);
  if (entries.some(([arn]) => !arn.startsWith('arn:'))) return { problem: 'keys must be queue ARNs' };
  if (entries.some(([, url]) => typeof url !== 'string' || !isQueueUrl(url))) return { problem: 'must be an SQS queue URL' };
  if (entries.length === 0) return { problem: 'must route at least one queue' };
  return { value: routes as Record<string, string> };
}

function logLevel(text: string): Read<LogLevel> {
  const level = text.toUpperCase();
  return (LOG_LEVELS as readonly string[]).includes(level)
    ? { value: level as LogLevel }
    : { problem: `must be one of ${LOG_LEVELS.join(', ')}` };
}

/**
 * Every environment variable a function reads, in one table (in the order problems are reported). Each function
 * reads only the variables it needs (see {@link loadConfig}); the SDK reads its own (`AWS_ENDPOINT_URL_*`,
 * credentials) by itself.
 */
const ENVIRONMENT = {
  BUCKET_NAME: required(matching(S3_BUCKET, 'must be an S3 bucket name')),
  STATE_TABLE_NAME: required(matching(DYNAMODB_TABLE, 'must be a DynamoDB table name')),
  FETCH_QUEUE_URL: required(queueUrl),
  PARSE_QUEUE_URL: required(queueUrl),
  /** The post-processing queue: the post-processor hands back to it the records objects it has no time to finish. */
  POSTPROCESS_QUEUE_URL: required(queueUrl),
  /**
   * Comma-separated addresses and CIDRs the fetcher may connect to although the SSRF guard refuses non-public
   * addresses (e.g. `10.1.0.0/16` for an intranet site reached from a VPC). Empty: public addresses only.
   */
  FETCH_ALLOW_ADDRESSES: withDefault<string[]>([], addressList),
  /** Event bus that finished runs are announced on; unset: runs are not announced. */
  EVENT_BUS_NAME: optional(nonEmpty),
  /** First retry delay of a failed fetch, in ms; doubles per attempt, with jitter. Default: the pipeline's (500). */
  RETRY_BASE_MS: optional(wholeNumber(0, 60_000, 'milliseconds')),
  /**
   * `maxReceiveCount` of the redrive policy of the queue the function consumes: a message failing on that receive is
   * dead-lettered next, so its error is recorded for the dead-letter stage. Unset: no error is recorded.
   */
  MAX_RECEIVE_COUNT: optional(wholeNumber(1, 1000, 'receives')),
  /**
   * Where the dead-letter stage keeps each message it settled: a JSON object from the ARN of each queue it consumes
   * (a stage queue's dead-letter inbox) to the URL of that stage's dead-letter queue.
   */
  DEAD_LETTER_ROUTES: required(deadLetterRoutes),
  /**
   * The most fetcher instances that run at once (the fetch queue's event source `maxConcurrency`): lets the fleet's
   * politeness gate split a host's concurrency between them without a state request. Unset: unknown.
   */
  FLEET_SIZE: optional(wholeNumber(1, 1000, 'instances')),
  /** Minutes without progress after which the watchdog ends a run `stalled`. */
  STALL_AFTER_MINUTES: withDefault(60, wholeNumber(16, 10_080, 'minutes', ' (longer than the 15-minute SQS delay)')),
  AWS_REGION: required(nonEmpty),
  /** Set by the Lambda runtime; the GB-seconds of the run manifests' cost estimate. */
  AWS_LAMBDA_FUNCTION_MEMORY_SIZE: withDefault(1024, wholeNumber(1, 10_240, 'MB')),
  POWERTOOLS_SERVICE_NAME: optional(nonEmpty),
  POWERTOOLS_METRICS_NAMESPACE: withDefault(METRICS_NAMESPACE, nonEmpty),
  LOG_LEVEL: optional(logLevel),
} satisfies Record<string, Reader<unknown>>;
type Environment = { [K in keyof typeof ENVIRONMENT]: (typeof ENVIRONMENT)[K] extends Reader<infer T> ? T : never };

/** The settings a function may ask for, and the variable each comes from. */
export const SETTING_VARIABLES = {
  bucket: 'BUCKET_NAME',
  table: 'STATE_TABLE_NAME',
  fetchQueue: 'FETCH_QUEUE_URL',
  parseQueue: 'PARSE_QUEUE_URL',
  postprocessQueue: 'POSTPROCESS_QUEUE_URL',
  fetchAllowAddresses: 'FETCH_ALLOW_ADDRESSES',
  retryBaseMs: 'RETRY_BASE_MS',
  eventBus: 'EVENT_BUS_NAME',
  maxReceiveCount: 'MAX_RECEIVE_COUNT',
  deadLetterRoutes: 'DEAD_LETTER_ROUTES',
  stallAfterMinutes: 'STALL_AFTER_MINUTES',
  fleetSize: 'FLEET_SIZE',
} as const satisfies Record<string, keyof Environment>;
export type Setting = keyof typeof SETTING_VARIABLES;

/** What every function is configured with. */
export interface CommonConfig {
  readonly region: string;
  /** @default undefined (Powertools falls back to `service_undefined`) */
  readonly serviceName: string | undefined;
  /** @default 'Scrapeline' */
  readonly metricsNamespace: string;
  /** @default undefined (Powertools reads `POWERTOOLS_LOG_LEVEL`/`AWS_LAMBDA_LOG_LEVEL`, else INFO) */
  readonly logLevel: LogLevel | undefined;
  /** Memory of this function in MB. @default 1024 */
  readonly memoryMb: number;
}

/** A function's configuration: the common settings plus the ones it asked for. */
export type FunctionConfig<S extends Setting> = CommonConfig & {
  readonly [K in S]: Environment[(typeof SETTING_VARIABLES)[K]];
};

const COMMON_VARIABLES = [
  'AWS_REGION',
  'AWS_LAMBDA_FUNCTION_MEMORY_SIZE',
  'POWERTOOLS_SERVICE_NAME',
  'POWERTOOLS_METRICS_NAMESPACE',
  'LOG_LEVEL',
] as const;

function received(value: string): string {
  return `got ${JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value)}`;
}

/**
 * Reads a function's configuration from the environment, once, at cold start.
 *
 * @param settings the settings the function uses: only their variables are read (and required, unless optional)
 * @throws {ConfigurationError} naming every missing or invalid variable
 * @example
 * const config = loadConfig(['bucket', 'table', 'fetchQueue']);
 * config.fetchQueue; // from FETCH_QUEUE_URL
 */
export function loadConfig<const S extends Setting>(
  settings: readonly S[],
  env: Readonly<Record<string, string | undefined>> = process.env,
): FunctionConfig<S> {
  const variables = new Set<string>([...COMMON_VARIABLES, ...settings.map((setting) => SETTING_VARIABLES[setting])]);
  const parsed: Partial<Record<string, unknown>> = {};
  const problems: string[] = [];
  for (const [name, read] of Object.entries(ENVIRONMENT) as [keyof Environment, Reader<unknown>][]) {
    if (!variables.has(name)) continue;
    const value = env[name];
    const result = read(value);
    if ('value' in result) parsed[name] = result.value;
    else problems.push(value === undefined ? `${name} ${result.problem}` : `${name} ${result.problem} (${received(value)})`);
  }
  if (problems.length > 0) throw new ConfigurationError(problems);
  const config: Record<string, unknown> = {
    region: parsed.AWS_REGION,
    serviceName: parsed.POWERTOOLS_SERVICE_NAME,
    metricsNamespace: parsed.POWERTOOLS_METRICS_NAMESPACE,
    logLevel: parsed.LOG_LEVEL,
    memoryMb: parsed.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
  };
  for (const setting of settings) config[setting] = parsed[SETTING_VARIABLES[setting]];
  return config as FunctionConfig<S>;
}
