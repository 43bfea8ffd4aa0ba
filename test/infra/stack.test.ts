/**
 * Synthesizes the real app once (esbuild bundling of every function, cdk-nag AwsSolutions) and
 * checks the root template and every feature's nested template against the feature registry.
 * Functions live in nested stacks: a construct's logical id is looked up in its own stack, and a
 * nested template's `{ Ref: <parameter> }` is resolved to what the root passes for it, so the
 * assertions compare against the root's resources. Variants that only need the templates
 * synthesize with bundling skipped (`aws:cdk:bundling-stacks: []`), which takes a few seconds.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { type App, CfnElement, type CfnResource, NestedStack, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AccountPrincipal, ArnPrincipal } from 'aws-cdk-lib/aws-iam';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import type { Construct, IConstruct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FeatureModule } from '#functions/feature-module.ts';
import { features, routeList, workers } from '#functions/features.ts';
import { manifestDefine } from '#functions/system/route-manifest.ts';
import type { WorkerDef } from '#functions/workers.ts';
import { buildApp } from '#infra/app.ts';
import { powertoolsLayerParameter } from '#infra/constructs/api-function.ts';
import {
  BUNDLE,
  handlerEntry,
  POWERTOOLS_FROM_LAYER,
  PROJECT_ROOT,
  powertoolsLayerVersion,
} from '#infra/constructs/bundling.ts';
import { grantBucket, grantQueue } from '#infra/constructs/grants.ts';
import { defineFor } from '#infra/feature-stack.ts';
import { FALLBACK_HANDLER, type RootStack } from '#infra/root-stack.ts';
import { buckets } from '#shared/bucket-catalog.ts';
import { TABLE } from '#shared/db/table-definition.ts';
import { CORS } from '#shared/http/cors.ts';
import { fullPath, routeGrants } from '#shared/http/route.ts';
import { queues } from '#shared/queue-catalog.ts';
import { bundleAll } from './rebundle.ts';

/** Bundling every function (about 80) with esbuild, on a loaded 2-core machine beside the other test files. */
const SYNTH_TIMEOUT_MS = 420_000;
/** Per template (CloudFormation's limit is 500 per stack). */
const MAX_RESOURCES = 400;
/** Routes of the HTTP API, over all templates (API Gateway's default quota is 300). */
const MAX_ROUTES = 240;
/** Acknowledged cdk-nag findings must be one of these (each carries its reason where it is made). */
const ALLOWED_ACKNOWLEDGMENTS = [
  /^AwsSolutions-APIG4$/,
  /^AwsSolutions-SMG4$/,
  /^AwsSolutions-IAM5\[Resource::\*\]$/,
  // Object-level grants of a bucket of the catalog: its ARN (root logical id or the nested parameter) + `/*`.
  /^AwsSolutions-IAM5\[Resource::<(PronaFlowIntegrations|referencetoPronaFlowIntegrations)?[A-Za-z]+Bucket[0-9A-F]{8}(\.Arn|Arn)>\/\*\]$/,
  // The access-log bucket itself is not logged.
  /^AwsSolutions-S1$/,
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

/** Synthesizes; returns the root template, or the validation error (cdk-nag findings fail synth). */
function synth(app: App, stack: RootStack) {
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

/** The template of every stack of the app: the root and each feature's nested stack. */
function templatesOf(assembly: CloudAssembly, root: RootStack): Map<Stack, Template> {
  const out = new Map<Stack, Template>([
    [root, Template.fromJSON(assembly.getStackByName(root.stackName).template as Record<string, unknown>)],
  ]);
  for (const nested of root.featureStacks.values()) {
    const json = JSON.parse(readFileSync(join(assembly.directory, nested.templateFile), 'utf8'));
    out.set(nested, Template.fromJSON(json as Record<string, unknown>));
  }
  return out;
}

/** Logical id of a construct's resource in its own stack (root or nested). */
/** JSON with every object's keys sorted (the same content, whatever the order it was built in). */
function sortedJson(value: unknown): string {
  const sort = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(sort)
      : v && typeof v === 'object'
        ? Object.fromEntries(
            Object.keys(v as object)
              .sort()
              .map((k) => [k, sort((v as Record<string, unknown>)[k])]),
          )
        : v;
  return JSON.stringify(sort(value));
}

function logicalId(construct: IConstruct): string {
  const cfn = (CfnElement.isCfnElement(construct) ? construct : construct.node.defaultChild) as CfnElement;
  return Stack.of(cfn).getLogicalId(cfn);
}

/**
 * A value of a nested template as the root sees it: a `{ Ref }` to a parameter of the nested stack
 * becomes the expression the root passes for it (`{ Ref: rootId }`, `{ 'Fn::GetAtt': … }`).
 */
function fromRoot(root: Template, stack: Stack, value: unknown): unknown {
  if (!NestedStack.isNestedStack(stack)) return value;
  const ref = (value as { Ref?: string } | undefined)?.Ref;
  if (typeof ref !== 'string') return value;
  const resource = stack.nestedStackResource as CfnResource;
  const id = Stack.of(resource).getLogicalId(resource);
  const params = (root.toJSON().Resources[id].Properties.Parameters ?? {}) as Record<string, unknown>;
  return ref in params ? params[ref] : value;
}

function actionsOf(s: Statement): string[] {
  return Array.isArray(s.Action) ? s.Action : [s.Action];
}

describe('RootStack and feature stacks (bundled synth)', () => {
  let app: App;
  let stack: RootStack;
  let assembly: CloudAssembly | undefined;
  let template: Template;
  let synthError: Error | undefined;
  let resources: Record<string, Resource>;
  /** Root and nested templates. */
  let templates: Map<Stack, Template>;
  /** The resource of a construct, from its own stack's template. */
  const res = (c: { node: { defaultChild?: unknown } }): Resource => {
    const cfn = c.node.defaultChild as CfnElement;
    return templates.get(Stack.of(cfn))!.toJSON().Resources[Stack.of(cfn).getLogicalId(cfn)] as Resource;
  };
  /** The staged code asset of a function: `<hash>.zip` is the directory `asset.<hash>` of the assembly. */
  const assetDirOf = (fn: IConstruct): string => {
    const s3Key = String((res(fn).Properties.Code as { S3Key: string }).S3Key);
    return join(assembly!.directory, `asset.${s3Key.replace(/\.zip$/, '')}`);
  };
  /** The project files a function's bundle holds (its source map's `sources`), e.g. `functions/tokens/routes.ts`. */
  const bundleSources = (fn: IConstruct): string[] => {
    const dir = assetDirOf(fn);
    const map = JSON.parse(readFileSync(join(dir, 'index.mjs.map'), 'utf8')) as { sources: string[] };
    return map.sources.map((s) => relative(PROJECT_ROOT, resolve(dir, s)).replaceAll('\\', '/'));
  };
  /** Every resource of every template, keyed `<stack path>/<logical id>`. */
  const allResources = (type?: string): [Stack, string, Resource][] =>
    [...templates].flatMap(([st, t]) =>
      (Object.entries(t.toJSON().Resources) as [string, Resource][])
        .filter(([, r]) => !type || r.Type === type)
        .map(([id, r]) => [st, id, r] as [Stack, string, Resource]),
    );

  beforeAll(() => {
    const started = performance.now();
    ({ app, stack } = buildApp({ outdir: outdir() }));
    const out = synth(app, stack);
    synthError = out.error;
    assembly = out.assembly;
    if (out.template) template = out.template;
    resources = (out.template?.toJSON().Resources ?? {}) as Record<string, Resource>;
    templates = assembly ? templatesOf(assembly, stack) : new Map();
    console.log(
      `synth with esbuild bundling of ${allResources('AWS::Lambda::Function').length} functions in ${templates.size} templates and cdk-nag: ${Math.round(performance.now() - started)} ms`,
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
    // One line per finding and reason (every route of every feature carries APIG4): where, how often.
    const byFinding = new Map<string, string[]>();
    for (const a of acknowledged) {
      const key = `${a.id}\n    ${a.reason}`;
      byFinding.set(key, [...(byFinding.get(key) ?? []), a.path]);
    }
    console.log(
      'acknowledged cdk-nag findings:\n' +
        [...byFinding]
          .map(([key, paths]) => `  ${key}\n    ${paths.length}x, e.g. ${paths.slice(0, 2).join(', ')}`)
          .join('\n'),
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

  it('keeps every template under the resource bound and the API under the route bound', () => {
    const lines: string[] = [];
    for (const [st, t] of templates) {
      const rs = Object.values(t.toJSON().Resources) as Resource[];
      const routes = rs.filter((r) => r.Type === 'AWS::ApiGatewayV2::Route').length;
      const fns = rs.filter((r) => r.Type === 'AWS::Lambda::Function').length;
      lines.push(
        `  ${st.node.path.padEnd(40)} ${String(rs.length).padStart(4)} resources, ${fns} functions, ${routes} routes`,
      );
      expect(rs.length, st.node.path).toBeLessThanOrEqual(MAX_RESOURCES);
    }
    const routes = allResources('AWS::ApiGatewayV2::Route').length;
    console.log(
      `resources per template (bound ${MAX_RESOURCES}, CloudFormation limit 500):\n${lines.join('\n')}\n` +
        `  HTTP API routes: ${routes} (bound ${MAX_ROUTES})`,
    );
    expect(routes).toBeLessThanOrEqual(MAX_ROUTES);
  });

  it('has one nested stack per feature, fed by parameters: no exports, no Fn::ImportValue', () => {
    expect([...stack.featureStacks.keys()]).toEqual(features.map((f) => f.id));
    template.resourceCountIs('AWS::CloudFormation::Stack', features.length);
    for (const [st, t] of templates) {
      const json = t.toJSON() as { Outputs?: Record<string, { Export?: unknown }> };
      expect(
        Object.values(json.Outputs ?? {}).filter((o) => o.Export),
        st.node.path,
      ).toEqual([]);
      expect(JSON.stringify(json), st.node.path).not.toContain('Fn::ImportValue');
    }
    // The stateful and shared parts stay in the root.
    for (const type of [
      'AWS::DynamoDB::Table',
      'AWS::SecretsManager::Secret',
      'AWS::SQS::Queue',
      // (Alarms live where what they watch lives: DLQs and the API in the root, a feature's
      // functions in its stack; see test/infra/monitoring.test.ts.)
      'AWS::SNS::Topic',
      'AWS::CloudWatch::Dashboard',
      'AWS::ApiGatewayV2::Api',
      'AWS::ApiGatewayV2::Stage',
      'AWS::S3::Bucket',
      'AWS::S3::BucketPolicy',
    ]) {
      expect(
        allResources(type).every(([st]) => st === stack),
        type,
      ).toBe(true);
    }
  });

  it('has exactly one Lambda function per route plus one per worker (and $default, keyring init)', () => {
    expect([...stack.routeFunctions.keys()].sort()).toEqual(routeList.map((r) => r.id).sort());
    expect([...stack.workerFunctions.keys()].sort()).toEqual(workers.map((w) => w.id).sort());
    const key = (fn: Construct) => `${Stack.of(fn).node.path}/${logicalId(fn)}`;
    const expected = [
      ...[...stack.routeFunctions.values()].map(key),
      ...[...stack.workerFunctions.values()].map(key),
      key(stack.fallbackFunction),
      key(stack.keyringInitializer.function),
    ];
    expect(new Set(expected).size).toBe(routeList.length + workers.length + 2);
    expect(
      allResources('AWS::Lambda::Function')
        .map(([st, id]) => `${st.node.path}/${id}`)
        .sort(),
    ).toEqual(expected.sort());
    // Each feature's functions are in the feature's own nested stack.
    for (const f of features) {
      const own = stack.featureStacks.get(f.id)!;
      for (const r of Object.values(f.routes)) expect(Stack.of(stack.routeFunctions.get(r.id)!)).toBe(own);
      for (const w of f.workers ?? []) expect(Stack.of(stack.workerFunctions.get(w.id)!)).toBe(own);
    }
  });

  it('runs every function on nodejs24.x, arm64, traced, with its own log group', () => {
    const serviceFunctions = new Set(
      [...stack.routeFunctions.values(), ...stack.workerFunctions.values(), stack.fallbackFunction].map(
        (fn) => `${Stack.of(fn).node.path}/${logicalId(fn)}`,
      ),
    );
    const fnStacks = allResources('AWS::Lambda::Function');
    expect(fnStacks.length).toBe(routeList.length + workers.length + 2);
    for (const [st, id, fn] of fnStacks) {
      const resources = templates.get(st)!.toJSON().Resources as Record<string, Resource>;
      const p = fn.Properties;
      expect(p.Runtime).toBe('nodejs24.x');
      expect(p.Architectures).toEqual(['arm64']);
      expect(p.Handler).toBe('index.handler');
      expect(p.TracingConfig).toEqual({ Mode: 'Active' });
      // The Powertools layer of the installed release (its ARN from AWS's public SSM parameter).
      expect(p.Layers, id).toContainEqual(
        `{{resolve:ssm:${powertoolsLayerParameter(powertoolsLayerVersion())}}}`,
      );
      expect(p.MemorySize).toBeGreaterThanOrEqual(512);
      expect(p.LoggingConfig).toEqual({ LogGroup: { Ref: expect.any(String) } });
      const logGroup = resources[(p.LoggingConfig as { LogGroup: { Ref: string } }).LogGroup.Ref]!;
      expect(logGroup.Type).toBe('AWS::Logs::LogGroup');
      expect(logGroup.Properties.RetentionInDays).toBe(30);
      const roleId = (p.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
      expect(resources[roleId]?.Type).toBe('AWS::IAM::Role');
      if (!serviceFunctions.has(`${st.node.path}/${id}`)) continue; // the keyring initializer needs no service settings
      const vars = (p.Environment as { Variables: Record<string, unknown> }).Variables;
      const env = Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, fromRoot(template, st, v)]));
      expect(env).toMatchObject({
        NODE_ENV: 'production',
        TABLE_NAME: { Ref: logicalId(stack.table) },
        SECRETS_PREFIX: 'pronaflow-integrations/',
        AUTH_JWKS_URL: expect.stringMatching(/^https:\/\//),
        AUTH_JWT_ISSUER: expect.any(String),
        AUTH_JWT_AUDIENCE: expect.any(String),
        POWERTOOLS_SERVICE_NAME: 'pronaflow-integrations',
        POWERTOOLS_METRICS_NAMESPACE: 'PronaFlowIntegrations/dev',
        LOG_LEVEL: 'INFO',
        ALLOW_LOOPBACK_TARGETS: 'false',
        OAUTH_REDIRECT_URI_BASE: { 'Fn::GetAtt': [logicalId(stack.api), 'ApiEndpoint'] },
      });
    }
  });

  it('bundles each handler as one minified ESM file with the createRequire banner', () => {
    const assetDir = assetDirOf(stack.routeFunctions.get('health')!);
    const code = readFileSync(join(assetDir, 'index.mjs'), 'utf8');
    expect(code.startsWith(BUNDLE.banner)).toBe(true);
    expect(existsSync(join(assetDir, 'index.mjs.map'))).toBe(true);
    // #shared/* aliases were resolved and nothing is left to load from node_modules at run time.
    expect(code).not.toMatch(/from\s*["']#shared\//);
    expect(code).not.toMatch(/from\s*["']@aws-sdk\//);
    // Logger, Metrics and Tracer come from the Powertools layer: imported, not bundled (Tracer
    // with import(), only where tracing is on: shared/tracing.ts).
    for (const pkg of POWERTOOLS_FROM_LAYER) {
      expect(code, pkg).toMatch(new RegExp(`(from\\s*|import\\()["']${pkg}["']`));
    }
    expect(code).not.toContain('aws-xray-sdk');
  });

  it("bundles into each function its own feature's rows only, never the registry", () => {
    const registryModules = /^functions\/(features|routes|workers)\.ts$|^functions\/[^/]+\/feature\.ts$/;
    const rowModules = (sources: string[]) =>
      sources.filter((s) => /^functions\/[^/]+\/routes\.ts$/.test(s)).map((s) => s.split('/')[1]);
    const checked: string[] = [];
    for (const f of features) {
      for (const r of Object.values(f.routes)) {
        const sources = bundleSources(stack.routeFunctions.get(r.id)!);
        expect(
          sources.filter((s) => registryModules.test(s)),
          r.id,
        ).toEqual([]);
        expect(rowModules(sources), r.id).toEqual([f.id]);
        checked.push(r.id);
      }
      for (const w of f.workers ?? []) {
        const sources = bundleSources(stack.workerFunctions.get(w.id)!);
        expect(
          sources.filter((s) => registryModules.test(s)),
          w.id,
        ).toEqual([]);
        expect(rowModules(sources), w.id).toEqual([]);
        checked.push(w.id);
      }
    }
    // The `$default` fallback reads the inlined manifest: no rows at all.
    expect(rowModules(bundleSources(stack.fallbackFunction))).toEqual([]);
    expect(checked).toHaveLength(routeList.length + workers.length);
  });

  it('hands the surface-wide functions the registry at build time: inlined manifest, OpenAPI layer', () => {
    const system = stack.featureStacks.get('system')!;
    const codeOf = (fn: Construct) => readFileSync(join(assetDirOf(fn), 'index.mjs'), 'utf8');
    // Status and fallback carry every route's path (the manifest), not a row module.
    const plugin = routeList.find((r) => r.id === 'uninstallPlugin')!;
    for (const fn of [stack.routeFunctions.get('status')!, stack.fallbackFunction]) {
      expect(codeOf(fn)).toContain(JSON.stringify(plugin.path));
      expect(bundleSources(fn)).toContain('functions/system/route-manifest.ts');
    }
    // The OpenAPI function reads /opt/openapi.json from the System stack's layer, alone.
    const layers = allResources('AWS::Lambda::LayerVersion');
    expect(layers.map(([st]) => st)).toEqual([system]);
    const layerId = layers[0]![1];
    // Every function has the Powertools layer (checked above); the OpenAPI one alone has this one too.
    const withLayer = allResources('AWS::Lambda::Function').filter(([, , r]) =>
      (r.Properties.Layers as unknown[] | undefined)?.some(
        (l) => JSON.stringify(l) === JSON.stringify({ Ref: layerId }),
      ),
    );
    expect(withLayer.map(([, id]) => id)).toEqual([logicalId(stack.routeFunctions.get('openapi')!)]);
    const openApiLayers = withLayer[0]![2].Properties.Layers as unknown[];
    expect(openApiLayers).toHaveLength(2);
    expect(openApiLayers).toEqual(
      expect.arrayContaining([
        `{{resolve:ssm:${powertoolsLayerParameter(powertoolsLayerVersion())}}}`,
        { Ref: layerId },
      ]),
    );
    const layerKey = (layers[0]![2].Properties.Content as { S3Key: string }).S3Key;
    const shipped = JSON.parse(
      readFileSync(
        join(assembly!.directory, `asset.${layerKey.replace(/\.zip$/, '')}`, 'openapi.json'),
        'utf8',
      ),
    ) as { paths: Record<string, Record<string, { operationId: string }>> };
    for (const r of routeList) {
      expect(shipped.paths[fullPath(r)]?.[r.method.toLowerCase()]?.operationId, r.id).toBe(r.id);
    }
    expect(codeOf(stack.routeFunctions.get('openapi')!)).toContain('/opt/openapi.json');
  });

  it('routes every row of the route table to its own function', () => {
    const apiRoutes = allResources('AWS::ApiGatewayV2::Route');
    // One per row, plus `$default` for everything else.
    expect(apiRoutes).toHaveLength(routeList.length + 1);
    const apiId = { Ref: logicalId(stack.api) };
    const expectRoute = (key: string, fn: Construct) => {
      const st = Stack.of(fn);
      const t = templates.get(st)!;
      const entry = apiRoutes.find(([, , r]) => r.Properties.RouteKey === key);
      expect(entry, key).toBeDefined();
      // The route, its integration and the invoke permission are in the function's stack.
      expect(entry![0], key).toBe(st);
      expect(fromRoot(template, st, entry![2].Properties.ApiId), key).toEqual(apiId);
      const target = entry![2].Properties.Target as { 'Fn::Join': [string, unknown[]] };
      const integrationRef = (target['Fn::Join'][1][1] as { Ref: string }).Ref;
      const integration = t.toJSON().Resources[integrationRef] as Resource;
      expect(integration.Properties, key).toMatchObject({
        IntegrationType: 'AWS_PROXY',
        PayloadFormatVersion: '2.0',
        IntegrationUri: { 'Fn::GetAtt': [logicalId(fn), 'Arn'] },
      });
      expect(fromRoot(template, st, integration.Properties.ApiId), key).toEqual(apiId);
      const permissions = Object.values(t.findResources('AWS::Lambda::Permission')).filter(
        (p) =>
          JSON.stringify(p.Properties.FunctionName) ===
          JSON.stringify({ 'Fn::GetAtt': [logicalId(fn), 'Arn'] }),
      );
      expect(
        permissions.map((p) => p.Properties.Principal),
        key,
      ).toEqual(['apigateway.amazonaws.com']);
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
      const q = resources[logicalId(queue)]!;
      const d = resources[logicalId(dlq)]!;
      expect(q.Properties.RedrivePolicy).toEqual({
        deadLetterTargetArn: { 'Fn::GetAtt': [logicalId(dlq), 'Arn'] },
        maxReceiveCount: def.maxReceiveCount,
      });
      expect(q.Properties.SqsManagedSseEnabled).toBe(true);
      expect(d.Properties.SqsManagedSseEnabled).toBe(true);
      expect(d.Properties.MessageRetentionPeriod).toBe(def.dlqRetentionDays * 86_400);
      for (const id of [logicalId(queue), logicalId(dlq)]) {
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
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalId(dlq), 'QueueName'] } }],
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
      });
    }
    // Every queue in the template is one of the table's queues or their DLQs.
    template.resourceCountIs('AWS::SQS::Queue', Object.keys(queues).length * 2);
    // One per DLQ, plus the API 5xx rate and the webhook delivery failure rate.
    template.resourceCountIs('AWS::CloudWatch::Alarm', Object.keys(queues).length + 2);
  });

  it('consumes each worker queue with partial batch failures and a long enough visibility timeout', () => {
    const mappings = allResources('AWS::Lambda::EventSourceMapping');
    const queueWorkers = workers.filter((w) => 'queue' in w.trigger);
    expect(mappings).toHaveLength(queueWorkers.length);
    for (const worker of queueWorkers) {
      const trigger = worker.trigger as Extract<WorkerDef['trigger'], { queue: string }>;
      const fn = stack.workerFunctions.get(worker.id)!;
      const fnId = logicalId(fn);
      const queueId = logicalId(stack.queues[trigger.queue].queue);
      const mapping = mappings.find(
        ([st, , m]) => st === Stack.of(fn) && (m.Properties.FunctionName as { Ref: string }).Ref === fnId,
      );
      expect(mapping, worker.id).toBeDefined();
      const [st, , m] = mapping!;
      expect(m.Properties).toMatchObject({
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        BatchSize: trigger.batchSize,
        ...(trigger.maxBatchingWindowSeconds === undefined
          ? {}
          : { MaximumBatchingWindowInSeconds: trigger.maxBatchingWindowSeconds }),
        ...(trigger.maxConcurrency === undefined
          ? {}
          : { ScalingConfig: { MaximumConcurrency: trigger.maxConcurrency } }),
      });
      if (trigger.maxConcurrency === undefined) expect(m.Properties.ScalingConfig, worker.id).toBeUndefined();
      expect(fromRoot(template, st, m.Properties.EventSourceArn)).toEqual({ 'Fn::GetAtt': [queueId, 'Arn'] });
      const fnTimeout = res(fn).Properties.Timeout as number;
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
            Projection:
              i.projection === 'ALL'
                ? { ProjectionType: 'ALL' }
                : { ProjectionType: 'INCLUDE', NonKeyAttributes: [...i.nonKeyAttributes] },
          }),
        ),
      }),
    });
  });

  it('creates each bucket private, SSE-S3 encrypted, TLS-only, versioned, logged, with its lifecycle rules', () => {
    // The catalog's buckets and the bucket of their access logs.
    template.resourceCountIs('AWS::S3::Bucket', Object.keys(buckets).length + 1);
    const logsId = logicalId(stack.accessLogsBucket);
    const privateAndEncrypted = {
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
    };
    for (const id of [...Object.values(stack.buckets).map(logicalId), logsId]) {
      expect(resources[id], id).toMatchObject({
        DeletionPolicy: 'Retain',
        Properties: privateAndEncrypted,
      });
      template.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: { Ref: id },
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Deny',
              Action: 's3:*',
              Principal: { AWS: '*' },
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            }),
          ]),
        },
      });
    }
    for (const def of Object.values(buckets)) {
      const b = resources[logicalId(stack.buckets[def.id])]!.Properties;
      expect(b.VersioningConfiguration).toEqual({ Status: 'Enabled' });
      expect(b.LoggingConfiguration).toEqual({
        DestinationBucketName: { Ref: logsId },
        LogFilePrefix: `${def.id}/`,
      });
      expect((b.LifecycleConfiguration as { Rules: unknown[] }).Rules).toEqual([
        {
          Id: 'AbortUploadsExpireOldVersions',
          Status: 'Enabled',
          AbortIncompleteMultipartUpload: { DaysAfterInitiation: def.abortIncompleteMultipartUploadDays },
          NoncurrentVersionExpiration: { NoncurrentDays: def.noncurrentVersionExpiryDays },
          ExpiredObjectDeleteMarker: true,
        },
        {
          Id: 'ExpireStaging',
          Status: 'Enabled',
          Prefix: def.stagingPrefix,
          ExpirationInDays: def.stagingExpiryDays,
          NoncurrentVersionExpiration: { NoncurrentDays: def.stagingExpiryDays },
        },
      ]);
      // Browsers POST presigned uploads straight to the bucket, from the API's CORS origins.
      expect(b.CorsConfiguration).toEqual({
        CorsRules: [
          { AllowedMethods: ['POST'], AllowedOrigins: ['*'], ExposedHeaders: ['ETag'], MaxAge: 3600 },
        ],
      });
    }
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(outputs.PackagesBucketName!.Value).toEqual({ Ref: logicalId(stack.buckets.packages) });
  });

  it('creates the keys secret under SECRETS_PREFIX and fills it with a keyring at deploy time', () => {
    const secretId = logicalId(stack.keysSecret);
    template.hasResource('AWS::SecretsManager::Secret', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({ Name: 'pronaflow-integrations/keys' }),
    });
    const initializerId = logicalId(stack.keyringInitializer.function);
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
    expect(allResources('AWS::IAM::Role').length).toBeGreaterThan(features.length);
    for (const [, , role] of allResources('AWS::IAM::Role')) {
      expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    }
    for (const [, , policy] of allResources('AWS::IAM::Policy')) {
      const statements = (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement;
      for (const s of statements) {
        expect(actionsOf(s).filter((a) => a.includes('*'))).toEqual([]);
        if (s.Resource === '*') expect(actionsOf(s).every((a) => a.startsWith('xray:'))).toBe(true);
      }
    }
  });

  it('denies every role that may write the table any change or removal of an audit entry', () => {
    let writers = 0;
    for (const [, , policy] of allResources('AWS::IAM::Policy')) {
      const statements = (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement;
      const writes = statements.some(
        (s) => s.Effect !== 'Deny' && actionsOf(s).includes('dynamodb:UpdateItem'),
      );
      if (!writes) continue;
      writers++;
      const deny = statements.find(
        (s) => s.Effect === 'Deny' && actionsOf(s).includes('dynamodb:UpdateItem'),
      );
      expect(deny, 'a table writer without the audit deny').toBeDefined();
      expect(actionsOf(deny!).sort()).toEqual([
        'dynamodb:BatchWriteItem',
        'dynamodb:DeleteItem',
        'dynamodb:UpdateItem',
      ]);
      expect((deny as { Condition?: unknown }).Condition).toEqual({
        'ForAnyValue:StringLike': { 'dynamodb:LeadingKeys': ['AUDIT#*'] },
      });
    }
    expect(writers).toBeGreaterThan(features.length);
  });

  it('binds queue URLs and permissions to exactly the functions holding the grant', () => {
    const rows = [
      { fn: stack.fallbackFunction, grants: [] },
      ...routeList.map((r) => ({ fn: stack.routeFunctions.get(r.id)!, grants: routeGrants(r) })),
      ...workers.map((w) => ({ fn: stack.workerFunctions.get(w.id)!, grants: w.grants })),
    ];
    for (const { fn, grants } of rows) {
      const vars = (res(fn).Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      const env = Object.fromEntries(
        Object.entries(vars).map(([k, v]) => [k, fromRoot(template, Stack.of(fn), v)]),
      );
      for (const def of Object.values(queues)) {
        const granted = grants.some((g) => grantQueue(g) === def.id);
        expect(env[def.urlEnv], `${fn.node.path} ${def.urlEnv}`).toEqual(
          granted ? { Ref: logicalId(stack.queues[def.id].queue) } : undefined,
        );
      }
      for (const def of Object.values(buckets)) {
        const granted = grants.some((g) => grantBucket(g) === def.id);
        expect(env[def.nameEnv], `${fn.node.path} ${def.nameEnv}`).toEqual(
          granted ? { Ref: logicalId(stack.buckets[def.id]) } : undefined,
        );
      }
      const parks = grants.includes('queue:deliveries-dlq:send');
      expect(env.DELIVERY_DLQ_URL, `${fn.node.path} DELIVERY_DLQ_URL`).toEqual(
        parks ? { Ref: logicalId(stack.queues.deliveries.dlq) } : undefined,
      );
    }
  });

  it('lets only the status view read the DLQ depths: GetQueueAttributes on every DLQ, with DLQ_URLS', () => {
    const rows = [
      ...routeList.map((r) => ({ id: r.id, fn: stack.routeFunctions.get(r.id)!, grants: routeGrants(r) })),
      ...workers.map((w) => ({ id: w.id, fn: stack.workerFunctions.get(w.id)!, grants: w.grants })),
    ];
    const holders = rows.filter((r) => r.grants.includes('queue:dlqs:read-attributes'));
    expect(holders.map((r) => r.id)).toEqual(['workspaceStatus']);
    for (const { id, fn, grants } of rows) {
      const vars = (res(fn).Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      const holds = grants.includes('queue:dlqs:read-attributes');
      expect(vars.DLQ_URLS === undefined, `${id} DLQ_URLS`).toBe(!holds);
      if (!holds) continue;
      // `<id>=<url>` pairs, a URL (a parameter of the nested stack) per queue of the catalog.
      const setting = JSON.stringify(vars.DLQ_URLS);
      for (const q of Object.keys(queues)) expect(setting, id).toContain(`${q}=`);
      const roleId = (res(fn).Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
      const statements = Object.values(
        templates.get(Stack.of(fn))!.toJSON().Resources as Record<string, Resource>,
      )
        .filter(
          (r) =>
            r.Type === 'AWS::IAM::Policy' &&
            JSON.stringify(r.Properties.Roles) === JSON.stringify([{ Ref: roleId }]),
        )
        .flatMap((r) => (r.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
      const reads = statements.filter((st) => actionsOf(st).includes('sqs:GetQueueAttributes'));
      // Only GetQueueAttributes, on each DLQ's ARN (no receive, no purge, no main queue but the usage queue it sends to).
      const dlqRead = reads.find((st) => actionsOf(st).length === 1);
      expect(dlqRead, id).toBeDefined();
      const resourcesOf = (st: Statement) => (Array.isArray(st.Resource) ? st.Resource : [st.Resource]);
      const arns = resourcesOf(dlqRead!).map((r) => JSON.stringify(fromRoot(template, Stack.of(fn), r)));
      expect(arns.sort()).toEqual(
        Object.keys(queues)
          .map((q) =>
            JSON.stringify({ 'Fn::GetAtt': [logicalId(stack.queues[q as keyof typeof queues].dlq), 'Arn'] }),
          )
          .sort(),
      );
    }
  });

  it('runs the reconciler of lost jobs every 5 minutes, allowed to send to the deliveries queue', () => {
    const fn = stack.workerFunctions.get('reconcileJobs')!;
    const fnId = logicalId(fn);
    templates.get(Stack.of(fn))!.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(5 minutes)',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [fnId, 'Arn'] } })],
    });
    const env = (res(fn).Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(fromRoot(template, Stack.of(fn), env.DELIVERY_QUEUE_URL)).toEqual({
      Ref: logicalId(stack.queues.deliveries.queue),
    });
  });

  it('runs each afterDeploy worker through a custom resource its own function serves, again on a code change', () => {
    const after = workers.filter((w) => 'afterDeploy' in w.trigger);
    expect(after.map((w) => w.id)).toContain('seedPluginCatalog');
    for (const w of after) {
      const fn = stack.workerFunctions.get(w.id)!;
      const code = (res(fn).Properties.Code as { S3Key: string }).S3Key;
      templates.get(Stack.of(fn))!.hasResourceProperties('Custom::AfterDeploy', {
        ServiceToken: { 'Fn::GetAtt': [logicalId(fn), 'Arn'] },
        Worker: w.id,
        Code: code,
      });
      // No provider function: every function of the stack is a route's or a worker's.
      expect(code).toMatch(/^[0-9a-f]{64}\.zip$/);
    }
  });

  it('feeds every parameter of a feature stack from a root resource', () => {
    const rootIds = new Set(Object.keys(resources));
    for (const nested of stack.featureStacks.values()) {
      const declared = Object.keys(templates.get(nested)!.toJSON().Parameters ?? {});
      const resource = nested.nestedStackResource as CfnResource;
      const passed = (resources[logicalId(resource)]!.Properties.Parameters ?? {}) as Record<string, unknown>;
      expect(Object.keys(passed).sort(), nested.node.path).toEqual(declared.sort());
      for (const [name, value] of Object.entries(passed)) {
        // `{ Ref: id }` or `{ 'Fn::GetAtt': [id, attr] }` of a root resource: a plain identifier.
        const v = value as { Ref?: string; 'Fn::GetAtt'?: [string, string] };
        const target = v.Ref ?? v['Fn::GetAtt']?.[0];
        expect(rootIds.has(target ?? ''), `${nested.node.path} ${name}: ${JSON.stringify(value)}`).toBe(true);
      }
    }
  });

  it('shares execution roles per feature instead of one per function', () => {
    const roles = allResources('AWS::IAM::Role').length;
    // Roles are per stack: one per (tag, grant set) in each feature stack, one per worker.
    const groups = new Set(routeList.map((r) => `${r.tag}|${routeGrants(r).join(',')}`));
    // + the root's two: the `$default` route's function and the keyring initializer
    expect(roles).toBe(groups.size + workers.length + 2);
  });

  /**
   * Asset isolation, measured: one summary of one API-token route is edited (in memory, never in
   * the tree), every function is bundled again with the stack's own esbuild settings, and each
   * bundle is compared byte for byte with the asset this synth staged (the asset hash is the hash
   * of exactly these files). Then two template-only synths, with and without the edit, show which
   * templates change.
   */
  describe('a one-row edit in one feature', () => {
    const EDITED_ROW = 'listScopes';
    const OLD = 'The scope catalog';
    const NEW = 'The scope catalog, edited';
    const ROUTES_FILE = join(PROJECT_ROOT, 'functions/tokens/routes.ts');

    it("changes the assets of that feature's route functions only", async () => {
      const started = performance.now();
      const source = readFileSync(ROUTES_FILE, 'utf8');
      expect(source.split(`summary: '${OLD}',`)).toHaveLength(2); // the row's summary, once
      const manifest = { routeManifestDefine: manifestDefine(routeList) };
      const jobs = [
        ...features.flatMap((f) => [
          ...Object.values(f.routes).map((r) => ({
            fn: stack.routeFunctions.get(r.id)!,
            feature: f,
            handler: r.handler,
          })),
          ...(f.workers ?? []).map((w) => ({
            fn: stack.workerFunctions.get(w.id)!,
            feature: f,
            handler: w.handler,
          })),
        ]),
      ].map(({ fn, feature, handler }) => ({
        key: logicalId(fn),
        entry: handlerEntry(handler),
        define: defineFor(feature, handler, manifest),
        fn,
      }));
      jobs.push({
        key: logicalId(stack.fallbackFunction),
        entry: handlerEntry(FALLBACK_HANDLER),
        define: manifest.routeManifestDefine,
        fn: stack.fallbackFunction,
      });
      const rebuilt = await bundleAll(jobs, assembly!.directory, {
        file: ROUTES_FILE,
        contents: source.replace(`summary: '${OLD}',`, `summary: '${NEW}',`),
      });
      const changed: string[] = [];
      for (const job of jobs) {
        const dir = assetDirOf(job.fn);
        const staged = {
          code: readFileSync(join(dir, 'index.mjs'), 'utf8'),
          map: readFileSync(join(dir, 'index.mjs.map'), 'utf8'),
        };
        const after = rebuilt.get(job.key)!;
        if (after.code === staged.code && after.map === staged.map) continue;
        changed.push(job.fn.node.path);
        // What changed is the edit and nothing else (the map shifts with the longer string).
        expect(after.code.replaceAll(NEW, OLD), job.key).toBe(staged.code);
      }
      const tokensRoutes = Object.values(features.find((f) => f.id === 'tokens')!.routes).map(
        (r) => stack.routeFunctions.get(r.id)!.node.path,
      );
      console.log(
        `one-row edit (${EDITED_ROW}.summary): ${changed.length} of ${jobs.length} function assets change ` +
          `(${Math.round(performance.now() - started)} ms):\n  ${changed.join('\n  ')}`,
      );
      expect(changed.sort()).toEqual(tokensRoutes.sort());
    }, 120_000);

    it('changes the templates of that feature (its function) and of System (the OpenAPI layer) only', () => {
      const edited: FeatureModule[] = features.map((f) =>
        f.id !== 'tokens'
          ? f
          : { ...f, routes: { ...f.routes, [EDITED_ROW]: { ...f.routes[EDITED_ROW]!, summary: NEW } } },
      );
      const templatesFor = (registry: readonly FeatureModule[]) => {
        const built = buildApp({
          outdir: outdir(),
          context: { 'aws:cdk:bundling-stacks': [] },
          stackProps: { features: registry },
        });
        const { assembly: asm } = synth(built.app, built.stack);
        const byPath = new Map(
          [...templatesOf(asm!, built.stack)].map(([st, t]) => [st.node.path, t.toJSON()] as const),
        );
        // Two synths in one process number their tokens on from each other, and the IAM policy
        // minimizer sorts merged resources by token text: a nested stack's parameters may come in
        // another order (the same parameters, the same values), which changes the nested
        // template's text and so its TemplateURL. Compare what the templates say, not their
        // order: keys sorted, and a nested stack's TemplateURL replaced by its template, sorted.
        const nestedPath = new Map(
          [...built.stack.featureStacks.values()].map((fs) => [
            logicalId(fs.nestedStackResource!),
            fs.node.path,
          ]),
        );
        const out = new Map<string, unknown>();
        for (const [path, t] of byPath) {
          const resources = (
            t as { Resources: Record<string, { Type?: string; Properties?: Record<string, unknown> }> }
          ).Resources;
          const normalized = Object.fromEntries(
            Object.entries(resources).map(([id, r]) => {
              const nested = r.Type === 'AWS::CloudFormation::Stack' ? nestedPath.get(id) : undefined;
              const body = nested
                ? { ...r, Properties: { ...r.Properties, TemplateURL: sortedJson(byPath.get(nested)) } }
                : r;
              return [id, JSON.parse(sortedJson(body))];
            }),
          );
          out.set(path, { ...(t as object), Resources: normalized });
        }
        return out;
      };
      const before = templatesFor(features);
      const after = templatesFor(edited);
      const changedResources = (a: unknown, b: unknown) => {
        const ra = (a as { Resources: Record<string, unknown> }).Resources;
        const rb = (b as { Resources: Record<string, unknown> }).Resources;
        return Object.keys({ ...ra, ...rb }).filter(
          (id) => JSON.stringify(ra[id]) !== JSON.stringify(rb[id]),
        );
      };
      const diff: Record<string, string[]> = {};
      for (const [path, t] of before) {
        const ids = changedResources(t, after.get(path));
        if (ids.length) diff[path] = ids;
      }
      console.log('one-row edit, changed resources per template:', diff);
      const tokensStack = stack.featureStacks.get('tokens')!;
      const systemStack = stack.featureStacks.get('system')!;
      expect(diff).toEqual({
        // The root only points the two nested stacks at their new templates.
        [stack.node.path]: [
          logicalId(systemStack.nestedStackResource!),
          logicalId(tokensStack.nestedStackResource!),
        ].sort(),
        // The row's function (its description carries the summary)…
        [tokensStack.node.path]: [logicalId(stack.routeFunctions.get(EDITED_ROW)!)],
        // …and the document's layer; the OpenAPI function itself is unchanged.
        [systemStack.node.path]: [logicalId(systemStack.openApiLayer!)],
      });
    });
  });
});

describe('RootStack and feature stacks (template-only variants)', () => {
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
    const { assembly } = synth(app, stack);
    const templates = templatesOf(assembly!, stack);
    const envOf = (fn: Construct) =>
      (
        templates.get(Stack.of(fn))!.toJSON().Resources[logicalId(fn)].Properties.Environment as {
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
      Queues: [{ Ref: logicalId(stack.queues.ingest.queue) }],
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

  it("grants bucket reads and writes on that bucket's objects only, and keeps cdk-nag clean", () => {
    const worker: WorkerDef = {
      id: 'checkPackages',
      handler: 'workers/ingest-events',
      description: 'test-only worker using the packages bucket',
      trigger: { schedule: 'rate(1 hour)' },
      timeoutSeconds: 60,
      grants: ['bucket:packages:read', 'bucket:packages:write'],
    };
    const withBuckets: FeatureModule[] = features.map((f) =>
      f.id === features[0]!.id ? { ...f, workers: [...(f.workers ?? []), worker] } : f,
    );
    const { app, stack } = buildApp({
      outdir: outdir(),
      context: noBundling,
      stackProps: { features: withBuckets },
    });
    const { assembly, template: root, error } = synth(app, stack);
    expect(error?.message).toBeUndefined();
    const fn = stack.workerFunctions.get('checkPackages')!;
    const all = templatesOf(assembly!, stack);
    const nested = all.get(Stack.of(fn))!;
    const bucketId = logicalId(stack.buckets.packages);
    const arn = { 'Fn::GetAtt': [bucketId, 'Arn'] };
    const resolve = (v: unknown): unknown => {
      // `{ 'Fn::Join': ['', [{ Ref: param }, '/*']] }` → the same with the root's value for the parameter.
      const join = (v as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
      if (join) return { 'Fn::Join': [join[0], join[1].map(resolve)] };
      return fromRoot(root!, Stack.of(fn), v);
    };
    const roleId = (nested.toJSON().Resources[logicalId(fn)].Properties.Role as { 'Fn::GetAtt': [string] })[
      'Fn::GetAtt'
    ][0];
    const policies = Object.values(nested.findResources('AWS::IAM::Policy')).filter((p) =>
      JSON.stringify(p.Properties.Roles).includes(roleId),
    );
    // (action, resource) pairs: CDK merges statements with equal resources.
    const pairs = policies
      .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement)
      .filter((st) => actionsOf(st).some((a) => a.startsWith('s3:')))
      .flatMap((st) => actionsOf(st).map((a) => `${a} ${JSON.stringify(resolve(st.Resource))}`))
      .sort();
    const objects = JSON.stringify({ 'Fn::Join': ['', [arn, '/*']] });
    expect(pairs).toEqual(
      [
        `s3:DeleteObject ${objects}`,
        `s3:GetObject ${objects}`,
        `s3:GetObjectVersion ${objects}`,
        // 404 (not 403) for a missing key: on the bucket ARN, no action on its configuration.
        `s3:ListBucket ${JSON.stringify(arn)}`,
        `s3:PutObject ${objects}`,
      ].sort(),
    );
    // No version deletion, no bucket configuration, no other bucket.
    expect(JSON.stringify(policies)).not.toMatch(
      /s3:DeleteObjectVersion|s3:PutBucket|s3:\*|AccessLogsBucket/,
    );
    // The name comes with the grant; functions without a bucket grant get neither.
    const envOf = (f: Construct) =>
      (
        all.get(Stack.of(f))!.toJSON().Resources[logicalId(f)].Properties.Environment as {
          Variables: Record<string, unknown>;
        }
      ).Variables;
    expect(fromRoot(root!, Stack.of(fn), envOf(fn).PACKAGES_BUCKET_NAME)).toEqual({ Ref: bucketId });
    for (const r of withBuckets.flatMap((f) => Object.values(f.routes))) {
      const granted = routeGrants(r).some((g) => grantBucket(g) === 'packages');
      const value = envOf(stack.routeFunctions.get(r.id)!).PACKAGES_BUCKET_NAME;
      expect(value === undefined, r.id).toBe(!granted);
    }
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
    // A feature with the extra worker (features are the unit the stacks are built from).
    const withScheduled: FeatureModule[] = features.map((f) =>
      f.id === 'oauth' ? { ...f, workers: [...(f.workers ?? []), scheduled] } : f,
    );
    const { app, stack } = buildApp({
      outdir: outdir(),
      context: noBundling,
      stackProps: { features: withScheduled },
    });
    const { assembly, template: root, error } = synth(app, stack);
    expect(error?.message).toBeUndefined();
    const fn = stack.workerFunctions.get('purgeExpired')!;
    expect(Stack.of(fn)).toBe(stack.featureStacks.get('oauth'));
    const template = templatesOf(assembly!, stack).get(Stack.of(fn));
    const fnId = logicalId(fn);
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
            Resource: { Ref: Match.stringLikeRegexp('^referencetoPronaFlowIntegrationsKeysSecret') },
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
    // …and that parameter is the root's keys secret.
    const policy = Object.values(template!.findResources('AWS::IAM::Policy')).find((p) =>
      JSON.stringify(p).includes('DescribeSecret'),
    )!;
    const statement = (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement.find((st) =>
      JSON.stringify(st.Action).includes('DescribeSecret'),
    )!;
    expect(fromRoot(root!, Stack.of(fn), statement.Resource)).toEqual({
      Ref: logicalId(stack.keysSecret),
    });
  });
});
