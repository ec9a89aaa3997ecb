import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat, type BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** How long the kit's logs are kept and what `cdk destroy` does with them: the constructs' shared defaults. */
export interface LogOptions {
  /** Default one month. */
  readonly logRetention?: RetentionDays;
  /** Default `RETAIN`. */
  readonly removalPolicy?: RemovalPolicy;
}

export function logGroup(scope: Construct, id: string, options: LogOptions): LogGroup {
  return new LogGroup(scope, id, {
    retention: options.logRetention ?? RetentionDays.ONE_MONTH,
    removalPolicy: options.removalPolicy ?? RemovalPolicy.RETAIN,
  });
}

export interface KitFunctionProps extends LogOptions {
  readonly entry: string;
  readonly handler: string;
  readonly timeout: Duration;
  readonly memorySize: number;
  readonly environment: Record<string, string>;
  /** Merged over the kit's esbuild options. */
  readonly bundling?: BundlingOptions;
}

/**
 * The construct ids of a function and of its role and log group, which are its siblings: the ids
 * are part of the resources' logical IDs, so they are kept as they were when first deployed.
 */
export interface KitFunctionIds {
  readonly function: string;
  readonly role: string;
  readonly logGroup: string;
}

/**
 * A Node.js 24 arm64 function bundled by esbuild as ESM with source maps, with a role of its own
 * that may write to its own log group and nothing else yet.
 */
export function kitFunction(scope: Construct, ids: KitFunctionIds, props: KitFunctionProps): NodejsFunction {
  const logs = logGroup(scope, ids.logGroup, props);
  // An own role with log writes to its own log group only, instead of the managed
  // AWSLambdaBasicExecutionRole (logs:CreateLogGroup and PutLogEvents on every log group).
  const role = new Role(scope, ids.role, { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
  logs.grantWrite(role);
  return new NodejsFunction(scope, ids.function, {
    entry: props.entry,
    handler: props.handler,
    runtime: Runtime.NODEJS_24_X,
    architecture: Architecture.ARM_64,
    timeout: props.timeout,
    memorySize: props.memorySize,
    role,
    logGroup: logs,
    environment: { NODE_OPTIONS: '--enable-source-maps', ...props.environment },
    bundling: {
      format: OutputFormat.ESM,
      target: 'node24',
      sourceMap: true,
      minify: true,
      mainFields: ['module', 'main'],
      // The kit's own imports (`durable-endpoints`) resolve to its TypeScript sources.
      esbuildArgs: { '--conditions': 'source' },
      // Bundled, not taken from the runtime: the versions tested are the versions deployed, and
      // clients only the timers need are evaluated on first use.
      externalModules: [],
      // Some bundled CommonJS code calls require() for Node built-ins, which ESM does not define.
      banner: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
      ...props.bundling,
    },
  });
}

/** A file of this package: the TypeScript source next to `lib/`, or the compiled one under `dist/`. */
export function kitFile(path: string): string {
  for (const candidate of [`../${path}.ts`, `../../${path}.ts`, `../${path}.js`]) {
    const file = fileURLToPath(new URL(candidate, import.meta.url));
    if (existsSync(file)) return file;
  }
  throw new Error(`durable-endpoints: ${path} is missing from the installed package; reinstall durable-endpoints.`);
}
