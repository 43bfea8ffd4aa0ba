import { join } from 'node:path';
import { CfnDynamicReference, CfnDynamicReferenceService, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import { Architecture, type ILayerVersion, LayerVersion, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { cdkBundling, handlerEntry, PROJECT_ROOT, powertoolsLayerVersion } from './bundling.ts';

/** Defaults every function of the service gets (set once, here). */
export const FUNCTION_DEFAULTS = {
  runtime: Runtime.NODEJS_24_X,
  architecture: Architecture.ARM_64,
  memorySize: 512,
  /**
   * Route functions: below API Gateway's 30 s integration limit, above the outbound HTTP
   * timeouts of OAuth calls (OAUTH_HTTP_TIMEOUT_SECONDS, 10 s) plus table work.
   */
  timeout: Duration.seconds(20),
  /** Overridden for every log group of the app by the root stack's `logRetentionDays`. */
  logRetention: RetentionDays.ONE_MONTH,
} as const;

/** The public SSM parameter AWS keeps with the Powertools layer ARN of a release, in every commercial region. */
export const powertoolsLayerParameter = (version: string) =>
  `/aws/service/powertools/typescript/generic/all/${version}`;

const powertoolsLayers = new WeakMap<Stack, ILayerVersion>();

/**
 * The official Powertools for AWS Lambda (TypeScript) layer of the installed release
 * ({@link powertoolsLayerVersion}), one import per stack: its ARN is resolved at deploy time from
 * AWS's public SSM parameter (a `{{resolve:ssm:…}}` dynamic reference, so synth stays offline and
 * the region's own layer ARN is used).
 */
export function powertoolsLayer(scope: Construct): ILayerVersion {
  const stack = Stack.of(scope);
  let layer = powertoolsLayers.get(stack);
  if (!layer) {
    const arn = new CfnDynamicReference(
      CfnDynamicReferenceService.SSM,
      powertoolsLayerParameter(powertoolsLayerVersion()),
    ).toString();
    layer = LayerVersion.fromLayerVersionArn(stack, 'PowertoolsLayer', arn);
    powertoolsLayers.set(stack, layer);
  }
  return layer;
}

export interface ApiFunctionProps {
  /** Handler module under `functions/`, without extension, e.g. `tokens/create-token`. */
  handler?: string;
  /** Absolute path of a handler module outside `functions/` (infra-only functions); instead of `handler`. */
  entry?: string;
  /**
   * Execution role, usually shared by the functions of one feature (see ExecutionRoles). It must
   * not carry AWSLambdaBasicExecutionRole: the function grants itself write access to its own log
   * group only.
   */
  role: iam.IRole;
  description?: string;
  environment?: Record<string, string>;
  /** @default FUNCTION_DEFAULTS.timeout */
  timeout?: Duration;
  /** @default FUNCTION_DEFAULTS.memorySize */
  memorySize?: number;
  /** Files copied next to the bundle (name → absolute source path), read at `/var/task/<name>`. */
  extraFiles?: Record<string, string>;
  /**
   * Build-time constants (esbuild `define`). Give them only to functions that read them: a define
   * changes the minifier's naming of the whole bundle, so even an unused one changes the asset.
   */
  define?: Record<string, string>;
  /** Lambda layers (e.g. a data file read under `/opt`). */
  layers?: ILayerVersion[];
}

/**
 * A Lambda function of the service: nodejs24.x on arm64, one minified ESM bundle per handler built
 * by the local esbuild (no Docker), source maps, X-Ray active tracing (Lambda adds the role's
 * xray:PutTraceSegments/PutTelemetryRecords), the Powertools layer ({@link powertoolsLayer}: the
 * bundle leaves Logger, Metrics and Tracer to it), and an explicit log group with a retention and
 * its own least-privilege log policy.
 */
export class ApiFunction extends NodejsFunction {
  /** The function's own log group (metric filters read it). */
  readonly functionLogGroup: LogGroup;

  constructor(scope: Construct, id: string, props: ApiFunctionProps) {
    const entry = props.entry ?? (props.handler ? handlerEntry(props.handler) : undefined);
    if (!entry) throw new Error(`ApiFunction ${id} needs a handler or an entry`);
    // The log group is a sibling of the function: it must exist before `super()`.
    const logGroup = new LogGroup(scope, `${id}Logs`, {
      retention: FUNCTION_DEFAULTS.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    super(scope, id, {
      entry,
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: join(PROJECT_ROOT, 'package-lock.json'),
      runtime: FUNCTION_DEFAULTS.runtime,
      architecture: FUNCTION_DEFAULTS.architecture,
      memorySize: props.memorySize ?? FUNCTION_DEFAULTS.memorySize,
      timeout: props.timeout ?? FUNCTION_DEFAULTS.timeout,
      tracing: Tracing.ACTIVE,
      logGroup,
      role: props.role,
      description: props.description?.slice(0, 256),
      environment: {
        // Stack traces point into the TypeScript sources through the bundle's .map file.
        NODE_OPTIONS: '--enable-source-maps',
        ...props.environment,
      },
      bundling: cdkBundling(props.extraFiles, props.define),
      layers: [powertoolsLayer(scope), ...(props.layers ?? [])],
    });
    // Instead of the AWSLambdaBasicExecutionRole managed policy (logs:CreateLogGroup and
    // PutLogEvents on every log group): create streams and put events in this log group only.
    logGroup.grantWrite(props.role);
    this.functionLogGroup = logGroup;
  }
}
