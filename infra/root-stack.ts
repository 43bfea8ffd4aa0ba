/**
 * The root stack of the PronaFlow Integration Ecosystem: what is stateful or shared by every
 * feature — the DynamoDB table, the keys secret and its initializer, the work queues with their
 * DLQs and alarms, the alarm topic, the API and delivery rate alarms, the dashboard
 * (infra/constructs/monitoring.ts), the S3 buckets (and the bucket of their access logs), the HTTP
 * API with its `$default` stage and `$default` route (and its custom domain, when given) — and one nested
 * {@link FeatureStack} per entry of the registry (`functions/features.ts`), which holds that
 * feature's functions, log groups, roles, routes and event sources. A feature stack is handed plain
 * identifiers (nested-stack parameters), never exports. The table's shape comes from
 * `shared/db/table-definition.ts`, the queues from `shared/queue-catalog.ts`, the buckets from
 * `shared/bucket-catalog.ts`.
 */
import { resolve } from 'node:path';
import {
  Aspects,
  CfnOutput,
  Duration,
  type IAspect,
  RemovalPolicy,
  Stack,
  type StackProps,
  Tags,
  Token,
  Validations,
} from 'aws-cdk-lib';
import { AccessLogField, AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct, IConstruct } from 'constructs';
import type { FeatureModule } from '#functions/feature-module.ts';
import { features as registry } from '#functions/features.ts';
import { manifestDefine } from '#functions/system/route-manifest.ts';
import { visibilityTimeoutSeconds, type WorkerDef } from '#functions/workers.ts';
import { type BucketDef, type BucketId, buckets } from '#shared/bucket-catalog.ts';
import { TABLE } from '#shared/db/table-definition.ts';
import { CORS } from '#shared/http/cors.ts';
import { buildOpenApi } from '#shared/http/openapi.ts';
import { API_PREFIX, fullPath, type Grant, type RouteDef } from '#shared/http/route.ts';
import { readAppsFile } from '#shared/oauth/catalog.ts';
import { type QueueId, queues } from '#shared/queue-catalog.ts';
import { ApiFunction, FUNCTION_DEFAULTS } from './constructs/api-function.ts';
import { ExecutionRoles, type GrantTargets, grantEnvironment, pascal } from './constructs/grants.ts';
import { KeyringInitializer } from './constructs/keyring/keyring-initializer.ts';
import {
  type AlarmSubscribers,
  AlarmTopic,
  type CustomDomain,
  checkAlarmSubscribers,
  checkCustomDomain,
  checkLogRetention,
  checkStage,
  DEFAULT_LOG_RETENTION_DAYS,
  DEFAULT_STAGE,
  metricsNamespace,
  namePrefix,
  ServiceAlarms,
  ServiceDashboard,
} from './constructs/monitoring.ts';
import { QueueWithDlq } from './constructs/queue-with-dlq.ts';
import {
  APIG4_ACKNOWLEDGMENT,
  FeatureStack,
  type OAuthCatalogBundle,
  type SharedResourceIds,
  type SurfaceInputs,
} from './feature-stack.ts';

/** Name of the stack (and of the CloudFormation stack deployed from it). */
export const STACK_NAME = 'PronaFlowIntegrations';
/** Name of the OAuth apps file inside a function's bundle. */
const OAUTH_APPS_BUNDLED_NAME = 'oauth-apps.json';

const SERVICE_NAME = 'pronaflow-integrations';
const DEFAULT_ISSUER = 'https://identity.pronaflow.local';
/** Days the server access logs of the buckets are kept. */
const ACCESS_LOG_RETENTION_DAYS = 90;
/** Handler of the API's `$default` route, under `functions/`. */
export const FALLBACK_HANDLER = 'system/not-found';

export interface RootStackProps extends StackProps {
  /**
   * Principals allowed to send PronaFlow events to the ingest queue: each is granted
   * `sqs:SendMessage` (with GetQueueAttributes/GetQueueUrl) through the queue's resource policy,
   * e.g. `new iam.ArnPrincipal('arn:aws:iam::123456789012:role/pronaflow-core-events')` or
   * `new iam.AccountPrincipal('123456789012')`. The queue uses SQS-managed encryption, so senders
   * need no KMS permission. Senders must use TLS (the queue policy denies plain HTTP).
   *
   * @default - no external sender; only functions of this stack holding `queue:ingest:send`
   */
  eventSourcePrincipals?: iam.IPrincipal[];
  /**
   * Principals of PronaFlow core allowed to consume the records queue (`<prefix>-records`: the
   * records inbound syncs bring in, schema in shared/bindings/records.ts), through its resource
   * policy. @default - none (core is granted from its own stack, by the queue's name)
   */
  recordConsumerPrincipals?: iam.IPrincipal[];
  /**
   * JWKS endpoint that signs PronaFlow session JWTs (AUTH_JWKS_URL). Must be https.
   * @default `${authJwtIssuer}/.well-known/jwks.json`
   */
  authJwksUrl?: string;
  /** Expected `iss` of session JWTs (AUTH_JWT_ISSUER). @default 'https://identity.pronaflow.local' */
  authJwtIssuer?: string;
  /** Expected `aud` of session JWTs (AUTH_JWT_AUDIENCE). @default 'pronaflow-integrations' */
  authJwtAudience?: string;
  /**
   * Prefix of every secret name (SECRETS_PREFIX): the keys secret is `<prefix>keys`, OAuth app
   * client secrets are `<prefix>oauth/<provider>`.
   * @default 'pronaflow-integrations/'
   */
  secretsPrefix?: string;
  /**
   * Public base URL of the API (OAUTH_REDIRECT_URI_BASE): OAuth redirect URIs must live under it.
   * Set it when a custom domain fronts the API. Must be https.
   * @default the HTTP API's execute-api endpoint
   */
  publicBaseUrl?: string;
  /**
   * A JSON file of OAuth apps (OAUTH_APPS_FILE: same fields as `GET /oauth/apps/{id}`) that add to
   * or replace the built-in catalog. Validated at synth and shipped inside the OAuth functions.
   */
  oauthAppsFile?: string;
  /**
   * The PronaFlow page that finishes OAuth connections (OAUTH_COMPLETE_URL): the provider's
   * browser redirect is forwarded there with `code` and `state`. Must be https.
   */
  oauthCompleteUrl?: string;
  /** LOG_LEVEL of every function. @default 'INFO' */
  logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  /** Origins allowed by CORS (preflight answered by API Gateway; CORS_ALLOWED_ORIGINS). @default ['*'] */
  corsAllowedOrigins?: string[];
  /** Default throttling of the `$default` stage. @default { rateLimit: 1000, burstLimit: 2000 } */
  throttle?: { rateLimit: number; burstLimit: number };
  /**
   * Stage name (`dev`, `staging`, `prod`…): 1 to 16 lowercase letters, digits or dashes. It goes
   * into the names of the alarms, the alarm topic, the dashboard and the API, the metric namespace
   * of the service's own metrics, and a `stage` tag on every resource. One stack per stage (deploy
   * each to its own account or region: the stack's name does not change).
   * @default 'dev'
   */
  stage?: string;
  /**
   * Who hears the alarms (each DLQ not empty, API 5xx rate, Lambda errors and throttles per
   * feature, webhook delivery failure rate, OAuth refresh failures): e-mail addresses and/or HTTPS
   * endpoints subscribed to the stack's own topic, or an existing topic of yours.
   * @default - the stack's topic with no subscriber (subscribe later, outside the stack)
   */
  alarmSubscribers?: AlarmSubscribers;
  /**
   * Retention of EVERY log group of the app (functions, API access logs), in days: one of the
   * values CloudWatch Logs offers (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
   * 1096, 1827, 2192, 2557, 2922, 3288, 3653).
   * @default 30
   */
  logRetentionDays?: number;
  /**
   * A custom domain for the API: an API Gateway domain name (regional, TLS 1.2) with the given ACM
   * certificate, mapped to the `$default` stage. Point a DNS record (CNAME or Route 53 alias) at the
   * `CustomDomainTarget` output. `publicBaseUrl` then defaults to `https://<domainName>`.
   * @default - none: the API is served on its execute-api endpoint
   */
  customDomain?: CustomDomain;
  /**
   * ALLOW_LOOPBACK_TARGETS lets webhooks and OAuth calls reach loopback/private addresses. It
   * exists for the local runtime only: `true` is REFUSED here (the constructor throws), so a
   * deployed stack can never be turned into an SSRF gateway.
   * @default false
   */
  allowLoopbackTargets?: boolean;
  /** The feature registry. @default features of functions/features.ts (tests may pass others) */
  features?: readonly FeatureModule[];
}

export class RootStack extends Stack {
  readonly table: dynamodb.Table;
  readonly queues: Record<QueueId, QueueWithDlq>;
  /** The buckets of `shared/bucket-catalog.ts`, by id. */
  readonly buckets: Record<BucketId, s3.Bucket>;
  /** Receives the server access logs of {@link buckets}. */
  readonly accessLogsBucket: s3.Bucket;
  readonly keysSecret: secretsmanager.Secret;
  /** Deploy-time function that writes the first keyring into {@link keysSecret}. */
  readonly keyringInitializer: KeyringInitializer;
  readonly api: apigwv2.HttpApi;
  readonly stage: apigwv2.HttpStage;
  /** Feature id → its nested stack. */
  readonly featureStacks = new Map<string, FeatureStack>();
  /** Route id → its function (in its feature's nested stack). */
  readonly routeFunctions = new Map<string, ApiFunction>();
  /** Worker id → its function (in its feature's nested stack). */
  readonly workerFunctions = new Map<string, ApiFunction>();
  /** The `$default` route's function (404/405 for requests no route matches). */
  readonly fallbackFunction: ApiFunction;
  /** Where every alarm goes. */
  readonly alarmTopic: AlarmTopic;
  /** The API 5xx rate and webhook delivery failure rate alarms. */
  readonly serviceAlarms: ServiceAlarms;
  readonly dashboard: cloudwatch.Dashboard;
  /** The API's custom domain, when `customDomain` is given. */
  readonly domainName?: apigwv2.DomainName;

  constructor(scope: Construct, id: string, props: RootStackProps = {}) {
    super(scope, id, props);
    if (props.allowLoopbackTargets) {
      throw new Error(
        'allowLoopbackTargets is refused: ALLOW_LOOPBACK_TARGETS is for the local runtime only; a deployed ' +
          'stack must never let webhook deliveries or OAuth calls reach loopback or private addresses.',
      );
    }
    const stage = props.stage ?? DEFAULT_STAGE;
    checkStage(stage);
    const alarmSubscribers = props.alarmSubscribers ?? {};
    checkAlarmSubscribers(alarmSubscribers);
    const logRetentionDays = props.logRetentionDays ?? DEFAULT_LOG_RETENTION_DAYS;
    checkLogRetention(logRetentionDays);
    if (props.customDomain) checkCustomDomain(props.customDomain);
    Tags.of(this).add('stage', stage);
    // Every log group of the app, nested stacks included, whoever created it.
    Aspects.of(this).add(new LogRetention(logRetentionDays));
    const features = props.features ?? registry;
    const routeTable = features.flatMap((f) => Object.values(f.routes));
    const workerTable = features.flatMap((f) => f.workers ?? []);
    const secretsPrefix = props.secretsPrefix ?? `${SERVICE_NAME}/`;
    const issuer = props.authJwtIssuer ?? DEFAULT_ISSUER;
    const jwksUrl = props.authJwksUrl ?? `${issuer.replace(/\/$/, '')}/.well-known/jwks.json`;
    if (!Token.isUnresolved(jwksUrl) && !jwksUrl.startsWith('https://')) {
      throw new Error(`authJwksUrl must be an https URL, got ${jwksUrl}`);
    }
    if (props.publicBaseUrl !== undefined && !props.publicBaseUrl.startsWith('https://')) {
      throw new Error(`publicBaseUrl must be an https URL, got ${props.publicBaseUrl}`);
    }
    checkRegistry(features, routeTable, workerTable);

    // ── Table ───────────────────────────────────────────────────────────────
    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: TABLE.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: TABLE.sortKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      timeToLiveAttribute: TABLE.ttlAttribute,
      // AWS-managed KMS key (aws/dynamodb): encrypted at rest with KMS, usable by the functions
      // without key-policy grants.
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    for (const index of TABLE.indexes) {
      this.table.addGlobalSecondaryIndex({
        indexName: index.name,
        partitionKey: { name: index.partitionKey, type: dynamodb.AttributeType.STRING },
        sortKey: { name: index.sortKey, type: dynamodb.AttributeType.STRING },
        ...(index.projection === 'ALL'
          ? { projectionType: dynamodb.ProjectionType.ALL }
          : {
              projectionType: dynamodb.ProjectionType.INCLUDE,
              nonKeyAttributes: [...index.nonKeyAttributes],
            }),
      });
    }

    // ── Alarm topic ─────────────────────────────────────────────────────────
    this.alarmTopic = new AlarmTopic(this, 'AlarmTopic', { stage, subscribers: alarmSubscribers });

    // ── Queues ──────────────────────────────────────────────────────────────
    this.queues = Object.fromEntries(
      Object.values(queues).map((def) => [
        def.id,
        new QueueWithDlq(this, `${pascal(def.id)}Queue`, {
          def,
          visibilityTimeout: visibilityTimeoutFor(def.id, workerTable),
          alarmActions: [this.alarmTopic.action],
          alarmName: `${namePrefix(stage)}-${def.id}-dlq-not-empty`,
          ...(def.physicalName ? { queueName: `${namePrefix(stage)}-${def.physicalName}` } : {}),
        }),
      ]),
    ) as Record<QueueId, QueueWithDlq>;
    for (const principal of props.eventSourcePrincipals ?? []) {
      this.queues.ingest.queue.grantSendMessages(principal);
    }
    for (const principal of props.recordConsumerPrincipals ?? []) {
      this.queues.records.queue.grantConsumeMessages(principal);
    }

    // ── Buckets ─────────────────────────────────────────────────────────────
    const corsOrigins = props.corsAllowedOrigins ?? ['*'];
    this.accessLogsBucket = new s3.Bucket(this, 'AccessLogsBucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      // Server access logging delivers to SSE-S3 buckets only (not SSE-KMS).
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ id: 'ExpireAccessLogs', expiration: Duration.days(ACCESS_LOG_RETENTION_DAYS) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(this.accessLogsBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        'This bucket is the destination of the server access logs of the other buckets; logging it to ' +
        'itself would log every log delivery, and logging it to yet another bucket would only move the ' +
        'question. It is private, TLS-only, and its objects expire after 90 days.',
    });
    this.buckets = Object.fromEntries(
      Object.values(buckets).map((def) => [def.id, this.bucket(def, corsOrigins)]),
    ) as Record<BucketId, s3.Bucket>;

    // ── Secrets ─────────────────────────────────────────────────────────────
    // The generated placeholder is replaced on the first deploy by a keyring in the format of
    // shared/crypto.ts (see KeyringInitializer below); Secrets Manager cannot generate that JSON.
    this.keysSecret = new secretsmanager.Secret(this, 'KeysSecret', {
      secretName: `${secretsPrefix}keys`,
      description:
        'Data-key keyring for encryption at rest: {"current": kid, "keys": {kid: base64 of 32 bytes}}',
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(this.keysSecret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'Data keys are rotated inside the keyring (add a key, make it current) while older keys stay to ' +
        'decrypt existing data (shared/crypto.ts); a Secrets Manager rotation would replace the value and ' +
        'make stored ciphertext unreadable.',
    });

    const grantQueues = {} as GrantTargets['queues'];
    for (const qid of Object.keys(queues) as QueueId[]) {
      grantQueues[qid] = { queue: this.queues[qid].queue, dlq: this.queues[qid].dlq, def: queues[qid] };
    }
    const grantBuckets = {} as GrantTargets['buckets'];
    for (const bid of Object.keys(buckets) as BucketId[]) {
      grantBuckets[bid] = { bucket: this.buckets[bid], def: buckets[bid] };
    }
    const grantTargets: GrantTargets = {
      table: this.table,
      indexNames: TABLE.indexes.map((i) => i.name),
      queues: grantQueues,
      buckets: grantBuckets,
      keysSecret: this.keysSecret,
      oauthSecretPrefix: `${secretsPrefix}oauth/`,
    };
    const roles = new ExecutionRoles(this, 'Roles', grantTargets);
    this.keyringInitializer = new KeyringInitializer(this, 'KeyringInit', {
      secret: this.keysSecret,
      role: roles.roleFor('keyring init', []),
    });

    // ── HTTP API ────────────────────────────────────────────────────────────
    this.api = new apigwv2.HttpApi(this, 'Api', {
      apiName: namePrefix(stage),
      description: 'PronaFlow Integration Ecosystem API',
      createDefaultStage: false,
      corsPreflight: {
        allowOrigins: corsOrigins,
        allowMethods: CORS.allowMethods.map((m) => apigwv2.CorsHttpMethod[m]),
        allowHeaders: [...CORS.allowHeaders],
        exposeHeaders: [...CORS.exposeHeaders],
        maxAge: Duration.seconds(CORS.maxAgeSeconds),
      },
    });
    // Authentication runs in every handler (the shared middy chain), see the acknowledgment.
    // (The routes of the feature stacks carry the same acknowledgment: they are not the API's children.)
    Validations.of(this.api).acknowledge(APIG4_ACKNOWLEDGMENT);
    const accessLogs = new logs.LogGroup(this, 'ApiAccessLogs', {
      retention: FUNCTION_DEFAULTS.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.stage = new apigwv2.HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle: props.throttle ?? { rateLimit: 1000, burstLimit: 2000 },
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(accessLogs),
        // No headers, query strings or bodies: they may carry tokens.
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: AccessLogField.contextRequestId(),
            requestTime: AccessLogField.contextRequestTime(),
            ip: AccessLogField.contextIdentitySourceIp(),
            routeKey: '$context.routeKey',
            status: AccessLogField.contextStatus(),
            protocol: AccessLogField.contextProtocol(),
            responseLength: AccessLogField.contextResponseLength(),
            latency: '$context.responseLatency',
            integrationLatency: '$context.integration.latency',
            integrationError: '$context.integrationErrorMessage',
          }),
        ),
      },
    });

    // ── Custom domain ───────────────────────────────────────────────────────
    if (props.customDomain) {
      this.domainName = new apigwv2.DomainName(this, 'CustomDomain', {
        domainName: props.customDomain.domainName,
        certificate: acm.Certificate.fromCertificateArn(
          this,
          'CustomDomainCertificate',
          props.customDomain.certificateArn,
        ),
        endpointType: apigwv2.EndpointType.REGIONAL,
        securityPolicy: apigwv2.SecurityPolicy.TLS_1_2,
      });
      new apigwv2.ApiMapping(this, 'CustomDomainMapping', {
        api: this.api,
        domainName: this.domainName,
        stage: this.stage,
      });
      new CfnOutput(this, 'CustomDomainTarget', {
        description: `DNS target of ${props.customDomain.domainName} (CNAME, or a Route 53 alias in the zone given by CustomDomainHostedZoneId)`,
        value: this.domainName.regionalDomainName,
      });
      new CfnOutput(this, 'CustomDomainHostedZoneId', {
        description: 'Hosted zone id of the custom domain target (for a Route 53 alias record)',
        value: this.domainName.regionalHostedZoneId,
      });
    }
    const publicBaseUrl =
      props.publicBaseUrl ??
      (props.customDomain ? `https://${props.customDomain.domainName}` : this.api.apiEndpoint);
    if (props.oauthCompleteUrl !== undefined && !props.oauthCompleteUrl.startsWith('https://')) {
      throw new Error(`oauthCompleteUrl must be an https URL, got ${props.oauthCompleteUrl}`);
    }
    // The OAuth apps file is checked now (a bad file fails the synth, not the first request) and
    // shipped next to the bundle of each function that reads the catalog.
    const appsFile = props.oauthAppsFile ? resolve(props.oauthAppsFile) : undefined;
    if (appsFile) readAppsFile(appsFile);
    const oauthCatalog: OAuthCatalogBundle | undefined = appsFile
      ? {
          extraFiles: { [OAUTH_APPS_BUNDLED_NAME]: appsFile },
          environment: { OAUTH_APPS_FILE: `/var/task/${OAUTH_APPS_BUNDLED_NAME}` },
        }
      : undefined;
    /** Settings every function gets; grant-bound settings (queue URLs) are added per function. */
    const baseEnvironment: Record<string, string> = {
      NODE_ENV: 'production',
      TABLE_NAME: this.table.tableName,
      SECRETS_PREFIX: secretsPrefix,
      AUTH_JWKS_URL: jwksUrl,
      AUTH_JWT_ISSUER: issuer,
      AUTH_JWT_AUDIENCE: props.authJwtAudience ?? SERVICE_NAME,
      CORS_ALLOWED_ORIGINS: corsOrigins.join(','),
      // OAuth redirect URIs live under the API's public base URL.
      OAUTH_REDIRECT_URI_BASE: publicBaseUrl,
      ...(props.oauthCompleteUrl ? { OAUTH_COMPLETE_URL: props.oauthCompleteUrl } : {}),
      ALLOW_LOOPBACK_TARGETS: 'false',
      POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
      // The namespace of the service's own metrics (the log metric filters use it too).
      POWERTOOLS_METRICS_NAMESPACE: metricsNamespace(stage),
      LOG_LEVEL: props.logLevel ?? 'INFO',
    };
    const environmentFor = (grants: readonly Grant[]) =>
      Object.assign({}, baseEnvironment, ...grants.map((g) => grantEnvironment(g, grantTargets)));

    // The registry as the surface-wide functions get it at build time (they bundle no route row).
    let openApiJson: string | undefined;
    const surface: SurfaceInputs = {
      routeManifestDefine: manifestDefine(routeTable),
      // The version is set per request from the function's SERVICE_VERSION (no settings read here).
      openApiDocument: () => (openApiJson ??= JSON.stringify(buildOpenApi(routeTable, undefined, '0.0.0'))),
    };

    // `$default`: requests no route matches get problem+json 404, or 405 with Allow (the same
    // answer the local server gives), from the route manifest.
    this.fallbackFunction = new ApiFunction(this, 'NotFound', {
      handler: FALLBACK_HANDLER,
      role: roles.roleFor('System', []),
      description: '$default route: problem+json 404 for unknown paths, 405 for known paths',
      environment: environmentFor([]),
      define: surface.routeManifestDefine,
    });
    new apigwv2.HttpRoute(this.api, 'DefaultRoute', {
      httpApi: this.api,
      routeKey: apigwv2.HttpRouteKey.DEFAULT,
      integration: new HttpLambdaIntegration('NotFoundIntegration', this.fallbackFunction, {
        payloadFormatVersion: apigwv2.PayloadFormatVersion.VERSION_2_0,
      }),
    });

    // ── Features: one nested stack each, handed identifiers only ─────────────
    const shared: SharedResourceIds = {
      apiId: this.api.apiId,
      tableArn: this.table.tableArn,
      indexNames: TABLE.indexes.map((i) => i.name),
      keysSecretArn: this.keysSecret.secretArn,
      oauthSecretPrefix: `${secretsPrefix}oauth/`,
      queues: Object.fromEntries(
        (Object.keys(queues) as QueueId[]).map((qid) => {
          const { queue, dlq } = this.queues[qid];
          const ids = {
            queueArn: queue.queueArn,
            queueUrl: queue.queueUrl,
            dlqArn: dlq.queueArn,
            dlqUrl: dlq.queueUrl,
          };
          return [qid, ids];
        }),
      ) as SharedResourceIds['queues'],
      buckets: Object.fromEntries(
        (Object.keys(buckets) as BucketId[]).map((bid) => [
          bid,
          { bucketName: this.buckets[bid].bucketName, bucketArn: this.buckets[bid].bucketArn },
        ]),
      ) as SharedResourceIds['buckets'],
      alarmTopicArn: this.alarmTopic.topic.topicArn,
    };
    for (const feature of features) {
      const stack = new FeatureStack(this, `${pascal(feature.id)}Feature`, {
        feature,
        shared,
        environment: baseEnvironment,
        oauthCatalog,
        surface,
        stage,
      });
      this.featureStacks.set(feature.id, stack);
      for (const [k, v] of stack.routeFunctions) this.routeFunctions.set(k, v);
      for (const [k, v] of stack.workerFunctions) this.workerFunctions.set(k, v);
    }

    // ── Alarms and dashboard ────────────────────────────────────────────────
    this.serviceAlarms = new ServiceAlarms(this, 'Alarms', {
      stage,
      action: this.alarmTopic.action,
      api: this.api,
    });
    const featureStacks = [...this.featureStacks.values()];
    this.dashboard = new ServiceDashboard(this, 'Dashboard', {
      stage,
      api: this.api,
      queues: (Object.keys(queues) as QueueId[]).map((qid) => ({ id: qid, ...this.queues[qid] })),
      features: featureStacks.map((fs) => ({
        id: fs.feature.id,
        name: fs.feature.name,
        routes: fs.routeFunctions.size > 0,
        functions: [
          ...[...fs.routeFunctions].map(([label, fn]) => ({ label, fn })),
          ...[...fs.workerFunctions].map(([label, fn]) => ({ label, fn })),
        ],
      })),
      logMetrics: new Map(featureStacks.flatMap((fs) => [...fs.alarms.logMetrics])),
      alarms: [
        ...Object.values(this.queues).map((q) => q.dlqAlarm),
        this.serviceAlarms.api5xxRate,
        this.serviceAlarms.deliveryFailureRate,
      ],
    }).dashboard;

    // ── Outputs ─────────────────────────────────────────────────────────────
    new CfnOutput(this, 'ApiUrl', {
      description: 'Base URL of the integration API',
      value: `${this.stage.url}${API_PREFIX.slice(1)}`,
    });
    new CfnOutput(this, 'IngestQueueUrl', {
      description: 'URL of the queue PronaFlow sends events to',
      value: this.queues.ingest.queue.queueUrl,
    });
    new CfnOutput(this, 'IngestQueueArn', {
      description: 'ARN of the queue PronaFlow sends events to',
      value: this.queues.ingest.queue.queueArn,
    });
    new CfnOutput(this, 'TableName', { description: 'The DynamoDB table', value: this.table.tableName });
    new CfnOutput(this, 'AlarmTopicArn', {
      description: 'The SNS topic every alarm notifies',
      value: this.alarmTopic.topic.topicArn,
    });
    new CfnOutput(this, 'DashboardName', {
      description: 'The CloudWatch dashboard',
      value: namePrefix(stage),
    });
    new CfnOutput(this, 'PackagesBucketName', {
      description: buckets.packages.description,
      value: this.buckets.packages.bucketName,
    });
  }

  /**
   * A bucket of the catalog: private (all public access blocked, ACLs disabled), SSE-S3 encrypted
   * (functions need no KMS permission, and a presigned POST needs no encryption field), TLS only,
   * versioned, access-logged, retained with the stack's data. Lifecycle: unfinished multipart
   * uploads are aborted, staged uploads expire (with their old versions: an abandoned upload is gone
   * after `stagingExpiryDays`), replaced or deleted versions elsewhere after
   * `noncurrentVersionExpiryDays`, and delete markers left alone are removed. CORS lets browsers
   * POST uploads from the API's allowed origins (the signed policy, not the origin, authorizes them).
   */
  private bucket(def: BucketDef, corsOrigins: string[]): s3.Bucket {
    return new s3.Bucket(this, `${pascal(def.id)}Bucket`, {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      versioned: true,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: `${def.id}/`,
      lifecycleRules: [
        {
          id: 'AbortUploadsExpireOldVersions',
          abortIncompleteMultipartUploadAfter: Duration.days(def.abortIncompleteMultipartUploadDays),
          noncurrentVersionExpiration: Duration.days(def.noncurrentVersionExpiryDays),
          expiredObjectDeleteMarker: true,
        },
        {
          id: 'ExpireStaging',
          prefix: def.stagingPrefix,
          expiration: Duration.days(def.stagingExpiryDays),
          noncurrentVersionExpiration: Duration.days(def.stagingExpiryDays),
        },
      ],
      cors: [
        {
          allowedMethods: [s3.HttpMethods.POST],
          allowedOrigins: corsOrigins,
          exposedHeaders: ['ETag'],
          maxAge: 3600,
        },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }
}

/** Sets the retention of every log group it visits (the stack's `logRetentionDays`). */
class LogRetention implements IAspect {
  constructor(private readonly days: number) {}
  visit(node: IConstruct): void {
    if (node instanceof logs.CfnLogGroup) node.retentionInDays = this.days;
  }
}

/** Visibility timeout of a queue, from the worker table (see {@link visibilityTimeoutSeconds}). */
export function visibilityTimeoutFor(queueId: QueueId, workerTable: readonly WorkerDef[]): Duration {
  return Duration.seconds(visibilityTimeoutSeconds(queueId, workerTable));
}

/**
 * Fails synth on registry entries the stacks cannot build: duplicate feature ids, function ids or
 * method + path pairs; a queue owned by two features; a worker consuming a queue its feature does
 * not own.
 */
function checkRegistry(
  features: readonly FeatureModule[],
  routeTable: readonly RouteDef[],
  workerTable: readonly WorkerDef[],
): void {
  const featureIds = new Set<string>();
  const owners = new Map<QueueId, string>();
  for (const f of features) {
    if (featureIds.has(f.id)) throw new Error(`Duplicate feature id: ${f.id}`);
    featureIds.add(f.id);
    for (const q of f.queues ?? []) {
      if (owners.has(q)) throw new Error(`Queue ${q} is owned by ${owners.get(q)} and ${f.id}`);
      owners.set(q, f.id);
    }
    for (const w of f.workers ?? []) {
      if ('queue' in w.trigger && !(f.queues ?? []).includes(w.trigger.queue)) {
        throw new Error(
          `Worker ${w.id} of ${f.id} consumes ${w.trigger.queue}, a queue ${f.id} does not own`,
        );
      }
    }
  }
  const seen = new Set<string>();
  for (const id of [
    ...routeTable.map((r) => pascal(r.id)),
    ...workerTable.map((w) => `${pascal(w.id)}Worker`),
  ]) {
    if (seen.has(id)) throw new Error(`Duplicate function id in the route/worker tables: ${id}`);
    seen.add(id);
  }
  const keys = new Set<string>();
  for (const r of routeTable) {
    const key = `${r.method} ${fullPath(r)}`;
    if (keys.has(key)) throw new Error(`Duplicate route: ${key}`);
    keys.add(key);
  }
}
