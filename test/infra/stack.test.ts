/**
 * Synthesizes the real stack once (esbuild bundling of every function, cdk-nag AwsSolutions) and
 * checks the template against the route and worker tables. Variants that only need the template
 * synthesize with bundling skipped (`aws:cdk:bundling-stacks: []`), which takes a few seconds.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type App, type CfnElement, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AccountPrincipal, ArnPrincipal } from 'aws-cdk-lib/aws-iam';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import type { Construct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routeList } from '#functions/routes.ts';
import { queues, type WorkerDef, workers } from '#functions/workers.ts';
import { buildApp } from '#infra/app.ts';
import { BUNDLE } from '#infra/constructs/bundling.ts';
import { grantQueue } from '#infra/constructs/grants.ts';
import type { IntegrationStack } from '#infra/integration-stack.ts';
import { TABLE } from '#shared/db/table-definition.ts';
import { CORS } from '#shared/http/cors.ts';
import { fullPath, routeGrants } from '#shared/http/route.ts';

/** Bundling ~50 functions with esbuild takes ~25 s on two cores; allow for a slow machine. */
const SYNTH_TIMEOUT_MS = 180_000;
const MAX_RESOURCES = 450;
/** Acknowledged cdk-nag findings must be one of these (each carries its reason where it is made). */
const ALLOWED_ACKNOWLEDGMENTS = [
  /^AwsSolutions-APIG4$/,
  /^AwsSolutions-SMG4$/,
  /^AwsSolutions-IAM5\[Resource::\*\]$/,
  /^AwsSolutions-IAM5\[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:pronaflow-integrations\/oauth\/\*\]$/,
];

type Resource = { Type: string; Properties: Record<string, unknown>; Metadata?: Record<string, unknown> };
type Statement = { Effect: string; Action: string | string[]; Resource: unknown };

const tempDirs: string[] = [];
function outdir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pronaflow-cdk-'));
  tempDirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/** Synthesizes; returns the template, or the validation error (cdk-nag findings fail synth). */
function synth(app: App, stack: IntegrationStack) {
  let assembly: CloudAssembly | undefined;
  let error: Error | undefined;
  try {
    assembly = app.synth();
  } catch (err) {
    error = err as Error;
  }
  const template = assembly
    ? Template.fromJSON(assembly.getStackByName(stack.stackName).template as Record<string, unknown>)
    : undefined;
  return { assembly, template, error };
}

function logicalId(stack: IntegrationStack, construct: { node: { defaultChild?: unknown } }): string {
  return stack.getLogicalId(construct.node.defaultChild as CfnElement);
}

function actionsOf(s: Statement): string[] {
  return Array.isArray(s.Action) ? s.Action : [s.Action];
}

describe('IntegrationStack (bundled synth)', () => {
  let app: App;
  let stack: IntegrationStack;
  let assembly: CloudAssembly | undefined;
  let template: Template;
  let synthError: Error | undefined;
  let resources: Record<string, Resource>;

  beforeAll(() => {
    const started = performance.now();
    ({ app, stack } = buildApp({ outdir: outdir() }));
    const out = synth(app, stack);
    synthError = out.error;
    assembly = out.assembly;
    if (out.template) template = out.template;
    resources = (out.template?.toJSON().Resources ?? {}) as Record<string, Resource>;
    console.log(
      `synth with esbuild bundling of ${Object.keys(out.template?.findResources('AWS::Lambda::Function') ?? {}).length} functions and cdk-nag: ${Math.round(performance.now() - started)} ms`,
    );
  }, SYNTH_TIMEOUT_MS);

  it('synthesizes with zero unacknowledged cdk-nag errors', () => {
    // With an unacknowledged error, synth throws ValidationFailed and the message lists every finding.
    expect(synthError?.message).toBeUndefined();
    const report = JSON.parse(readFileSync(join(assembly!.directory, 'validation-report.json'), 'utf8')) as {
      pluginReports: { pluginName: string; violations: { ruleName: string; severity: string }[] }[];
    };
    const findings = report.pluginReports.flatMap((r) =>
      r.violations.map((v) => ({ plugin: r.pluginName, rule: v.ruleName, severity: v.severity })),
    );
    if (findings.length) console.log('validation findings:', findings);
    expect(findings.filter((f) => f.severity === 'error' || f.severity === 'fatal')).toEqual([]);
    expect(findings.filter((f) => f.plugin === 'AwsSolutions')).toEqual([]);
  });

  it('gives every acknowledged finding a reason, from the allowed list only', () => {
    const acknowledged: { path: string; id: string; reason: string }[] = [];
    for (const c of app.node.findAll()) {
      for (const entry of c.node.metadata) {
        if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
        for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) {
          acknowledged.push({ path: c.node.path, id: id.replace(/^annotation::/i, ''), reason });
        }
      }
    }
    console.log(
      'acknowledged cdk-nag findings:\n' +
        acknowledged.map((a) => `  ${a.path}: ${a.id}\n    ${a.reason}`).join('\n'),
    );
    expect(acknowledged.length).toBeGreaterThan(0);
    for (const a of acknowledged) {
      expect(a.reason.trim().length, `${a.path} ${a.id}`).toBeGreaterThan(40);
      expect(
        ALLOWED_ACKNOWLEDGMENTS.some((re) => re.test(a.id)),
        `unexpected acknowledgment ${a.id} at ${a.path}`,
      ).toBe(true);
    }
  });

  it('stays well under the CloudFormation resource limit', () => {
    const count = Object.keys(resources).length;
    const byType: Record<string, number> = {};
    for (const r of Object.values(resources)) byType[r.Type] = (byType[r.Type] ?? 0) + 1;
    console.log(`resources: ${count} (limit 500, bound ${MAX_RESOURCES})`, byType);
    expect(count).toBeLessThan(MAX_RESOURCES);
  });

  it('has exactly one Lambda function per route plus one per worker (and $default, keyring init)', () => {
    expect([...stack.routeFunctions.keys()].sort()).toEqual(routeList.map((r) => r.id).sort());
    expect([...stack.workerFunctions.keys()].sort()).toEqual(workers.map((w) => w.id).sort());
    const expected = [
      ...[...stack.routeFunctions.values()].map((fn) => logicalId(stack, fn)),
      ...[...stack.workerFunctions.values()].map((fn) => logicalId(stack, fn)),
      logicalId(stack, stack.fallbackFunction),
      logicalId(stack, stack.keyringInitializer.function),
    ];
    expect(new Set(expected).size).toBe(routeList.length + workers.length + 2);
    expect(Object.keys(template.findResources('AWS::Lambda::Function')).sort()).toEqual(expected.sort());
  });

  it('runs every function on nodejs24.x, arm64, traced, with its own log group', () => {
    const serviceFunctions = new Set(
      [...stack.routeFunctions.values(), ...stack.workerFunctions.values(), stack.fallbackFunction].map(
        (fn) => logicalId(stack, fn),
      ),
    );
    for (const [id, fn] of Object.entries(template.findResources('AWS::Lambda::Function')) as [
      string,
      Resource,
    ][]) {
      const p = fn.Properties;
      expect(p.Runtime).toBe('nodejs24.x');
      expect(p.Architectures).toEqual(['arm64']);
      expect(p.Handler).toBe('index.handler');
      expect(p.TracingConfig).toEqual({ Mode: 'Active' });
      expect(p.MemorySize).toBeGreaterThanOrEqual(512);
      expect(p.LoggingConfig).toEqual({ LogGroup: { Ref: expect.any(String) } });
      const logGroup = resources[(p.LoggingConfig as { LogGroup: { Ref: string } }).LogGroup.Ref]!;
      expect(logGroup.Type).toBe('AWS::Logs::LogGroup');
      expect(logGroup.Properties.RetentionInDays).toBe(30);
      const roleId = (p.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
      expect(resources[roleId]?.Type).toBe('AWS::IAM::Role');
      if (!serviceFunctions.has(id)) continue; // the keyring initializer needs no service settings
      const env = (p.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(env).toMatchObject({
        NODE_ENV: 'production',
        TABLE_NAME: { Ref: logicalId(stack, stack.table) },
        SECRETS_PREFIX: 'pronaflow-integrations/',
        AUTH_JWKS_URL: expect.stringMatching(/^https:\/\//),
        AUTH_JWT_ISSUER: expect.any(String),
        AUTH_JWT_AUDIENCE: expect.any(String),
        POWERTOOLS_SERVICE_NAME: 'pronaflow-integrations',
        LOG_LEVEL: 'INFO',
        ALLOW_LOOPBACK_TARGETS: 'false',
        OAUTH_REDIRECT_URI_BASE: { 'Fn::GetAtt': [logicalId(stack, stack.api), 'ApiEndpoint'] },
      });
    }
  });

  it('bundles each handler as one minified ESM file with the createRequire banner', () => {
    const fn = stack.routeFunctions.get('health')!;
    const res = resources[logicalId(stack, fn)]!;
    // The code asset `<hash>.zip` is staged as the directory `asset.<hash>` of the cloud assembly.
    const s3Key = String((res.Properties.Code as { S3Key: string }).S3Key);
    const assetDir = join(assembly!.directory, `asset.${s3Key.replace(/\.zip$/, '')}`);
    const code = readFileSync(join(assetDir, 'index.mjs'), 'utf8');
    expect(code.startsWith(BUNDLE.banner)).toBe(true);
    expect(existsSync(join(assetDir, 'index.mjs.map'))).toBe(true);
    // #shared/* aliases were resolved and nothing is left to load from node_modules at run time.
    expect(code).not.toMatch(/from\s*["']#shared\//);
    expect(code).not.toMatch(/from\s*["']@aws-sdk\//);
  });

  it('routes every row of the route table to its own function', () => {
    const apiRoutes = template.findResources('AWS::ApiGatewayV2::Route');
    // One per row, plus `$default` for everything else.
    expect(Object.keys(apiRoutes)).toHaveLength(routeList.length + 1);
    const integrations = template.findResources('AWS::ApiGatewayV2::Integration');
    const expectRoute = (key: string, fn: { node: { defaultChild?: unknown } }) => {
      const entry = Object.values(apiRoutes).find((r) => r.Properties.RouteKey === key);
      expect(entry, key).toBeDefined();
      const target = entry!.Properties.Target as { 'Fn::Join': [string, unknown[]] };
      const integrationRef = (target['Fn::Join'][1][1] as { Ref: string }).Ref;
      expect(integrations[integrationRef]!.Properties, key).toMatchObject({
        IntegrationType: 'AWS_PROXY',
        PayloadFormatVersion: '2.0',
        IntegrationUri: { 'Fn::GetAtt': [logicalId(stack, fn), 'Arn'] },
      });
    };
    for (const route of routeList) {
      expectRoute(`${route.method} ${fullPath(route)}`, stack.routeFunctions.get(route.id)!);
    }
    expectRoute('$default', stack.fallbackFunction);
  });

  it('serves the API on the $default stage with access logs, throttling and CORS', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      AccessLogSettings: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('requestId') },
      DefaultRouteSettings: { ThrottlingRateLimit: Match.anyValue(), ThrottlingBurstLimit: Match.anyValue() },
    });
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      ProtocolType: 'HTTP',
      // The same CORS policy as the handlers and the local runtime (shared/http/cors.ts).
      CorsConfiguration: {
        AllowOrigins: ['*'],
        AllowMethods: [...CORS.allowMethods],
        AllowHeaders: [...CORS.allowHeaders],
        ExposeHeaders: [...CORS.exposeHeaders],
        MaxAge: CORS.maxAgeSeconds,
      },
    });
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(JSON.stringify(outputs.ApiUrl!.Value)).toContain('/v1/integration');
    expect(Object.keys(outputs)).toEqual(
      expect.arrayContaining(['ApiUrl', 'IngestQueueUrl', 'IngestQueueArn', 'TableName']),
    );
  });

  it('gives every queue a DLQ with the table maxReceiveCount, SSE, TLS-only policy and an alarm', () => {
    for (const def of Object.values(queues)) {
      const { queue, dlq } = stack.queues[def.id];
      const q = resources[logicalId(stack, queue)]!;
      const d = resources[logicalId(stack, dlq)]!;
      expect(q.Properties.RedrivePolicy).toEqual({
        deadLetterTargetArn: { 'Fn::GetAtt': [logicalId(stack, dlq), 'Arn'] },
        maxReceiveCount: def.maxReceiveCount,
      });
      expect(q.Properties.SqsManagedSseEnabled).toBe(true);
      expect(d.Properties.SqsManagedSseEnabled).toBe(true);
      expect(d.Properties.MessageRetentionPeriod).toBe(def.dlqRetentionDays * 86_400);
      for (const id of [logicalId(stack, queue), logicalId(stack, dlq)]) {
        template.hasResourceProperties('AWS::SQS::QueuePolicy', {
          Queues: [{ Ref: id }],
          PolicyDocument: {
            Statement: Match.arrayWith([
              Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
            ]),
          },
        });
      }
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Namespace: 'AWS/SQS',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalId(stack, dlq), 'QueueName'] } }],
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
      });
    }
    // Every queue in the template is one of the table's queues or their DLQs.
    template.resourceCountIs('AWS::SQS::Queue', Object.keys(queues).length * 2);
    template.resourceCountIs('AWS::CloudWatch::Alarm', Object.keys(queues).length);
  });

  it('consumes each worker queue with partial batch failures and a long enough visibility timeout', () => {
    const mappings = Object.values(template.findResources('AWS::Lambda::EventSourceMapping')) as Resource[];
    const queueWorkers = workers.filter((w) => 'queue' in w.trigger);
    expect(mappings).toHaveLength(queueWorkers.length);
    for (const worker of queueWorkers) {
      const trigger = worker.trigger as Extract<WorkerDef['trigger'], { queue: string }>;
      const fnId = logicalId(stack, stack.workerFunctions.get(worker.id)!);
      const queueId = logicalId(stack, stack.queues[trigger.queue].queue);
      const mapping = mappings.find((m) => (m.Properties.FunctionName as { Ref: string }).Ref === fnId);
      expect(mapping?.Properties).toMatchObject({
        EventSourceArn: { 'Fn::GetAtt': [queueId, 'Arn'] },
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        BatchSize: trigger.batchSize,
        ...(trigger.maxBatchingWindowSeconds === undefined
          ? {}
          : { MaximumBatchingWindowInSeconds: trigger.maxBatchingWindowSeconds }),
      });
      const fnTimeout = resources[fnId]!.Properties.Timeout as number;
      expect(fnTimeout).toBe(worker.timeoutSeconds);
      expect(resources[queueId]!.Properties.VisibilityTimeout).toBeGreaterThanOrEqual(6 * fnTimeout);
    }
  });

  it('creates the table with PITR, deletion protection, TTL, KMS encryption and the shared key schema', () => {
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        DeletionProtectionEnabled: true,
        TimeToLiveSpecification: { AttributeName: TABLE.ttlAttribute, Enabled: true },
        SSESpecification: { SSEEnabled: true },
        KeySchema: [
          { AttributeName: TABLE.partitionKey, KeyType: 'HASH' },
          { AttributeName: TABLE.sortKey, KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: TABLE.indexes.map((i) =>
          Match.objectLike({
            IndexName: i.name,
            KeySchema: [
              { AttributeName: i.partitionKey, KeyType: 'HASH' },
              { AttributeName: i.sortKey, KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          }),
        ),
      }),
    });
  });

  it('creates the keys secret under SECRETS_PREFIX and fills it with a keyring at deploy time', () => {
    const secretId = logicalId(stack, stack.keysSecret);
    template.hasResource('AWS::SecretsManager::Secret', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({ Name: 'pronaflow-integrations/keys' }),
    });
    const initializerId = logicalId(stack, stack.keyringInitializer.function);
    template.hasResourceProperties('Custom::DataKeyring', {
      ServiceToken: { 'Fn::GetAtt': [initializerId, 'Arn'] },
      SecretId: { Ref: secretId },
    });
    const role = (resources[initializerId]!.Properties.Role as { 'Fn::GetAtt': [string, string] })[
      'Fn::GetAtt'
    ][0];
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: role }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Action: ['secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue'],
            Effect: 'Allow',
            Resource: { Ref: secretId },
          },
        ]),
      },
    });
  });

  it('grants least privilege: no managed policies, no wildcard actions, `*` only for X-Ray', () => {
    for (const role of Object.values(template.findResources('AWS::IAM::Role')) as Resource[]) {
      expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    }
    for (const policy of Object.values(template.findResources('AWS::IAM::Policy')) as Resource[]) {
      const statements = (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement;
      for (const s of statements) {
        expect(actionsOf(s).filter((a) => a.includes('*'))).toEqual([]);
        if (s.Resource === '*') expect(actionsOf(s).every((a) => a.startsWith('xray:'))).toBe(true);
      }
    }
  });

  it('binds queue URLs and permissions to exactly the functions holding the grant', () => {
    const rows = [
      { fn: stack.fallbackFunction, grants: [] },
      ...routeList.map((r) => ({ fn: stack.routeFunctions.get(r.id)!, grants: routeGrants(r) })),
      ...workers.map((w) => ({ fn: stack.workerFunctions.get(w.id)!, grants: w.grants })),
    ];
    for (const { fn, grants } of rows) {
      const env = (
        resources[logicalId(stack, fn)]!.Properties.Environment as { Variables: Record<string, unknown> }
      ).Variables;
      for (const def of Object.values(queues)) {
        const granted = grants.some((g) => grantQueue(g) === def.id);
        expect(env[def.urlEnv], `${fn.node.path} ${def.urlEnv}`).toEqual(
          granted ? { Ref: logicalId(stack, stack.queues[def.id].queue) } : undefined,
        );
      }
      const parks = grants.includes('queue:deliveries-dlq:send');
      expect(env.DELIVERY_DLQ_URL, `${fn.node.path} DELIVERY_DLQ_URL`).toEqual(
        parks ? { Ref: logicalId(stack, stack.queues.deliveries.dlq) } : undefined,
      );
    }
  });

  it('runs the reconciler of lost jobs every 5 minutes, allowed to send to the deliveries queue', () => {
    const fn = stack.workerFunctions.get('reconcileJobs')!;
    const fnId = logicalId(stack, fn);
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(5 minutes)',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [fnId, 'Arn'] } })],
    });
    const env = (resources[fnId]!.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(env.DELIVERY_QUEUE_URL).toEqual({ Ref: logicalId(stack, stack.queues.deliveries.queue) });
  });

  it('shares execution roles per feature instead of one per function', () => {
    const roles = Object.keys(template.findResources('AWS::IAM::Role')).length;
    const groups = new Set(routeList.map((r) => `${r.tag}|${routeGrants(r).join(',')}`));
    groups.add('System|'); // the `$default` route's function
    // + one role for the keyring initializer
    expect(roles).toBe(groups.size + workers.length + 1);
  });
});

describe('IntegrationStack (template-only variants)', () => {
  const noBundling = { 'aws:cdk:bundling-stacks': [] };

  it('refuses allowLoopbackTargets', () => {
    expect(() =>
      buildApp({ outdir: outdir(), context: noBundling, stackProps: { allowLoopbackTargets: true } }),
    ).toThrow(/allowLoopbackTargets is refused/);
    expect(() =>
      buildApp({ outdir: outdir(), context: { ...noBundling, allowLoopbackTargets: 'true' } }),
    ).toThrow(/ALLOW_LOOPBACK_TARGETS is for the local runtime only/);
  });

  it('refuses a non-https JWKS URL', () => {
    expect(() =>
      buildApp({
        outdir: outdir(),
        context: noBundling,
        stackProps: { authJwksUrl: 'http://idp.example/jwks' },
      }),
    ).toThrow(/https/);
  });

  it('ships a valid OAuth apps file to the OAuth functions only, and refuses an invalid one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'oauth-apps-'));
    const good = join(dir, 'apps.json');
    writeFileSync(
      good,
      JSON.stringify([
        {
          id: 'gitlab',
          name: 'GitLab',
          authorize_url: 'https://gitlab.example.com/oauth/authorize',
          token_url: 'https://gitlab.example.com/oauth/token',
          revoke_url: 'https://gitlab.example.com/oauth/revoke',
          scopes: ['read_api'],
          default_scopes: ['read_api'],
          pkce: true,
        },
      ]),
    );
    const { app, stack } = buildApp({
      outdir: outdir(),
      context: noBundling,
      stackProps: { oauthAppsFile: good, oauthCompleteUrl: 'https://app.pronaflow.com/connections/complete' },
    });
    const { template } = synth(app, stack);
    const envOf = (fn: Construct) =>
      (
        template!.toJSON().Resources[logicalId(stack, fn)].Properties.Environment as {
          Variables: Record<string, unknown>;
        }
      ).Variables;
    expect(envOf(stack.routeFunctions.get('listOAuthApps')!).OAUTH_APPS_FILE).toBe(
      '/var/task/oauth-apps.json',
    );
    expect(envOf(stack.workerFunctions.get('refreshOAuthConnections')!).OAUTH_APPS_FILE).toBe(
      '/var/task/oauth-apps.json',
    );
    expect(envOf(stack.routeFunctions.get('listTokens')!).OAUTH_APPS_FILE).toBeUndefined();
    expect(envOf(stack.routeFunctions.get('oauthCallbackRedirect')!).OAUTH_COMPLETE_URL).toBe(
      'https://app.pronaflow.com/connections/complete',
    );

    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify([{ id: 'x' }]));
    expect(() =>
      buildApp({ outdir: outdir(), context: noBundling, stackProps: { oauthAppsFile: bad } }),
    ).toThrow(/OAUTH_APPS_FILE/);
    expect(() =>
      buildApp({
        outdir: outdir(),
        context: noBundling,
        stackProps: { oauthCompleteUrl: 'http://app.example' },
      }),
    ).toThrow(/https/);
  });

  it('lets the event source principals send to the ingest queue', () => {
    const { app, stack } = buildApp({
      outdir: outdir(),
      context: noBundling,
      stackProps: {
        eventSourcePrincipals: [
          new ArnPrincipal('arn:aws:iam::111122223333:role/pronaflow-events'),
          new AccountPrincipal('444455556666'),
        ],
      },
    });
    const { template, error } = synth(app, stack);
    expect(error?.message).toBeUndefined();
    template!.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: logicalId(stack, stack.queues.ingest.queue) }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Action: ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'],
            Principal: {
              AWS: [
                'arn:aws:iam::111122223333:role/pronaflow-events',
                { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::444455556666:root']] },
              ],
            },
          }),
        ]),
      },
    });
    // No other queue accepts external senders.
    const external = Object.values(template!.findResources('AWS::SQS::QueuePolicy')).filter((p) =>
      JSON.stringify(p).includes('111122223333'),
    );
    expect(external).toHaveLength(1);
  });

  it('runs scheduled workers from an EventBridge rule and keeps cdk-nag clean', () => {
    const scheduled: WorkerDef = {
      id: 'purgeExpired',
      handler: 'workers/ingest-events',
      description: 'test-only scheduled worker',
      trigger: { schedule: 'rate(5 minutes)' },
      timeoutSeconds: 60,
      grants: ['table:read', 'secrets:oauth:read', 'secrets:keys:read'],
    };
    const { app, stack } = buildApp({
      outdir: outdir(),
      context: noBundling,
      stackProps: { workers: [...workers, scheduled] },
    });
    const { template, error } = synth(app, stack);
    expect(error?.message).toBeUndefined();
    const fnId = logicalId(stack, stack.workerFunctions.get('purgeExpired')!);
    template!.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(5 minutes)',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [fnId, 'Arn'] } })],
    });
    template!.hasResourceProperties('AWS::Lambda::Permission', {
      FunctionName: { 'Fn::GetAtt': [fnId, 'Arn'] },
      Principal: 'events.amazonaws.com',
    });
    // The secrets grants: GetSecretValue on the OAuth prefix, read on the keys secret.
    template!.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        // arrayWith matches in order: the keys secret statement comes first.
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'],
            Resource: { Ref: logicalId(stack, stack.keysSecret) },
          }),
          Match.objectLike({
            Action: 'secretsmanager:GetSecretValue',
            Resource: {
              'Fn::Join': ['', Match.arrayWith([':secret:pronaflow-integrations/oauth/*'])],
            },
          }),
        ]),
      },
    });
  });
});
