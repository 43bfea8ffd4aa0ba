/**
 * Monitoring and deploy props, on template-only synths (bundling skipped; cdk-nag still runs):
 * the alarm topic and every alarm pointing at it and at the right metrics, the dashboard, the
 * stack props taking effect, and bad props failing synth with a message naming the prop.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type App, CfnElement, type CfnResource, NestedStack, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import type { IConstruct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { features, workers } from '#functions/features.ts';
import { buildApp } from '#infra/app.ts';
import { PROJECT_ROOT } from '#infra/constructs/bundling.ts';
import {
  LOG_METRICS,
  MAX_METRICS_PER_ALARM,
  PENDING_ALARMS,
  serviceMetric,
  THRESHOLDS,
} from '#infra/constructs/monitoring.ts';
import type { RootStack, RootStackProps } from '#infra/root-stack.ts';
import { routeFeature } from '#shared/http/middleware/request-context.ts';
import { METRICS, type MetricDef } from '#shared/metrics.ts';
import { queues } from '#shared/queue-catalog.ts';

type Resource = { Type: string; Properties: Record<string, unknown> };
type AlarmMetric = {
  Id: string;
  Expression?: string;
  MetricStat?: {
    Metric: { Namespace: string; MetricName: string; Dimensions: { Name: string; Value: unknown }[] };
  };
};

const noBundling = { 'aws:cdk:bundling-stacks': [] };
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function build(stackProps: Partial<RootStackProps> = {}, context: Record<string, unknown> = {}) {
  const outdir = mkdtempSync(join(tmpdir(), 'pronaflow-mon-'));
  dirs.push(outdir);
  return buildApp({ outdir, context: { ...noBundling, ...context }, stackProps });
}

/**
 * Evaluates a CloudWatch metric-math expression of IF, FILL, arithmetic and comparisons for one
 * period, an input without a datapoint being `undefined`: as in CloudWatch, arithmetic on a
 * missing value is missing (NaN here) and FILL(m, v) gives v instead. NaN means no datapoint.
 */
function evaluateMath(expression: string, values: Record<string, number | undefined>): number {
  const js = expression
    .replace(/\bIF\(/g, '__if(')
    .replace(/\bFILL\(/g, '__fill(')
    .replace(/\b([a-z][A-Za-z0-9_]*)\b(?!\()/g, (id) => `__v(${JSON.stringify(id)})`);
  expect(js, 'only IF, FILL, ids, numbers and operators').toMatch(/^[\s\w().,+\-*/<>=!"]*$/);
  const v = (id: string) => values[id] ?? Number.NaN;
  const fill = (x: number, d: number) => (Number.isNaN(x) ? d : x);
  const cond = (c: boolean | number, a: number, b: number) =>
    Number.isNaN(Number(c)) ? Number.NaN : c ? a : b;
  return new Function('__v', '__fill', '__if', `return (${js});`)(v, fill, cond) as number;
}

function synth(app: App, root: RootStack) {
  const assembly: CloudAssembly = app.synth();
  const templates = new Map<Stack, Template>([
    [root, Template.fromJSON(assembly.getStackByName(root.stackName).template as Record<string, unknown>)],
  ]);
  for (const nested of root.featureStacks.values()) {
    templates.set(
      nested,
      Template.fromJSON(JSON.parse(readFileSync(join(assembly.directory, nested.templateFile), 'utf8'))),
    );
  }
  return { assembly, templates, template: templates.get(root)! };
}

function logicalId(construct: IConstruct): string {
  const cfn = (CfnElement.isCfnElement(construct) ? construct : construct.node.defaultChild) as CfnElement;
  return Stack.of(cfn).getLogicalId(cfn);
}

/** A nested template's `{ Ref: parameter }` as the root passes it. */
function fromRoot(root: Template, stack: Stack, value: unknown): unknown {
  if (!NestedStack.isNestedStack(stack)) return value;
  const ref = (value as { Ref?: string } | undefined)?.Ref;
  if (typeof ref !== 'string') return value;
  const resource = stack.nestedStackResource as CfnResource;
  const params = (root.toJSON().Resources[Stack.of(resource).getLogicalId(resource)].Properties.Parameters ??
    {}) as Record<string, unknown>;
  return ref in params ? params[ref] : value;
}

const resourcesOf = (t: Template, type: string) =>
  Object.entries(t.toJSON().Resources as Record<string, Resource>).filter(([, r]) => r.Type === type);

describe('monitoring: alarms, topic, dashboard (default props)', () => {
  let stack: RootStack;
  let templates: Map<Stack, Template>;
  let template: Template;
  let topicRef: unknown;

  beforeAll(() => {
    const built = build();
    stack = built.stack;
    ({ templates, template } = synth(built.app, stack));
    topicRef = { Ref: logicalId(stack.alarmTopic.topic as unknown as IConstruct) };
  }, 120_000);

  it('creates one alarm topic, KMS-encrypted with a rotated key CloudWatch may use, TLS-only', () => {
    template.resourceCountIs('AWS::SNS::Topic', 1);
    template.hasResourceProperties('AWS::SNS::Topic', {
      TopicName: 'pronaflow-integrations-dev-alarms',
      KmsMasterKeyId: Match.anyValue(),
    });
    template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: 'sns:Publish',
          }),
        ]),
      },
    });
    template.resourceCountIs('AWS::SNS::Subscription', 0);
  });

  it('sends every alarm of every template to the alarm topic, named after the stage', () => {
    let count = 0;
    for (const [st, t] of templates) {
      for (const [id, alarm] of resourcesOf(t, 'AWS::CloudWatch::Alarm')) {
        count++;
        const actions = (alarm.Properties.AlarmActions as unknown[]).map((a) => fromRoot(template, st, a));
        expect(actions, `${st.node.path}/${id}`).toEqual([topicRef]);
        expect(alarm.Properties.AlarmName, id).toMatch(/^pronaflow-integrations-dev-/);
        expect(alarm.Properties.TreatMissingData, id).toBe('notBreaching');
      }
    }
    console.log(`alarms over all templates: ${count}`);
    expect(count).toBeGreaterThan(Object.keys(queues).length + 2 * features.length);
  });

  it('alarms on each DLQ not empty', () => {
    for (const def of Object.values(queues)) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: `pronaflow-integrations-dev-${def.id}-dlq-not-empty`,
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [
          { Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalId(stack.queues[def.id].dlq), 'QueueName'] } },
        ],
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
      });
    }
  });

  it("alarms on the API's 5xx rate: 5xx / Count of the HTTP API, above a minimum volume", () => {
    const alarm = resourcesOf(template, 'AWS::CloudWatch::Alarm').find(
      ([, a]) => a.Properties.AlarmName === 'pronaflow-integrations-dev-api-5xx-rate',
    )![1];
    const metrics = alarm.Properties.Metrics as AlarmMetric[];
    expect(metrics.find((m) => m.Expression)!.Expression).toMatch(
      /^IF\(requests >= \d+, 100 \* errors \/ requests, 0\)$/,
    );
    const byId = Object.fromEntries(
      metrics.filter((m) => m.MetricStat).map((m) => [m.Id, m.MetricStat!.Metric]),
    );
    const apiDim = [{ Name: 'ApiId', Value: { Ref: logicalId(stack.api) } }];
    expect(byId.requests).toEqual({ Namespace: 'AWS/ApiGateway', MetricName: 'Count', Dimensions: apiDim });
    expect(byId.errors).toEqual({ Namespace: 'AWS/ApiGateway', MetricName: '5xx', Dimensions: apiDim });
  });

  it("alarms on the webhook delivery failure rate from the delivery worker's EMF metrics: exhausted / ended", () => {
    const alarm = resourcesOf(template, 'AWS::CloudWatch::Alarm').find(
      ([, a]) => a.Properties.AlarmName === 'pronaflow-integrations-dev-webhook-delivery-failure-rate',
    )![1];
    const metrics = alarm.Properties.Metrics as AlarmMetric[];
    const expression = metrics.find((m) => m.Expression)!.Expression!;
    const min = THRESHOLDS.minDeliveriesEnded;
    // EMF metrics are sparse: at 100 % failure there is no `succeeded` datapoint at all.
    expect(evaluateMath(expression, { exhausted: 2 * min })).toBe(100);
    expect(evaluateMath(expression, { succeeded: 2 * min })).toBe(0);
    expect(evaluateMath(expression, { succeeded: min, exhausted: min })).toBe(50);
    expect(evaluateMath(expression, { exhausted: min - 1 })).toBe(0); // below the minimum volume
    expect(evaluateMath(expression, { succeeded: min - 1 })).toBe(0);
    const byId = Object.fromEntries(
      metrics.filter((m) => m.MetricStat).map((m) => [m.Id, m.MetricStat!.Metric]),
    );
    const service = [{ Name: 'service', Value: 'pronaflow-integrations' }];
    expect(byId.exhausted).toEqual({
      Namespace: 'PronaFlowIntegrations/dev',
      MetricName: 'WebhookDeliveryExhausted',
      Dimensions: service,
    });
    expect(byId.succeeded).toEqual({
      Namespace: 'PronaFlowIntegrations/dev',
      MetricName: 'WebhookDeliverySucceeded',
      Dimensions: service,
    });
  });

  it("points every alarm and graph on the service's namespace at a metric the code publishes, under a dimension set it writes", () => {
    const published = new Map<string, string[][]>();
    for (const [name, def] of Object.entries(METRICS) as [string, MetricDef][]) {
      // A pending metric's call is still to be added: nothing publishes it yet.
      if (def.pending) continue;
      // Each metric goes out under service + every prefix of its dimensions (shared/metrics.ts).
      published.set(
        name,
        Array.from({ length: def.dimensions.length + 1 }, (_, n) =>
          ['service', ...def.dimensions.slice(0, n)].sort(),
        ),
      );
    }
    for (const l of LOG_METRICS) published.set(l.metricName, [[]]);
    const seen: string[] = [];
    // Alarms: MetricStat entries.
    for (const t of templates.values()) {
      for (const [id, a] of resourcesOf(t, 'AWS::CloudWatch::Alarm')) {
        for (const m of (a.Properties.Metrics as AlarmMetric[] | undefined) ?? []) {
          const metric = m.MetricStat?.Metric;
          if (metric?.Namespace !== 'PronaFlowIntegrations/dev') continue;
          const dims = (metric.Dimensions ?? []).map((d) => d.Name).sort();
          expect(published.get(metric.MetricName), `${id}: ${metric.MetricName}`).toContainEqual(dims);
          seen.push(metric.MetricName);
        }
      }
    }
    // Dashboard: ["<namespace>", "<name>", dim, value, …, {options}] rows.
    const [, dash] = resourcesOf(template, 'AWS::CloudWatch::Dashboard')[0]!;
    const parts = (dash.Properties.DashboardBody as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1];
    const text = parts.map((p) => (typeof p === 'string' ? p : 'TOKEN')).join('');
    const body = JSON.parse(text) as { widgets: { properties: { metrics?: unknown[][] } }[] };
    for (const w of body.widgets) {
      for (const row of w.properties.metrics ?? []) {
        if (row[0] !== 'PronaFlowIntegrations/dev') continue;
        const name = row[1] as string;
        const dims = (row.slice(2).filter((x, i) => typeof x === 'string' && i % 2 === 0) as string[]).sort();
        expect(published.get(name), `dashboard: ${name} [${dims.join(', ')}]`).toContainEqual(dims);
        seen.push(name);
      }
    }
    for (const name of [
      'WebhookDeliveryExhausted',
      'WebhookDeliveryLatency',
      'Requests',
      'Http5xx',
      'RateLimited',
      'DlqMoves',
      'OAuthRefreshFailed',
      'SyncRecordsRead',
      'PluginInstalls',
    ]) {
      expect(seen, name).toContain(name);
    }
    // Per worker, the dashboard searches the namespace (worker names are the code's).
    expect(text).toContain('SEARCH(');
    expect(text).toContain('MetricName=\\"QueueRecordsFailed\\"');
  });

  it('groups the HTTP metrics by feature as the code names it: every route handler lives in its feature folder', () => {
    for (const f of features) {
      for (const r of Object.values(f.routes)) expect(routeFeature(r), r.id).toBe(f.id);
    }
  });

  it('fails synth on a dashboard or alarm metric under dimensions the code never writes', () => {
    expect(() => serviceMetric('dev', 'Requests', { route: 'x' })).toThrow(
      /published under \[service, feature, route\]/,
    );
    expect(() => serviceMetric('dev', 'Requests', { feature: 'tokens', route: 'createToken' })).not.toThrow();
  });

  it('fails synth on a metric still marked pending (its call not added yet), the mark removed from a metric lets it through', () => {
    const def = METRICS.WebhookDeliverySucceeded as MetricDef;
    def.pending = 'a stage still to emit it';
    try {
      expect(() => serviceMetric('dev', 'WebhookDeliverySucceeded')).toThrow(
        /not emitted yet \(pending: a stage/,
      );
    } finally {
      delete def.pending;
    }
    expect(() => serviceMetric('dev', 'WebhookDeliverySucceeded')).not.toThrow();
  });

  it("alarms on Lambda errors and throttles per feature: SUMs over exactly the feature's functions", () => {
    for (const f of features) {
      const fs = stack.featureStacks.get(f.id)!;
      const t = templates.get(fs)!;
      const fnIds = [...fs.routeFunctions.values(), ...fs.workerFunctions.values()].map(logicalId).sort();
      for (const signal of ['Errors', 'Throttles']) {
        const alarms = resourcesOf(t, 'AWS::CloudWatch::Alarm').filter(([, a]) =>
          String(a.Properties.AlarmName).startsWith(
            `pronaflow-integrations-dev-${f.id}-lambda-${signal.toLowerCase()}`,
          ),
        );
        expect(alarms.length, `${f.id} ${signal}`).toBe(Math.ceil(fnIds.length / MAX_METRICS_PER_ALARM));
        const watched: string[] = [];
        for (const [, a] of alarms) {
          const metrics = a.Properties.Metrics as AlarmMetric[];
          const stats = metrics.filter((m) => m.MetricStat);
          expect(stats.length).toBeLessThanOrEqual(MAX_METRICS_PER_ALARM);
          expect(metrics.find((m) => m.Expression)!.Expression).toBe(
            `SUM([${stats.map((m) => m.Id).join(',')}])`,
          );
          for (const m of stats) {
            expect(m.MetricStat!.Metric).toMatchObject({ Namespace: 'AWS/Lambda', MetricName: signal });
            watched.push((m.MetricStat!.Metric.Dimensions[0]!.Value as { Ref: string }).Ref);
          }
        }
        expect(watched.sort(), `${f.id} ${signal}`).toEqual(fnIds);
      }
    }
  });

  it("alarms on OAuth refresh failures from the refresh worker's own 'done' log line", () => {
    const fn = stack.workerFunctions.get('refreshOAuthConnections')!;
    const t = templates.get(Stack.of(fn))!;
    t.hasResourceProperties('AWS::Logs::MetricFilter', {
      LogGroupName: { Ref: logicalId(fn.functionLogGroup) },
      FilterPattern: '{ $.message = "oauth scheduled refresh done" }',
      MetricTransformations: [
        {
          MetricNamespace: 'PronaFlowIntegrations/dev',
          MetricName: 'OAuthRefreshFailures',
          MetricValue: '$.failed',
        },
      ],
    });
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'pronaflow-integrations-dev-oauth-refresh-failures',
      Namespace: 'PronaFlowIntegrations/dev',
      MetricName: 'OAuthRefreshFailures',
      Statistic: 'Sum',
      Period: 900,
    });
  });

  it('matches the log lines the code writes, verbatim, in the workers that write them', () => {
    for (const def of LOG_METRICS) {
      expect(
        workers.map((w) => w.id),
        def.worker,
      ).toContain(def.worker);
      const source = readFileSync(join(PROJECT_ROOT, def.source), 'utf8');
      expect(source, `${def.source} logs '${def.message}'`).toContain(`'${def.message}'`);
    }
    // The refresh worker logs refreshDueConnections' stats object: the fields the filters read.
    const refresh = readFileSync(join(PROJECT_ROOT, 'shared/oauth/refresh.ts'), 'utf8');
    const stats = /const stats = \{([^}]*)\}/.exec(refresh)?.[1] ?? '';
    for (const def of LOG_METRICS.filter((d) => d.worker === 'refreshOAuthConnections' && d.valueField)) {
      expect(stats, def.valueField).toMatch(new RegExp(`\\b${def.valueField}:`));
    }
  });

  it('keeps the sync-failures extension point open only while bindings has no worker', () => {
    for (const pending of PENDING_ALARMS) {
      const f = features.find((x) => x.id === pending.feature)!;
      expect(f.workers ?? [], `${pending.id}: ${pending.waitsFor}`).toEqual([]);
    }
  });

  it('builds one dashboard: API, queues and DLQs, and a row per feature naming each of its functions', () => {
    const dashboards = resourcesOf(template, 'AWS::CloudWatch::Dashboard');
    expect(dashboards).toHaveLength(1);
    const [, dash] = dashboards[0]!;
    expect(dash.Properties.DashboardName).toBe('pronaflow-integrations-dev');
    const body = JSON.stringify(dash.Properties.DashboardBody);
    for (const s of [
      'AWS/ApiGateway',
      '\\"4xx\\"',
      '\\"5xx\\"',
      '\\"Latency\\"',
      'ApproximateAgeOfOldestMessage',
    ]) {
      expect(body, s).toContain(s);
    }
    for (const def of Object.values(queues)) {
      for (const q of [stack.queues[def.id].queue, stack.queues[def.id].dlq]) {
        expect(body).toContain(JSON.stringify({ 'Fn::GetAtt': [logicalId(q), 'QueueName'] }));
      }
    }
    for (const f of features) {
      const fs = stack.featureStacks.get(f.id)!;
      const fns = [...fs.routeFunctions.values(), ...fs.workerFunctions.values()];
      if (!fns.length) continue;
      expect(body, f.id).toContain(`## ${f.name}`);
      // Each function's name comes up from its stack as an output, and the dashboard reads it.
      const outputs = (templates.get(fs)!.toJSON().Outputs ?? {}) as Record<string, { Value: unknown }>;
      const nestedId = logicalId(fs.nestedStackResource!);
      for (const fn of fns) {
        const out = Object.entries(outputs).find(
          ([, o]) => JSON.stringify(o.Value) === JSON.stringify({ Ref: logicalId(fn) }),
        );
        expect(out, fn.node.path).toBeDefined();
        expect(body, fn.node.path).toContain(
          JSON.stringify({ 'Fn::GetAtt': [nestedId, `Outputs.${out![0]}`] }),
        );
      }
      for (const p of ['p50', 'p99']) expect(body).toContain(`${f.name}: duration ${p}`);
    }
  });

  it('creates no custom domain unless one is given', () => {
    template.resourceCountIs('AWS::ApiGatewayV2::DomainName', 0);
    template.resourceCountIs('AWS::ApiGatewayV2::ApiMapping', 0);
  });
});

describe('deploy props', () => {
  it('take effect: stage in names and tags, subscribers, log retention on every log group, custom domain', () => {
    const { app, stack } = build({
      stage: 'staging',
      logRetentionDays: 90,
      alarmSubscribers: {
        emails: ['oncall@example.com'],
        httpsEndpoints: ['https://hooks.example.com/alarms'],
      },
      customDomain: {
        domainName: 'integrations.example.com',
        certificateArn: 'arn:aws:acm:eu-west-1:111122223333:certificate/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0',
      },
    });
    const { templates, template } = synth(app, stack);
    let logGroups = 0;
    for (const [st, t] of templates) {
      for (const [id, lg] of resourcesOf(t, 'AWS::Logs::LogGroup')) {
        logGroups++;
        expect(lg.Properties.RetentionInDays, `${st.node.path}/${id}`).toBe(90);
      }
      for (const [id, a] of resourcesOf(t, 'AWS::CloudWatch::Alarm')) {
        expect(a.Properties.AlarmName, id).toMatch(/^pronaflow-integrations-staging-/);
      }
    }
    expect(logGroups).toBeGreaterThan(features.length);
    template.hasResourceProperties('AWS::SNS::Topic', { TopicName: 'pronaflow-integrations-staging-alarms' });
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'oncall@example.com',
    });
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'https',
      Endpoint: 'https://hooks.example.com/alarms',
    });
    template.hasResourceProperties('AWS::CloudWatch::Dashboard', {
      DashboardName: 'pronaflow-integrations-staging',
    });
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      Tags: Match.arrayWith([{ Key: 'stage', Value: 'staging' }]),
    });
    template.hasResourceProperties('AWS::ApiGatewayV2::DomainName', {
      DomainName: 'integrations.example.com',
      DomainNameConfigurations: [
        Match.objectLike({
          CertificateArn:
            'arn:aws:acm:eu-west-1:111122223333:certificate/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0',
          EndpointType: 'REGIONAL',
          SecurityPolicy: 'TLS_1_2',
        }),
      ],
    });
    template.hasResourceProperties('AWS::ApiGatewayV2::ApiMapping', {
      ApiId: { Ref: logicalId(stack.api) },
      DomainName: { Ref: logicalId(stack.domainName!) },
      Stage: '$default',
    });
    expect(Object.keys(template.toJSON().Outputs)).toEqual(
      expect.arrayContaining([
        'CustomDomainTarget',
        'CustomDomainHostedZoneId',
        'AlarmTopicArn',
        'DashboardName',
      ]),
    );
    // OAuth redirect URIs move under the custom domain.
    const fn = stack.routeFunctions.get('createConnection')!;
    const env = (
      templates.get(Stack.of(fn))!.toJSON().Resources[logicalId(fn)].Properties.Environment as {
        Variables: Record<string, unknown>;
      }
    ).Variables;
    expect(env.OAUTH_REDIRECT_URI_BASE).toBe('https://integrations.example.com');
    expect(env.POWERTOOLS_METRICS_NAMESPACE).toBe('PronaFlowIntegrations/staging');
  });

  it('reads them from cdk.json context keys', () => {
    const { app, stack } = build(
      {},
      {
        stage: 'prod',
        logRetentionDays: '365',
        alarmEmails: 'a@example.com, b@example.com',
        customDomainName: 'api.example.com',
        customDomainCertificateArn: 'arn:aws:acm:us-east-1:111122223333:certificate/abc-123',
        eventSourcePrincipalArns: 'arn:aws:iam::111122223333:role/pronaflow-events',
      },
    );
    const { template } = synth(app, stack);
    template.resourceCountIs('AWS::SNS::Subscription', 2);
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: logicalId(stack.queues.ingest.queue) }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Principal: { AWS: 'arn:aws:iam::111122223333:role/pronaflow-events' } }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 365 });
    template.hasResourceProperties('AWS::ApiGatewayV2::DomainName', { DomainName: 'api.example.com' });
    template.hasResourceProperties('AWS::SNS::Topic', { TopicName: 'pronaflow-integrations-prod-alarms' });
  });

  it('notifies an existing topic instead of creating one', () => {
    const arn = 'arn:aws:sns:eu-west-1:111122223333:oncall';
    const { app, stack } = build({ alarmSubscribers: { topicArn: arn } });
    const { templates, template } = synth(app, stack);
    template.resourceCountIs('AWS::SNS::Topic', 0);
    template.resourceCountIs('AWS::KMS::Key', 0);
    for (const [st, t] of templates) {
      for (const [id, a] of resourcesOf(t, 'AWS::CloudWatch::Alarm')) {
        expect(
          (a.Properties.AlarmActions as unknown[]).map((x) => fromRoot(template, st, x)),
          id,
        ).toEqual([arn]);
      }
    }
  });

  it.each([
    [{ stage: 'Prod!' }, {}, /stage \(context "stage"\) must be 1 to 16 lowercase/],
    [{ logRetentionDays: 45 }, {}, /logRetentionDays .* must be one of CloudWatch Logs' values .*got 45/],
    [{}, { logRetentionDays: 'a month' }, /logRetentionDays .* whole number of days/],
    [
      { alarmSubscribers: { emails: ['oncall'] } },
      {},
      /alarmSubscribers.emails .*not an e-mail address: "oncall"/,
    ],
    [
      { alarmSubscribers: { httpsEndpoints: ['http://hooks.example.com'] } },
      {},
      /alarmSubscribers.httpsEndpoints .*not an https URL/,
    ],
    [{ alarmSubscribers: { topicArn: 'oncall' } }, {}, /alarmSubscribers.topicArn .*not an SNS topic ARN/],
    [
      {
        alarmSubscribers: {
          topicArn: 'arn:aws:sns:eu-west-1:111122223333:oncall',
          emails: ['a@example.com'],
        },
      },
      {},
      /either topicArn .* or emails\/httpsEndpoints/,
    ],
    [
      {
        customDomain: {
          domainName: 'https://api.example.com',
          certificateArn: 'arn:aws:acm:eu-west-1:111122223333:certificate/abc',
        },
      },
      {},
      /customDomain.domainName .* host name/,
    ],
    [
      { customDomain: { domainName: 'api.example.com', certificateArn: 'my-cert' } },
      {},
      /customDomain.certificateArn .* ACM certificate ARN/,
    ],
    [
      {},
      { customDomainName: 'api.example.com' },
      /customDomainName and customDomainCertificateArn go together/,
    ],
    [
      {},
      { eventSourcePrincipalArns: 'arn:aws:iam::111122223333:role/ok,pronaflow-events' },
      /eventSourcePrincipalArns .*not an IAM account, role or user ARN: "pronaflow-events"/,
    ],
  ] as [Partial<RootStackProps>, Record<string, unknown>, RegExp][])(
    'fails synth with a clear message on a bad prop (%j %j)',
    (props, context, message) => {
      expect(() => build(props, context)).toThrow(message);
    },
  );
});
