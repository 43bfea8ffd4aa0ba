/**
 * Monitoring of the service: the alarm topic, the alarms (in the stack that owns what they watch)
 * and the dashboard of golden signals; plus the deploy-time props they read (stage, subscribers,
 * log retention, custom domain), validated here so a bad value fails `cdk synth` with a message
 * naming the prop and the context key.
 *
 * Where things live:
 * - root stack: the SNS topic (KMS-encrypted with a key CloudWatch may use, TLS-only), the DLQ
 *   alarms (QueueWithDlq), the API's 5xx rate, the webhook delivery failure rate (from the
 *   service's EMF metrics, shared/metrics.ts), the dashboard;
 * - each feature's nested stack: its Lambda errors and throttles (metric math SUM over its
 *   functions, at most {@link MAX_METRICS_PER_ALARM} per alarm, CloudWatch's limit for a math
 *   alarm) and the alarms of log-derived metrics of its workers ({@link LOG_METRICS}), acting on
 *   the topic whose ARN it gets as a parameter.
 */
import { Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { METRICS, type MetricDef, type MetricName, SERVICE_DIMENSION } from '#shared/metrics.ts';

/** The service's name in resource names, metric namespaces and tags. */
export const SERVICE_NAME = 'pronaflow-integrations';

// ── Props and their validation ──────────────────────────────────────────────────────────────

/** Who hears the alarms. Either a topic of yours, or e-mail / HTTPS subscribers of the stack's own topic. */
export interface AlarmSubscribers {
  /** E-mail addresses subscribed to the stack's alarm topic (each confirms by e-mail). */
  emails?: string[];
  /** HTTPS endpoints subscribed to the stack's alarm topic (each confirms the subscription). */
  httpsEndpoints?: string[];
  /**
   * An existing SNS topic (e.g. the on-call's): alarms act on it and the stack creates no topic.
   * Its key policy (if encrypted) and topic policy must let `cloudwatch.amazonaws.com` publish.
   * Not combinable with `emails`/`httpsEndpoints` (subscribe those to your topic).
   */
  topicArn?: string;
}

/** API Gateway custom domain of the HTTP API. */
export interface CustomDomain {
  /** e.g. `integrations.pronaflow.com` */
  domainName: string;
  /** ACM certificate ARN covering `domainName`, in the stack's region (regional endpoint). */
  certificateArn: string;
}

/** The retention values CloudWatch Logs accepts (days). */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;
export const DEFAULT_LOG_RETENTION_DAYS = 30;
export const DEFAULT_STAGE = 'dev';

const STAGE = /^[a-z][a-z0-9-]{0,15}$/;
const EMAIL = /^[^\s@,]+@[^\s@,]+\.[^\s@,]+$/;
const TOPIC_ARN = /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/;
const CERT_ARN = /^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[A-Za-z0-9-]+$/;
const HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;

/** Fails synth on a stage name that cannot go into resource names. */
export function checkStage(stage: string): void {
  if (!STAGE.test(stage)) {
    throw new Error(
      `stage (context "stage") must be 1 to 16 lowercase letters, digits or dashes, starting with a letter; got ${JSON.stringify(stage)}`,
    );
  }
}

/** Fails synth on subscribers CloudWatch/SNS would refuse, or on a topic ARN given with subscribers. */
export function checkAlarmSubscribers(s: AlarmSubscribers): void {
  for (const e of s.emails ?? []) {
    if (!EMAIL.test(e))
      throw new Error(
        `alarmSubscribers.emails (context "alarmEmails"): not an e-mail address: ${JSON.stringify(e)}`,
      );
  }
  for (const u of s.httpsEndpoints ?? []) {
    let ok = false;
    try {
      ok = new URL(u).protocol === 'https:';
    } catch {
      ok = false;
    }
    if (!ok)
      throw new Error(
        `alarmSubscribers.httpsEndpoints (context "alarmHttpsEndpoints"): not an https URL: ${JSON.stringify(u)}`,
      );
  }
  if (s.topicArn !== undefined) {
    if (!Token.isUnresolved(s.topicArn) && !TOPIC_ARN.test(s.topicArn)) {
      throw new Error(
        `alarmSubscribers.topicArn (context "alarmTopicArn"): not an SNS topic ARN: ${JSON.stringify(s.topicArn)}`,
      );
    }
    if (s.emails?.length || s.httpsEndpoints?.length) {
      throw new Error(
        'alarmSubscribers: give either topicArn (your own topic) or emails/httpsEndpoints (subscribers of the ' +
          "stack's topic), not both; subscribe the addresses to your topic instead",
      );
    }
  }
}

/** Fails synth on a retention CloudWatch Logs does not offer. */
export function checkLogRetention(days: number): void {
  if (!(LOG_RETENTION_DAYS as readonly number[]).includes(days)) {
    throw new Error(
      `logRetentionDays (context "logRetentionDays") must be one of CloudWatch Logs' values (${LOG_RETENTION_DAYS.join(', ')}); got ${days}`,
    );
  }
}

/** Fails synth on a custom domain without a usable name or certificate. */
export function checkCustomDomain(d: CustomDomain): void {
  if (!Token.isUnresolved(d.domainName) && !HOSTNAME.test(d.domainName)) {
    throw new Error(
      `customDomain.domainName (context "customDomainName") must be a lowercase host name such as api.example.com; got ${JSON.stringify(d.domainName)}`,
    );
  }
  if (!Token.isUnresolved(d.certificateArn) && !CERT_ARN.test(d.certificateArn)) {
    throw new Error(
      `customDomain.certificateArn (context "customDomainCertificateArn") must be an ACM certificate ARN; got ${JSON.stringify(d.certificateArn)}`,
    );
  }
}

/** Prefix of alarm, topic and dashboard names: `pronaflow-integrations-<stage>`. */
export const namePrefix = (stage: string) => `${SERVICE_NAME}-${stage}`;
/** Namespace of the service's own metrics (log metric filters; POWERTOOLS_METRICS_NAMESPACE). */
export const metricsNamespace = (stage: string) => `PronaFlowIntegrations/${stage}`;

/**
 * One of the service's own EMF metrics (the catalogue in shared/metrics.ts), under `service` and
 * `dims`, which must be a prefix of the metric's catalogued dimensions in their order: exactly the
 * dimension sets the code publishes. Anything else fails synth, and so does a metric still marked
 * `pending` (its call not added yet): an alarm on a metric that is never written would stay silent
 * for ever.
 */
export function serviceMetric(
  stage: string,
  name: MetricName,
  dims: Record<string, string> = {},
  options: cloudwatch.MetricOptions = {},
): cloudwatch.Metric {
  const def: MetricDef | undefined = METRICS[name];
  if (!def) throw new Error(`${String(name)} is not a metric of shared/metrics.ts`);
  if (def.pending) {
    throw new Error(
      `${name} is not emitted yet (pending: ${def.pending}): an alarm or graph on it would never get a datapoint`,
    );
  }
  const keys = Object.keys(dims);
  const catalogued: readonly string[] = def.dimensions;
  if (keys.some((k, i) => catalogued[i] !== k)) {
    throw new Error(
      `${name} is published under [${SERVICE_DIMENSION}${catalogued.map((d) => `, ${d}`).join('')}] and its prefixes, not [${[SERVICE_DIMENSION, ...keys].join(', ')}]`,
    );
  }
  return new cloudwatch.Metric({
    namespace: metricsNamespace(stage),
    metricName: name,
    dimensionsMap: { [SERVICE_DIMENSION]: SERVICE_NAME, ...dims },
    period: THRESHOLDS.period,
    statistic: 'Sum',
    ...options,
  });
}

// ── Alarm thresholds (one place) ────────────────────────────────────────────────────────────

export const THRESHOLDS = {
  /** Period of every alarm. */
  period: Duration.minutes(5),
  /** Lambda Errors (uncaught exceptions, timeouts; not 4xx/5xx answers) of a feature in a period. */
  lambdaErrors: 1,
  /** Lambda Throttles of a feature in a period. */
  lambdaThrottles: 1,
  /** API 5xx answers, percent of requests, in 2 of 3 periods, with at least `minRequests` requests. */
  api5xxPercent: 5,
  minRequests: 20,
  /** Webhook deliveries that ended without success (FAILED or EXPIRED), percent of deliveries that ended, 2 of 3 periods. */
  deliveryFailurePercent: 10,
  minDeliveriesEnded: 20,
  /** Failed scheduled OAuth refreshes in 15 minutes (three runs of the 5-minute schedule). */
  oauthRefreshFailures: 5,
  /** Sync runs that ended FAILED in 15 minutes (dead connections, refused tokens, gone resources, withdrawn consent). */
  syncFailures: 3,
} as const;

/** CloudWatch's limit of metrics in one metric-math alarm. */
export const MAX_METRICS_PER_ALARM = 10;

// ── Log-derived metrics ─────────────────────────────────────────────────────────────────────

/**
 * A metric derived from a structured JSON log line a worker already writes (the code emits no
 * EMF metrics yet): a metric filter on that worker's log group matches `$.message` exactly and
 * takes `valueField`'s number (or 1 per line). A test checks every `message` is written, verbatim,
 * by the worker's code, and every `valueField` is a field of that line.
 */
export interface LogMetricDef {
  /** Worker id (functions/<feature>/feature.ts): whose log group the filter reads. */
  worker: string;
  metricName: string;
  /** The line's `message`, exactly as the code logs it. */
  message: string;
  /** Field of the line holding the value; absent: 1 per line. */
  valueField?: string;
  /** The code that writes the line (for the test and the reader). */
  source: string;
  /** An alarm when the metric's sum over `periodMinutes` reaches `threshold`. */
  alarm?: { name: string; description: string; threshold: number; periodMinutes: number };
}

export const LOG_METRICS: readonly LogMetricDef[] = [
  {
    // functions/workers/refresh-oauth-connections.ts: `logger.info('oauth scheduled refresh done', stats)`
    // with stats = { due, refreshed, failed, skipped } (shared/oauth/refresh.ts refreshDueConnections).
    worker: 'refreshOAuthConnections',
    metricName: 'OAuthRefreshFailures',
    message: 'oauth scheduled refresh done',
    valueField: 'failed',
    source: 'functions/workers/refresh-oauth-connections.ts',
    alarm: {
      name: 'oauth-refresh-failures',
      description:
        'Scheduled OAuth refreshes failed (provider refusals, dead grants, configuration or key errors): ' +
        'connections go ERROR/EXPIRED. Look for "oauth refresh failed" lines in the refresh worker log group.',
      threshold: THRESHOLDS.oauthRefreshFailures,
      periodMinutes: 15,
    },
  },
  {
    worker: 'refreshOAuthConnections',
    metricName: 'OAuthRefreshesDue',
    message: 'oauth scheduled refresh done',
    valueField: 'due',
    source: 'functions/workers/refresh-oauth-connections.ts',
  },
  {
    // shared/bindings/runs.ts finishRun(): `logger.info('sync run finished', { …, failed, records_in,
    // records_out })`, written by the sync worker at the end of each run.
    worker: 'syncRuns',
    metricName: 'SyncRunsFailed',
    message: 'sync run finished',
    valueField: 'failed',
    source: 'shared/bindings/runs.ts',
    alarm: {
      name: 'sync-failures',
      description:
        'Sync runs of data sync bindings ended FAILED (the run and sync.failed webhook say why: a refused or expired ' +
        'connection, a resource gone at the provider, consent withdrawn). Look for "sync run finished" lines with ' +
        'failed = 1 in the sync worker log group.',
      threshold: THRESHOLDS.syncFailures,
      periodMinutes: 15,
    },
  },
  {
    worker: 'syncRuns',
    metricName: 'SyncRecordsIn',
    message: 'sync run finished',
    valueField: 'records_in',
    source: 'shared/bindings/runs.ts',
  },
  {
    worker: 'syncRuns',
    metricName: 'SyncRecordsOut',
    message: 'sync run finished',
    valueField: 'records_out',
    source: 'shared/bindings/runs.ts',
  },
  {
    // shared/webhooks/delivery-store.ts logDisabled(), called by the delivery worker's follow-up.
    worker: 'deliverWebhooks',
    metricName: 'WebhookEndpointsDisabled',
    message: 'webhook endpoint disabled',
    source: 'shared/webhooks/delivery-store.ts',
  },
];

/**
 * Alarms that are still to be built, each an EXTENSION POINT with what it waits for. A test fails
 * once the feature gets the worker the alarm needs, so the entry is not forgotten.
 */
export const PENDING_ALARMS: readonly { id: string; feature: string; waitsFor: string }[] = [];

// ── The alarm topic (root) ──────────────────────────────────────────────────────────────────

export interface AlarmTopicProps {
  stage: string;
  subscribers: AlarmSubscribers;
}

/**
 * Where every alarm goes: the given topic, or a topic of this stack encrypted with a customer
 * managed KMS key (rotated) whose policy lets CloudWatch encrypt for it (an alarm cannot publish to
 * a topic under the AWS-managed `aws/sns` key), TLS-only, publishable by this account's alarms.
 */
export class AlarmTopic extends Construct {
  readonly topic: sns.ITopic;
  readonly action: cloudwatch.IAlarmAction;

  constructor(scope: Construct, id: string, props: AlarmTopicProps) {
    super(scope, id);
    const { subscribers } = props;
    if (subscribers.topicArn) {
      this.topic = sns.Topic.fromTopicArn(this, 'Topic', subscribers.topicArn);
    } else {
      const account = Stack.of(this).account;
      const key = new kms.Key(this, 'Key', {
        description: `Encrypts the ${namePrefix(props.stage)} alarm topic`,
        enableKeyRotation: true,
        // It encrypts notifications in flight only: nothing to keep once the stack is gone.
        removalPolicy: RemovalPolicy.DESTROY,
      });
      key.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'CloudWatchAlarmsPublish',
          principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
          actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          resources: ['*'],
          conditions: { StringEquals: { 'aws:SourceAccount': account } },
        }),
      );
      const topic = new sns.Topic(this, 'Topic', {
        topicName: `${namePrefix(props.stage)}-alarms`,
        displayName: `PronaFlow integrations (${props.stage}) alarms`,
        masterKey: key,
        enforceSSL: true,
      });
      // enforceSSL writes a topic policy, which replaces SNS's default one: allow our alarms back.
      topic.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'CloudWatchAlarmsPublish',
          principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
          actions: ['sns:Publish'],
          resources: [topic.topicArn],
          conditions: { StringEquals: { 'aws:SourceAccount': account } },
        }),
      );
      for (const e of subscribers.emails ?? []) topic.addSubscription(new subscriptions.EmailSubscription(e));
      for (const u of subscribers.httpsEndpoints ?? [])
        topic.addSubscription(new subscriptions.UrlSubscription(u));
      this.topic = topic;
    }
    this.action = new SnsAction(this.topic);
  }
}

// ── Alarms of a feature (nested stack) ──────────────────────────────────────────────────────

export interface FeatureAlarmsProps {
  stage: string;
  /** Feature id and display name. */
  featureId: string;
  featureName: string;
  /** The feature's functions (routes and workers), in registry order. */
  functions: lambda.IFunction[];
  /** Worker id → its function and log group, for {@link LOG_METRICS}. */
  workers: Map<string, { fn: lambda.IFunction; logGroup: logs.ILogGroup }>;
  /** ARN of the alarm topic (a parameter of the nested stack, or a literal). */
  topicArn: string;
}

/** `items` in runs of at most `size`. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * A feature's alarms: Lambda Errors and Throttles, each a metric-math SUM over the feature's
 * functions (one alarm per ten functions), and the log-derived metrics of its workers with their
 * alarms. All act on the alarm topic.
 */
export class FeatureAlarms extends Construct {
  readonly alarms: cloudwatch.Alarm[] = [];
  /** Metric name → the metric its filter publishes. */
  readonly logMetrics = new Map<string, cloudwatch.Metric>();

  constructor(scope: Construct, id: string, props: FeatureAlarmsProps) {
    super(scope, id);
    const action = new SnsAction(sns.Topic.fromTopicArn(this, 'Topic', props.topicArn));
    const prefix = namePrefix(props.stage);
    const signals = [
      {
        name: 'Errors',
        threshold: THRESHOLDS.lambdaErrors,
        metric: (f: lambda.IFunction) => f.metricErrors(),
      },
      {
        name: 'Throttles',
        threshold: THRESHOLDS.lambdaThrottles,
        metric: (f: lambda.IFunction) => f.metricThrottles(),
      },
    ];
    const groups = chunks(props.functions, MAX_METRICS_PER_ALARM);
    for (const signal of signals) {
      groups.forEach((group, i) => {
        const part =
          groups.length > 1
            ? ` (functions ${i * MAX_METRICS_PER_ALARM + 1}-${i * MAX_METRICS_PER_ALARM + group.length} of ${props.functions.length})`
            : '';
        const suffix = groups.length > 1 ? `-${i + 1}` : '';
        const usingMetrics = Object.fromEntries(
          group.map((f, j) => [
            `m${j}`,
            signal.metric(f).with({ period: THRESHOLDS.period, statistic: 'Sum' }),
          ]),
        );
        const alarm = new cloudwatch.Alarm(this, `Lambda${signal.name}${suffix}`, {
          alarmName: `${prefix}-${props.featureId}-lambda-${signal.name.toLowerCase()}${suffix}`,
          alarmDescription: `Lambda ${signal.name} of the ${props.featureName} feature's functions${part}`,
          metric: new cloudwatch.MathExpression({
            expression: `SUM([${Object.keys(usingMetrics).join(',')}])`,
            usingMetrics,
            period: THRESHOLDS.period,
            label: `${props.featureName} ${signal.name}`,
          }),
          threshold: signal.threshold,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        });
        alarm.addAlarmAction(action);
        this.alarms.push(alarm);
      });
    }

    for (const def of LOG_METRICS) {
      const worker = props.workers.get(def.worker);
      if (!worker) continue;
      const filter = new logs.MetricFilter(this, `${def.metricName}Filter`, {
        logGroup: worker.logGroup,
        metricNamespace: metricsNamespace(props.stage),
        metricName: def.metricName,
        filterPattern: logs.FilterPattern.stringValue('$.message', '=', def.message),
        metricValue: def.valueField ? `$.${def.valueField}` : '1',
      });
      const metric = filter.metric({ period: THRESHOLDS.period, statistic: 'Sum' });
      this.logMetrics.set(def.metricName, metric);
      if (!def.alarm) continue;
      const alarm = new cloudwatch.Alarm(this, `${def.metricName}Alarm`, {
        alarmName: `${prefix}-${def.alarm.name}`,
        alarmDescription: def.alarm.description,
        metric: metric.with({ period: Duration.minutes(def.alarm.periodMinutes) }),
        threshold: def.alarm.threshold,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      alarm.addAlarmAction(action);
      this.alarms.push(alarm);
    }
  }
}

// ── Alarms of the root: API 5xx rate, webhook delivery failure rate ─────────────────────────

export interface ServiceAlarmsProps {
  stage: string;
  action: cloudwatch.IAlarmAction;
  api: {
    metricCount(o?: cloudwatch.MetricOptions): cloudwatch.Metric;
    metricServerError(o?: cloudwatch.MetricOptions): cloudwatch.Metric;
  };
}

/**
 * The root's rate alarms, in percent, silent under a minimum volume (`IF(volume >= min, …, 0)`);
 * inputs from the service's EMF metrics, which have no datapoint in a period nothing was recorded,
 * are read through `FILL(m, 0)` (a rate over a missing input is missing, not 100 %):
 * - API 5xx: `5xx / Count` of the HTTP API (AWS/ApiGateway, by ApiId);
 * - webhook delivery failures: deliveries that ended without success (FAILED or EXPIRED)
 *   (`WebhookDeliveryExhausted`), per delivery that ended (`WebhookDeliverySucceeded` +
 *   `WebhookDeliveryExhausted`), the delivery worker's own EMF metrics (service-wide). This replaces
 *   the SQS approximation (DLQ sends per delivery job deleted, which counted retries and put-backs
 *   as jobs).
 */
export class ServiceAlarms extends Construct {
  readonly api5xxRate: cloudwatch.Alarm;
  readonly deliveryFailureRate: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: ServiceAlarmsProps) {
    super(scope, id);
    const prefix = namePrefix(props.stage);
    const sum = { period: THRESHOLDS.period, statistic: 'Sum' };
    this.api5xxRate = new cloudwatch.Alarm(this, 'Api5xxRate', {
      alarmName: `${prefix}-api-5xx-rate`,
      alarmDescription: `More than ${THRESHOLDS.api5xxPercent}% of API requests answered 5xx (with at least ${THRESHOLDS.minRequests} requests in 5 minutes)`,
      metric: new cloudwatch.MathExpression({
        expression: `IF(requests >= ${THRESHOLDS.minRequests}, 100 * errors / requests, 0)`,
        usingMetrics: { requests: props.api.metricCount(sum), errors: props.api.metricServerError(sum) },
        period: THRESHOLDS.period,
        label: 'API 5xx (%)',
      }),
      threshold: THRESHOLDS.api5xxPercent,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.deliveryFailureRate = new cloudwatch.Alarm(this, 'DeliveryFailureRate', {
      alarmName: `${prefix}-webhook-delivery-failure-rate`,
      alarmDescription:
        `More than ${THRESHOLDS.deliveryFailurePercent}% of the webhook deliveries that ended did so without success ` +
        '(FAILED: retries used up and parked in the deliveries DLQ, a final answer such as 410, the endpoint disabled or deleted; or EXPIRED), with at least ' +
        `${THRESHOLDS.minDeliveriesEnded} deliveries ended in 5 minutes; see the deliveries DLQ and README "DLQ and redrive"`,
      metric: new cloudwatch.MathExpression({
        // EMF metrics are sparse (no value, no datapoint): FILL makes a period without a success
        // count 0, else `succeeded + exhausted` has no datapoint and the alarm is silent at 100 %.
        expression: `IF(FILL(succeeded, 0) + FILL(exhausted, 0) >= ${THRESHOLDS.minDeliveriesEnded}, 100 * FILL(exhausted, 0) / (FILL(succeeded, 0) + FILL(exhausted, 0)), 0)`,
        usingMetrics: {
          succeeded: serviceMetric(props.stage, 'WebhookDeliverySucceeded'),
          exhausted: serviceMetric(props.stage, 'WebhookDeliveryExhausted'),
        },
        period: THRESHOLDS.period,
        label: 'Webhook deliveries ended without success (%)',
      }),
      threshold: THRESHOLDS.deliveryFailurePercent,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    for (const a of [this.api5xxRate, this.deliveryFailureRate]) a.addAlarmAction(props.action);
  }
}

// ── The dashboard (root) ────────────────────────────────────────────────────────────────────

type QueueMetrics = {
  metricApproximateNumberOfMessagesVisible(o?: cloudwatch.MetricOptions): cloudwatch.Metric;
  metricApproximateAgeOfOldestMessage(o?: cloudwatch.MetricOptions): cloudwatch.Metric;
};

export interface ServiceDashboardProps {
  stage: string;
  api: ServiceAlarmsProps['api'] & {
    metricClientError(o?: cloudwatch.MetricOptions): cloudwatch.Metric;
    metricLatency(o?: cloudwatch.MetricOptions): cloudwatch.Metric;
    metricIntegrationLatency(o?: cloudwatch.MetricOptions): cloudwatch.Metric;
  };
  queues: { id: string; queue: QueueMetrics; dlq: QueueMetrics }[];
  features: {
    id: string;
    name: string;
    functions: { label: string; fn: lambda.IFunction }[];
    /** Whether it has routes (its row then shows its requests from the HTTP kit's metrics, by `feature`). */
    routes?: boolean;
  }[];
  /** Log-derived metrics to show (metric name → metric), e.g. OAuth refresh failures. */
  logMetrics: Map<string, cloudwatch.Metric>;
  alarms: cloudwatch.IAlarm[];
}

/**
 * One dashboard, `pronaflow-integrations-<stage>`: the API (requests, 4xx, 5xx, latency p50/p99),
 * the queues (depth and age of the oldest message per queue, DLQ depths), the service's log
 * metrics and root alarms, then a row per feature: invocations, errors and throttles (sums over
 * its functions), and duration p50 and p99 per function. Lambda metrics name functions that live
 * in the feature stacks: CDK passes their names up as nested-stack outputs (no exports).
 */
export class ServiceDashboard extends Construct {
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: ServiceDashboardProps) {
    super(scope, id);
    const period = THRESHOLDS.period;
    const sum = { period, statistic: 'Sum' };
    const d = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: namePrefix(props.stage),
      defaultInterval: Duration.hours(6),
    });
    const { api } = props;
    d.addWidgets(
      new cloudwatch.TextWidget({
        markdown: `# PronaFlow integrations (${props.stage})\nAPI, queues, then one row per feature. Alarms go to the alarm topic.`,
        width: 24,
        height: 2,
      }),
    );
    d.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'API requests, 4xx, 5xx',
        left: [
          api.metricCount({ ...sum, label: 'requests' }),
          api.metricClientError({ ...sum, label: '4xx' }),
          api.metricServerError({ ...sum, label: '5xx' }),
        ],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'API latency (ms)',
        left: [
          api.metricLatency({ period, statistic: 'p50', label: 'latency p50' }),
          api.metricLatency({ period, statistic: 'p99', label: 'latency p99' }),
          api.metricIntegrationLatency({ period, statistic: 'p99', label: 'integration p99' }),
        ],
        width: 8,
      }),
      new cloudwatch.AlarmStatusWidget({ title: 'Alarms (service)', alarms: props.alarms, width: 8 }),
    );
    d.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Queue depth (visible messages)',
        left: props.queues.map((q) =>
          q.queue.metricApproximateNumberOfMessagesVisible({ period, statistic: 'Maximum', label: q.id }),
        ),
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Age of oldest message (s)',
        left: props.queues.map((q) =>
          q.queue.metricApproximateAgeOfOldestMessage({ period, statistic: 'Maximum', label: q.id }),
        ),
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'DLQ depths',
        left: props.queues.map((q) =>
          q.dlq.metricApproximateNumberOfMessagesVisible({
            period,
            statistic: 'Maximum',
            label: `${q.id} DLQ`,
          }),
        ),
        width: 8,
      }),
    );
    if (props.logMetrics.size) {
      d.addWidgets(
        new cloudwatch.GraphWidget({
          title: "From the workers' logs",
          left: [...props.logMetrics].map(([name, m]) => m.with({ label: name })),
          width: 24,
          height: 5,
        }),
      );
    }
    // The service's own EMF metrics (shared/metrics.ts), service-wide; per worker by SEARCH (the
    // worker names are the code's, so the graph finds them rather than listing them).
    const m = (name: MetricName, label: string, dims: Record<string, string> = {}, statistic = 'Sum') =>
      serviceMetric(props.stage, name, dims, { label, statistic });
    const perWorker = (name: MetricName, label: string) =>
      new cloudwatch.MathExpression({
        expression: `SEARCH('{${metricsNamespace(props.stage)},${SERVICE_DIMENSION},worker} MetricName="${name}"', 'Sum', ${period.toSeconds()})`,
        label,
        period,
      });
    d.addWidgets(
      new cloudwatch.TextWidget({
        markdown: `## Service metrics (EMF, namespace \`${metricsNamespace(props.stage)}\`)`,
        width: 24,
        height: 1,
      }),
    );
    d.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Requests, 4xx, 5xx, rate-limited (functions)',
        left: [m('Requests', 'requests'), m('Http4xx', '4xx'), m('Http5xx', '5xx')],
        right: [m('RateLimited', 'rate-limited (429)')],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Webhook deliveries by outcome',
        left: [
          m('WebhookDeliveryAttempts', 'attempts'),
          m('WebhookDeliverySucceeded', 'succeeded'),
          m('WebhookDeliveryFailed', 'failed'),
          m('WebhookDeliveryRetried', 'retried'),
          m('WebhookDeliveryExhausted', 'exhausted (DLQ)'),
        ],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Webhook delivery latency (ms)',
        left: (['p50', 'p99'] as const).map((p) => m('WebhookDeliveryLatency', `latency ${p}`, {}, p)),
        width: 8,
      }),
    );
    d.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Queue records failed, retries (per worker), DLQ moves',
        left: [perWorker('QueueRecordsFailed', 'failed'), perWorker('QueueRecordRetries', 'retries')],
        right: [m('DlqMoves', 'moved to a DLQ')],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'OAuth refreshes, plugin installs',
        left: [m('OAuthRefreshSucceeded', 'refresh succeeded'), m('OAuthRefreshFailed', 'refresh failed')],
        right: [
          m('PluginInstalls', 'installed', { outcome: 'installed' }),
          m('PluginInstalls', 'install failed', { outcome: 'failed' }),
        ],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Sync runs by outcome, records',
        left: (['SUCCEEDED', 'PARTIAL', 'FAILED', 'CANCELLED'] as const).map((o) =>
          m('SyncRunsFinished', o.toLowerCase(), { outcome: o }),
        ),
        right: [m('SyncRecordsRead', 'records read'), m('SyncRecordsWritten', 'records written')],
        width: 8,
      }),
    );
    for (const f of props.features) {
      if (!f.functions.length) continue;
      // Ids are unique per graph: `invocations0`, `errors0`…
      const sumOf = (label: string, metric: (fn: lambda.IFunction) => cloudwatch.Metric) => {
        const usingMetrics = Object.fromEntries(
          f.functions.map((x, i) => [`${label}${i}`, metric(x.fn).with(sum)]),
        );
        return new cloudwatch.MathExpression({
          expression: `SUM([${Object.keys(usingMetrics).join(',')}])`,
          usingMetrics,
          period,
          label,
        });
      };
      d.addWidgets(
        new cloudwatch.TextWidget({
          markdown: `## ${f.name} (\`${f.id}\`): ${f.functions.length} functions`,
          width: 24,
          height: 1,
        }),
      );
      // With the requests graph, four graphs of 6 share the row; without, three of 8.
      const w = f.routes ? 6 : 8;
      const requests = f.routes
        ? [
            new cloudwatch.GraphWidget({
              title: `${f.name}: requests, 4xx, 5xx; latency p99`,
              left: (['Requests', 'Http4xx', 'Http5xx'] as const).map((name) =>
                m(name, name.replace('Http', '').replace('Requests', 'requests'), { feature: f.id }),
              ),
              right: [m('RequestLatency', 'latency p99 (ms)', { feature: f.id }, 'p99')],
              width: 6,
            }),
          ]
        : [];
      d.addWidgets(
        ...requests,
        new cloudwatch.GraphWidget({
          title: `${f.name}: invocations, errors, throttles`,
          left: [sumOf('invocations', (fn) => fn.metricInvocations())],
          right: [
            sumOf('errors', (fn) => fn.metricErrors()),
            sumOf('throttles', (fn) => fn.metricThrottles()),
          ],
          width: w,
        }),
        ...(['p50', 'p99'] as const).map(
          (p) =>
            new cloudwatch.GraphWidget({
              title: `${f.name}: duration ${p} (ms)`,
              left: f.functions.map((x) => x.fn.metricDuration({ period, statistic: p, label: x.label })),
              legendPosition: cloudwatch.LegendPosition.RIGHT,
              width: w,
            }),
        ),
      );
    }
    this.dashboard = d;
  }
}
