import { z } from 'zod';
import { ConfigurationError } from './errors.js';

/** Log levels Powertools Logger knows (case-insensitive in the environment). */
export const LOG_LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'CRITICAL', 'SILENT'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const S3_BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const DYNAMODB_TABLE = /^[A-Za-z0-9_.-]{3,255}$/;
const queueUrl = z.url({ protocol: /^https?$/, error: 'must be an SQS queue URL' });

/**
 * Every environment variable a function reads, in one schema. Each function parses only the variables it needs
 * (see {@link loadConfig}); the SDK reads its own (`AWS_ENDPOINT_URL_*`, credentials) by itself.
 */
export const environmentSchema = z.object({
  BUCKET_NAME: z.string().regex(S3_BUCKET, 'must be an S3 bucket name'),
  STATE_TABLE_NAME: z.string().regex(DYNAMODB_TABLE, 'must be a DynamoDB table name'),
  FETCH_QUEUE_URL: queueUrl,
  PARSE_QUEUE_URL: queueUrl,
  /**
   * Comma-separated addresses and CIDRs the fetcher may connect to although the SSRF guard refuses non-public
   * addresses (e.g. `10.1.0.0/16` for an intranet site reached from a VPC). Empty: public addresses only.
   */
  FETCH_ALLOW_ADDRESSES: z
    .string()
    .default('')
    .transform((value) =>
      value
        .split(',')
        .map((entry) => entry.trim())
        .filter((entry) => entry !== ''),
    )
    .pipe(z.array(z.string().regex(/^[0-9A-Fa-f.:]+(\/\d{1,3})?$/, 'must list IP addresses or CIDRs, separated by commas'))),
  /** Event bus that finished runs are announced on; unset: runs are not announced. */
  EVENT_BUS_NAME: z.string().min(1, 'must not be empty').optional(),
  /** First retry delay of a failed fetch, in ms; doubles per attempt, with jitter. Default: the pipeline's (500). */
  RETRY_BASE_MS: z.coerce
    .number({ error: 'must be a number of milliseconds' })
    .int('must be a whole number of milliseconds')
    .min(0, 'must be at least 0')
    .max(60_000, 'must be at most 60000')
    .optional(),
  /**
   * `maxReceiveCount` of the redrive policy of the queue the function consumes: a message failing on that receive is
   * dead-lettered next, so its error is recorded for the dead-letter stage. Unset: no error is recorded.
   */
  MAX_RECEIVE_COUNT: z.coerce
    .number({ error: 'must be a number of receives' })
    .int('must be a whole number of receives')
    .min(1, 'must be at least 1')
    .max(1000, 'must be at most 1000')
    .optional(),
  /**
   * Where the dead-letter stage keeps each message it settled: a JSON object from the ARN of each queue it consumes
   * (a stage queue's dead-letter inbox) to the URL of that stage's dead-letter queue.
   */
  DEAD_LETTER_ROUTES: z
    .string()
    .transform((value, context) => {
      try {
        return JSON.parse(value) as unknown;
      } catch {
        context.addIssue({ code: 'custom', message: 'must be JSON' });
        return z.NEVER;
      }
    })
    .pipe(
      z
        .record(z.string().startsWith('arn:', 'keys must be queue ARNs'), queueUrl)
        .refine((routes) => Object.keys(routes).length > 0, 'must route at least one queue'),
    ),
  /**
   * The most fetcher instances that run at once (the fetch queue's event source `maxConcurrency`): lets the fleet's
   * politeness gate split a host's concurrency between them without a state request. Unset: unknown.
   */
  FLEET_SIZE: z.coerce
    .number({ error: 'must be a number of instances' })
    .int('must be a whole number of instances')
    .min(1, 'must be at least 1')
    .max(1000, 'must be at most 1000')
    .optional(),
  /** Minutes without progress after which the watchdog ends a run `stalled`. */
  STALL_AFTER_MINUTES: z.coerce
    .number({ error: 'must be a number of minutes' })
    .int('must be a whole number of minutes')
    .min(16, 'must be at least 16 (longer than the 15-minute SQS delay)')
    .max(10_080, 'must be at most 10080 (a week)')
    .default(60),
  AWS_REGION: z.string().min(1, 'must not be empty'),
  /** Set by the Lambda runtime; the GB-seconds of the run manifests' cost estimate. */
  AWS_LAMBDA_FUNCTION_MEMORY_SIZE: z.coerce.number().int().positive().default(1024),
  POWERTOOLS_SERVICE_NAME: z.string().min(1, 'must not be empty').optional(),
  POWERTOOLS_METRICS_NAMESPACE: z.string().min(1, 'must not be empty').default('Scrapeline'),
  LOG_LEVEL: z
    .string()
    .transform((value) => value.toUpperCase())
    .pipe(z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }))
    .optional(),
});
type Environment = z.output<typeof environmentSchema>;

/** The settings a function may ask for, and the variable each comes from. */
export const SETTING_VARIABLES = {
  bucket: 'BUCKET_NAME',
  table: 'STATE_TABLE_NAME',
  fetchQueue: 'FETCH_QUEUE_URL',
  parseQueue: 'PARSE_QUEUE_URL',
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
  const variables = [...COMMON_VARIABLES, ...settings.map((setting) => SETTING_VARIABLES[setting])];
  const mask = Object.fromEntries(variables.map((name) => [name, true])) as { [K in keyof Environment]?: true };
  const result = environmentSchema.pick(mask).safeParse(env);
  if (!result.success) {
    const problems = new Map<string, string>();
    for (const issue of result.error.issues) {
      const name = String(issue.path[0] ?? '(environment)');
      const value = env[name];
      if (problems.has(name)) continue;
      problems.set(name, value === undefined ? `${name} is required` : `${name} ${issue.message} (${received(value)})`);
    }
    const order = Object.keys(environmentSchema.shape);
    const sorted = [...problems].sort(([a], [b]) => order.indexOf(a) - order.indexOf(b)).map(([, problem]) => problem);
    throw new ConfigurationError(sorted);
  }
  const parsed = result.data as Partial<Environment>;
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
