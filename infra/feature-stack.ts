/**
 * One nested stack per feature of the registry (`functions/features.ts`): the feature's functions
 * with their log groups and execution roles, its HTTP API routes with their integrations and
 * invoke permissions, its queue event sources and schedules, and its alarms (Lambda errors and
 * throttles summed over its functions, log-derived metrics of its workers; they act on the root's
 * alarm topic). Everything stateful or shared (table, keys secret, queues + DLQs + their alarms,
 * buckets, the HTTP API with its `$default` stage and route, the alarm topic, the dashboard)
 * lives in the root stack.
 *
 * The nested stack is handed PLAIN IDENTIFIERS ({@link SharedResourceIds}: strings that are tokens
 * of root resources) and re-imports them here (`fromHttpApiAttributes`, `fromTableAttributes`,
 * `fromQueueAttributes`, `fromBucketAttributes`, `fromSecretCompleteArn`). CDK turns each root token used here into one
 * parameter of the nested stack (the `AWS::CloudFormation::Stack`'s Parameters): no Exports, no
 * `Fn::ImportValue`. The one thing of the root that reads this stack is the dashboard: it names
 * this stack's functions, which CDK hands up as Outputs of the nested stack (read with
 * `Fn::GetAtt`, not exports); nothing here depends on the dashboard, so there is no cycle. Every grant is a statement on a role of this stack (an identity policy), never a
 * resource policy on a root resource.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CustomResource,
  Duration,
  NestedStack,
  type NestedStackProps,
  Stage,
  Validations,
} from 'aws-cdk-lib';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { FeatureModule } from '#functions/feature-module.ts';
import { OPENAPI_DOCUMENT_FILE, openApiDefine } from '#functions/system/openapi-document.ts';
import { type BucketId, buckets } from '#shared/bucket-catalog.ts';
import { fullPath, type Grant, routeGrants } from '#shared/http/route.ts';
import { type QueueId, queues } from '#shared/queue-catalog.ts';
import { ApiFunction, FUNCTION_DEFAULTS } from './constructs/api-function.ts';
import { ExecutionRoles, type GrantTargets, grantEnvironment, pascal } from './constructs/grants.ts';
import { FeatureAlarms } from './constructs/monitoring.ts';

/** cdk-nag AwsSolutions-APIG4 (no API Gateway authorizer): acknowledged on the API and on every route. */
export const APIG4_ACKNOWLEDGMENT = {
  id: 'AwsSolutions-APIG4',
  reason:
    'Callers are authenticated in every handler by the shared middleware: PronaFlow session JWTs are ' +
    'verified against the JWKS and opaque API tokens are looked up by hash, which an API Gateway JWT ' +
    'authorizer cannot do; health, status, OpenAPI and the OAuth browser callback are public by design.',
};

/** What the root hands every feature stack: identifiers (tokens of root resources), never constructs. */
export interface SharedResourceIds {
  apiId: string;
  tableArn: string;
  /** Names of the table's GSIs (literals: read grants name each index). */
  indexNames: readonly string[];
  keysSecretArn: string;
  /** Name prefix of the OAuth app client secrets (a literal). */
  oauthSecretPrefix: string;
  queues: Record<QueueId, { queueArn: string; queueUrl: string; dlqArn: string; dlqUrl: string }>;
  buckets: Record<BucketId, { bucketName: string; bucketArn: string }>;
  /** The SNS topic every alarm acts on (see infra/constructs/monitoring.ts). */
  alarmTopicArn: string;
}

/** Files shipped in the bundles of the functions that read the OAuth app catalog, and their settings. */
export interface OAuthCatalogBundle {
  /** Name in the bundle → absolute source path; none when the stack has no OAUTH_APPS_FILE. */
  extraFiles?: Record<string, string>;
  environment: Record<string, string>;
}

/** What the surface-wide handlers of a feature are built with (see `FeatureModule.surfaceViews`). */
export interface SurfaceInputs {
  /** esbuild `define` inlining the route manifest of the whole registry. */
  routeManifestDefine: Record<string, string>;
  /** The OpenAPI document of the whole registry, as JSON (built on first use). */
  openApiDocument: () => string;
}

/**
 * The esbuild `define` a handler of `feature` is bundled with, or undefined for none (most): only
 * the handlers its `surfaceViews` name get one (a define changes the whole bundle's minified names).
 */
export function defineFor(
  feature: FeatureModule,
  handler: string,
  surface: Pick<SurfaceInputs, 'routeManifestDefine'>,
): Record<string, string> | undefined {
  const views = feature.surfaceViews ?? {};
  const define = {
    ...(views.routeManifest?.includes(handler) ? surface.routeManifestDefine : {}),
    ...(views.openApiDocument?.includes(handler) ? openApiDefine : {}),
  };
  return Object.keys(define).length ? define : undefined;
}

export interface FeatureStackProps extends NestedStackProps {
  feature: FeatureModule;
  shared: SharedResourceIds;
  /** Settings every function gets (TABLE_NAME, AUTH_*, …); grant-bound ones are added per function. */
  environment: Record<string, string>;
  /** For the functions that read the OAuth app catalog. @default none shipped */
  oauthCatalog?: OAuthCatalogBundle;
  /** Build-time views of the registry, for the handlers the feature's `surfaceViews` name. */
  surface: SurfaceInputs;
  /** Stage name (alarm names, metric namespace). */
  stage: string;
}

export class FeatureStack extends NestedStack {
  readonly feature: FeatureModule;
  /** Route id → its function. */
  readonly routeFunctions = new Map<string, ApiFunction>();
  /** Worker id → its function. */
  readonly workerFunctions = new Map<string, ApiFunction>();
  /** Execution roles of this stack, shared per (feature, grant set) among its route functions. */
  readonly roles: ExecutionRoles;
  /** The layer holding the OpenAPI document, when a handler of the feature serves it. */
  readonly openApiLayer?: lambda.LayerVersion;
  /** Lambda errors/throttles of the feature and its log-derived metrics, with their alarms. */
  readonly alarms: FeatureAlarms;

  constructor(scope: Construct, id: string, props: FeatureStackProps) {
    super(scope, id, {
      description: `PronaFlow integrations, the ${props.feature.name} feature: its functions, routes and event sources`,
      ...props,
    });
    const { feature, shared } = props;
    this.feature = feature;

    // ── Root resources, re-imported from their identifiers ──────────────────
    const api = apigwv2.HttpApi.fromHttpApiAttributes(this, 'Api', { httpApiId: shared.apiId });
    // fromTableAttributes takes the ARN or the name, not both.
    const table = dynamodb.Table.fromTableAttributes(this, 'Table', { tableArn: shared.tableArn });
    const keysSecret = secretsmanager.Secret.fromSecretCompleteArn(this, 'KeysSecret', shared.keysSecretArn);
    const grantQueues = {} as GrantTargets['queues'];
    for (const qid of Object.keys(queues) as QueueId[]) {
      const q = shared.queues[qid];
      grantQueues[qid] = {
        queue: sqs.Queue.fromQueueAttributes(this, `${pascal(qid)}Queue`, {
          queueArn: q.queueArn,
          queueUrl: q.queueUrl,
        }),
        dlq: sqs.Queue.fromQueueAttributes(this, `${pascal(qid)}Dlq`, {
          queueArn: q.dlqArn,
          queueUrl: q.dlqUrl,
        }),
        def: queues[qid],
      };
    }
    const grantBuckets = {} as GrantTargets['buckets'];
    for (const bid of Object.keys(buckets) as BucketId[]) {
      const b = shared.buckets[bid];
      grantBuckets[bid] = {
        bucket: s3.Bucket.fromBucketAttributes(this, `${pascal(bid)}Bucket`, {
          bucketArn: b.bucketArn,
          bucketName: b.bucketName,
        }),
        def: buckets[bid],
      };
    }
    const grantTargets: GrantTargets = {
      table,
      indexNames: shared.indexNames,
      queues: grantQueues,
      buckets: grantBuckets,
      keysSecret,
      oauthSecretPrefix: shared.oauthSecretPrefix,
    };
    this.roles = new ExecutionRoles(this, 'Roles', grantTargets);
    const environmentFor = (grants: readonly Grant[]): Record<string, string> =>
      Object.assign({}, props.environment, ...grants.map((g) => grantEnvironment(g, grantTargets)));
    const catalog = (uses: boolean): OAuthCatalogBundle =>
      uses && props.oauthCatalog ? props.oauthCatalog : { environment: {} };

    // ── Surface-wide handlers: build-time views of the registry ─────────────
    const views = feature.surfaceViews ?? {};
    const handlers = new Set([
      ...Object.values(feature.routes).map((r) => r.handler),
      ...(feature.workers ?? []).map((w) => w.handler),
    ]);
    for (const h of [...(views.routeManifest ?? []), ...(views.openApiDocument ?? [])]) {
      if (!handlers.has(h)) throw new Error(`${feature.id}: surfaceViews names ${h}, none of its handlers`);
    }
    if (views.openApiDocument?.length) {
      // Written into the cloud assembly at synth, then staged as the layer's asset: the document
      // changes the layer (one resource), never a function's code. (No dot in the folder's name:
      // the staged asset's name would take it as an extension.)
      const dir = join(Stage.of(this)!.outdir, `openapi-document-${feature.id}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(
        join(dir, OPENAPI_DOCUMENT_FILE.replace(/^\/opt\//, '')),
        props.surface.openApiDocument(),
      );
      this.openApiLayer = new lambda.LayerVersion(this, 'OpenApiDocument', {
        code: lambda.Code.fromAsset(dir),
        description: `The OpenAPI document of the API (${OPENAPI_DOCUMENT_FILE}), generated at synth from the registry`,
        compatibleRuntimes: [FUNCTION_DEFAULTS.runtime],
        compatibleArchitectures: [FUNCTION_DEFAULTS.architecture],
      });
    }
    const buildInputs = (handler: string) => ({
      define: defineFor(feature, handler, props.surface),
      layers: views.openApiDocument?.includes(handler) && this.openApiLayer ? [this.openApiLayer] : undefined,
    });

    // ── Routes: function + log group + integration + route + invoke permission ─
    for (const route of Object.values(feature.routes)) {
      const grants = routeGrants(route);
      const apps = catalog(feature.bundlesOAuthCatalog === true);
      const fnId = pascal(route.id);
      const fn = new ApiFunction(this, fnId, {
        handler: route.handler,
        role: this.roles.roleFor(route.tag, grants),
        description: `${route.method} ${fullPath(route)}: ${route.summary}`,
        environment: { ...environmentFor(grants), ...apps.environment },
        extraFiles: apps.extraFiles,
        ...buildInputs(route.handler),
        ...(route.timeoutSeconds ? { timeout: Duration.seconds(route.timeoutSeconds) } : {}),
      });
      // An HttpRoute in THIS scope (`api.addRoutes` would create it under the API, in the root).
      // Its integration and the lambda:InvokeFunction permission are created in the route's scope,
      // so they land here too; the permission's SourceArn is built from the API id parameter.
      const httpRoute = new apigwv2.HttpRoute(this, `${fnId}Route`, {
        httpApi: api,
        routeKey: apigwv2.HttpRouteKey.with(fullPath(route), apigwv2.HttpMethod[route.method]),
        integration: new HttpLambdaIntegration(`${fnId}Integration`, fn, {
          payloadFormatVersion: apigwv2.PayloadFormatVersion.VERSION_2_0,
        }),
      });
      // The root's acknowledgment on the API does not reach it: this route is not the API's child.
      Validations.of(httpRoute).acknowledge(APIG4_ACKNOWLEDGMENT);
      this.routeFunctions.set(route.id, fn);
    }

    // ── Workers: function + log group + event source mapping or schedule ─────
    for (const worker of feature.workers ?? []) {
      const apps = catalog(worker.grants.includes('secrets:oauth:read'));
      const fn = new ApiFunction(this, `${pascal(worker.id)}Worker`, {
        handler: worker.handler,
        // Own role per worker: the event source adds consume permissions on its queue.
        role: this.roles.roleFor(`worker ${worker.id}`, worker.grants),
        description: worker.description,
        environment: { ...environmentFor(worker.grants), ...apps.environment },
        extraFiles: apps.extraFiles,
        ...buildInputs(worker.handler),
        timeout: Duration.seconds(worker.timeoutSeconds),
        memorySize: worker.memoryMb,
      });
      const { trigger } = worker;
      if ('queue' in trigger) {
        fn.addEventSource(
          new SqsEventSource(grantQueues[trigger.queue].queue, {
            batchSize: trigger.batchSize,
            maxBatchingWindow:
              trigger.maxBatchingWindowSeconds === undefined
                ? undefined
                : Duration.seconds(trigger.maxBatchingWindowSeconds),
            reportBatchItemFailures: true,
            maxConcurrency: trigger.maxConcurrency,
          }),
        );
      } else if ('afterDeploy' in trigger) {
        // A custom resource served by the worker itself (shared/after-deploy.ts): no provider
        // function. Its `Code` property is the function's asset key, so a code change runs it again.
        const code = (fn.node.defaultChild as lambda.CfnFunction).code as lambda.CfnFunction.CodeProperty;
        // A rollback sends the old properties to the new code: the function tells them apart.
        fn.addEnvironment('AFTER_DEPLOY_CODE', code.s3Key as string);
        new CustomResource(this, `${pascal(worker.id)}AfterDeploy`, {
          serviceToken: fn.functionArn,
          resourceType: 'Custom::AfterDeploy',
          serviceTimeout: Duration.seconds(worker.timeoutSeconds + 30),
          properties: { Worker: worker.id, Code: code.s3Key },
        });
      } else {
        new events.Rule(this, `${pascal(worker.id)}Schedule`, {
          description: `Runs ${worker.id}: ${worker.description}`.slice(0, 512),
          schedule: events.Schedule.expression(trigger.schedule),
          targets: [new targets.LambdaFunction(fn)],
        });
      }
      this.workerFunctions.set(worker.id, fn);
    }

    // ── Alarms: on this stack's functions, acting on the root's topic ───────
    this.alarms = new FeatureAlarms(this, 'Alarms', {
      stage: props.stage,
      featureId: feature.id,
      featureName: feature.name,
      functions: [...this.routeFunctions.values(), ...this.workerFunctions.values()],
      workers: new Map(
        [...this.workerFunctions].map(([wid, fn]) => [wid, { fn, logGroup: fn.functionLogGroup }] as const),
      ),
      topicArn: shared.alarmTopicArn,
    });
  }
}
