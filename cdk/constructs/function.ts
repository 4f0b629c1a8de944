import { existsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { LOG_LEVELS, type LogLevel } from '../../functions/commons/config.js';
import { METRICS_NAMESPACE } from '../../shared/metrics.js';
import { BUNDLE_ALIASES, ESBUILD_OPTIONS, nodeOptionsFor, OMITTED_MODULES, RUNTIME_MODULES } from '../bundling/options.js';
import { PROJECT_ROOT } from '../paths.js';
import { PropsValidator } from './validation.js';

/** The runtime every function runs on: set explicitly, never left to the CDK default. */
export const FUNCTION_RUNTIME = lambda.Runtime.NODEJS_24_X;

/** Environment variables the construct sets itself; `environment` may not override them. */
const RESERVED_ENVIRONMENT = ['POWERTOOLS_SERVICE_NAME', 'POWERTOOLS_METRICS_NAMESPACE', 'LOG_LEVEL', 'NODE_OPTIONS'];

/** Properties of {@link ScrapelineFunction}. */
export interface ScrapelineFunctionProps {
  /** Entry file of the handler (exports `handler`), absolute or relative to `projectRoot`. */
  readonly entry: string;
  /** What the function does, shown in the console. @default none */
  readonly description?: string;
  /** Memory in MB (CPU scales with it). @default 512 */
  readonly memorySize?: number;
  /** Longest run of one invocation; queues it consumes derive their visibility timeout from it. @default Duration.seconds(60) */
  readonly timeout?: Duration;
  /** Extra environment variables (the Powertools and logging variables are set from the other props). @default none */
  readonly environment?: Readonly<Record<string, string>>;
  /** `POWERTOOLS_SERVICE_NAME`: the `service` key of every log line and the `service` dimension of every metric. */
  readonly serviceName: string;
  /** `POWERTOOLS_METRICS_NAMESPACE`. @default 'Scrapeline' */
  readonly metricsNamespace?: string;
  /** `LOG_LEVEL` of Powertools Logger. @default 'INFO' */
  readonly logLevel?: LogLevel;
  /** Retention of the function's log group. @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Whether Lambda may keep invoking the function in a Lambda → SQS → Lambda loop. A crawl is such a loop by
   * design (fetch → parse → fetch of discovered links), bounded by the job's limits, so its stages allow it.
   * @default lambda.RecursiveLoop.TERMINATE
   */
  readonly recursiveLoop?: lambda.RecursiveLoop;
  /**
   * Bundle `@aws-sdk/*` instead of using the SDK v3 the Node.js runtime ships.
   * @default false
   */
  readonly bundleAwsSdk?: boolean;
  /** Folder holding `package.json` and `package-lock.json`. @default the repository root */
  readonly projectRoot?: string;
}

/**
 * A Node.js Lambda function with the house defaults: an explicit runtime, arm64, a minified bundle built with
 * the local esbuild (never Docker; a CommonJS bundle, options in cdk/bundling/options.ts) with source maps beside it (enabled at
 * `DEBUG` and `TRACE` only: reading them costs cold-start time), the SDK v3 of the runtime, an explicit log group
 * with a retention, and a role that holds nothing but the right to write to that log group until grants add to it.
 */
export class ScrapelineFunction extends Construct {
  /** The Lambda function. */
  readonly function: NodejsFunction;
  /** Its log group. */
  readonly logGroup: logs.LogGroup;
  /** Its execution role. */
  readonly role: iam.Role;
  /** Its timeout (what consumers of queues compare visibility timeouts with). */
  readonly timeout: Duration;

  constructor(scope: Construct, id: string, props: ScrapelineFunctionProps) {
    super(scope, id);
    const projectRoot = props.projectRoot ?? PROJECT_ROOT;
    const entry = isAbsolute(props.entry) ? props.entry : join(projectRoot, props.entry);
    const timeout = props.timeout ?? Duration.seconds(60);
    const logLevel = props.logLevel ?? 'INFO';

    const validator = new PropsValidator(`ScrapelineFunction (${id})`);
    validator.check(existsSync(entry), `entry must be an existing file, got "${entry}"`);
    validator.check(props.serviceName.trim().length > 0, 'serviceName must not be empty');
    validator.integer('memorySize', props.memorySize, 128, 10_240);
    validator.duration('timeout', timeout, 1, 900);
    validator.check(
      (LOG_LEVELS as readonly string[]).includes(logLevel),
      `logLevel must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`,
    );
    for (const name of Object.keys(props.environment ?? {})) {
      validator.check(
        !RESERVED_ENVIRONMENT.includes(name) && !name.startsWith('AWS_'),
        `environment must not set ${name} (set by the construct or reserved by Lambda)`,
      );
    }
    validator.throwIfInvalid();

    this.timeout = timeout;
    const nodeOptions = nodeOptionsFor(logLevel);
    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      // Logs are kept after the stack is gone; they expire with their retention.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${this.node.path}`,
    });
    // Instead of the AWSLambdaBasicExecutionRole managed policy (logs:* on every log group): its own log group only.
    this.logGroup.grantWrite(this.role);

    this.function = new NodejsFunction(this, 'Function', {
      entry,
      handler: 'handler',
      description: props.description,
      runtime: FUNCTION_RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout,
      role: this.role,
      logGroup: this.logGroup,
      recursiveLoop: props.recursiveLoop ?? lambda.RecursiveLoop.TERMINATE,
      projectRoot,
      depsLockFilePath: join(projectRoot, 'package-lock.json'),
      environment: {
        ...props.environment,
        POWERTOOLS_SERVICE_NAME: props.serviceName,
        POWERTOOLS_METRICS_NAMESPACE: props.metricsNamespace ?? METRICS_NAMESPACE,
        LOG_LEVEL: logLevel,
        ...(nodeOptions === undefined ? {} : { NODE_OPTIONS: nodeOptions }),
      },
      bundling: {
        // CommonJS: the runtime's SDK loads about 2.5 times faster by require than by import (cdk/bundling/options.ts).
        format: OutputFormat.CJS,
        mainFields: ['module', 'main'],
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        forceDockerBundling: false,
        bundleAwsSDK: props.bundleAwsSdk ?? false,
        externalModules: [...(props.bundleAwsSdk ? [] : RUNTIME_MODULES), ...OMITTED_MODULES],
        esbuildArgs: {
          '--alias': Object.entries(BUNDLE_ALIASES).map(([name, path]) => `${name}=${path}`),
          ...Object.fromEntries(
            Object.entries(ESBUILD_OPTIONS.supported).map(([feature, supported]) => [
              `--supported:${feature}`,
              String(supported),
            ]),
          ),
          '--log-override': Object.entries(ESBUILD_OPTIONS.logOverride).map(([message, level]) => `${message}=${level}`),
        },
        metafile: false,
      },
    });
  }
}
