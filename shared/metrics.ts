/**
 * The service's CloudWatch metrics, written as EMF (Embedded Metric Format) log lines by
 * Powertools Metrics, and the catalogue of every metric name (the CDK alarms and dashboard read
 * it, so a renamed metric breaks the infra tests instead of leaving an alarm on nothing).
 *
 * Features call one tiny API and never flush:
 *
 *     metrics.count('OAuthRefreshFailed');
 *     metrics.count('SyncRecordsRead', stats.records_in);
 *     metrics.duration('WebhookDeliveryLatency', ms);
 *
 * The handler kits flush at the end of every invocation: the HTTP kit (shared/http, the request
 * context middleware) and the worker kits (shared/queue-worker.ts). Nothing is written when no
 * metric was recorded (no "No application metrics to publish" warning).
 *
 * Namespace: `POWERTOOLS_METRICS_NAMESPACE` (the stack sets `PronaFlowIntegrations/<stage>`; the
 * stage is in the namespace, so no metric carries a stage dimension). Dimensions, low cardinality
 * only (a route id, a worker name, an outcome; never a workspace, user or path): each metric is
 * published under its catalogued dimensions AND every coarser prefix of them, down to `service`
 * alone — e.g. `Requests` under [service], [service, feature], [service, feature, route] — so an
 * alarm reads the service-wide total and a dashboard drills into a feature or a route, with no
 * metric math over unknown dimension values.
 *
 * Off in unit tests (`POWERTOOLS_METRICS_DISABLED=true`, set by test/helpers/setup-env.ts) except
 * where a test turns it on to read the EMF; locally the runtime sets it too (see infra/local).
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

/** What a metric is, for the catalogue (and the README's table). */
export interface MetricDef {
  unit: 'Count' | 'Milliseconds';
  /** Its dimensions, coarse to fine (each prefix is published too; `service` always comes first). */
  dimensions: readonly string[];
  /** Who emits it. */
  source: string;
  description: string;
  /**
   * Set while the call is still to be added where the metric happens (an EXTENSION POINT): a test
   * fails once the source emits it, so the mark is removed.
   */
  pending?: string;
}

/** Every metric the service emits. */
export const METRICS = {
  // HTTP kit (shared/http): every request of every route function.
  Requests: {
    unit: 'Count',
    dimensions: ['feature', 'route'],
    source: 'shared/http/middleware/request-context.ts',
    description: 'Requests answered by a route function (any status).',
  },
  Http4xx: {
    unit: 'Count',
    dimensions: ['feature', 'route'],
    source: 'shared/http/middleware/request-context.ts',
    description: 'Requests answered 4xx.',
  },
  Http5xx: {
    unit: 'Count',
    dimensions: ['feature', 'route'],
    source: 'shared/http/middleware/request-context.ts',
    description: 'Requests answered 5xx (by the function; API Gateway 5xx are in AWS/ApiGateway).',
  },
  RequestLatency: {
    unit: 'Milliseconds',
    dimensions: ['feature', 'route'],
    source: 'shared/http/middleware/request-context.ts',
    description: 'Time from the first middleware to the answer.',
  },
  RateLimited: {
    unit: 'Count',
    dimensions: ['feature', 'route'],
    source: 'shared/http/middleware/rate-limit.ts',
    description: 'Requests refused 429 by the rate limiter.',
  },
  // Worker kits (shared/queue-worker.ts).
  QueueRecordsSucceeded: {
    unit: 'Count',
    dimensions: ['worker'],
    source: 'shared/queue-worker.ts',
    description: 'Queue records a worker processed without error.',
  },
  QueueRecordsFailed: {
    unit: 'Count',
    dimensions: ['worker'],
    source: 'shared/queue-worker.ts',
    description: 'Queue records reported as batch item failures (SQS makes them visible again).',
  },
  QueueRecordRetries: {
    unit: 'Count',
    dimensions: ['worker'],
    source: 'shared/queue-worker.ts',
    description: 'Queue records received more than once (ApproximateReceiveCount > 1): retries.',
  },
  QueueRecordDuration: {
    unit: 'Milliseconds',
    dimensions: ['worker'],
    source: 'shared/queue-worker.ts',
    description: 'Processing time of one queue record.',
  },
  ScheduledRuns: {
    unit: 'Count',
    dimensions: ['worker'],
    source: 'shared/queue-worker.ts',
    description: 'Runs of a scheduled worker.',
  },
  ScheduledRunsFailed: {
    unit: 'Count',
    dimensions: ['worker'],
    source: 'shared/queue-worker.ts',
    description: 'Runs of a scheduled worker that threw.',
  },
  // Queue send helper (shared/queues.ts).
  DlqMoves: {
    unit: 'Count',
    dimensions: ['queue'],
    source: 'shared/queues.ts',
    description:
      'Messages the service itself parks in a DLQ (the deliveries DLQ, retries used up). Messages SQS moves after maxReceiveCount failed receives show as the DLQ depth.',
  },
  // Features.
  OAuthRefreshSucceeded: {
    unit: 'Count',
    dimensions: [],
    source: 'shared/oauth/refresh.ts',
    description: 'OAuth connections refreshed (scheduled or on demand).',
  },
  OAuthRefreshFailed: {
    unit: 'Count',
    dimensions: [],
    source: 'shared/oauth/refresh.ts',
    description: 'OAuth refreshes that failed (the connection goes ERROR or EXPIRED).',
  },
  SyncRunsFinished: {
    unit: 'Count',
    dimensions: ['outcome'],
    source: 'shared/bindings/runs.ts',
    description: 'Sync runs that finished, by outcome (SUCCEEDED, PARTIAL, FAILED, CANCELLED).',
  },
  SyncRecordsRead: {
    unit: 'Count',
    dimensions: [],
    source: 'shared/bindings/runs.ts',
    description: 'Records a sync run read from the provider (inbound).',
  },
  SyncRecordsWritten: {
    unit: 'Count',
    dimensions: [],
    source: 'shared/bindings/runs.ts',
    description: 'Records a sync run wrote out (outbound).',
  },
  PluginInstalls: {
    unit: 'Count',
    dimensions: ['outcome'],
    source: 'shared/plugins',
    description: 'Plugin installations that finished, by outcome (installed, failed).',
  },
  // Webhook deliveries: emitted by the delivery worker's stages (shared/webhooks/**).
  WebhookDeliveryAttempts: {
    unit: 'Count',
    dimensions: [],
    source: 'shared/webhooks',
    description: 'Delivery attempts sent to an endpoint.',
  },
  WebhookDeliverySucceeded: {
    unit: 'Count',
    dimensions: [],
    source: 'shared/webhooks',
    description: 'Deliveries answered 2xx (the delivery is done).',
  },
  WebhookDeliveryFailed: {
    unit: 'Count',
    dimensions: [],
    source: 'shared/webhooks',
    description: 'Attempts that failed (non-2xx, timeout, refused address), whether retried or not.',
  },
  WebhookDeliveryRetried: {
    unit: 'Count',
    dimensions: [],
    source: 'shared/webhooks',
    description: 'Failed attempts given another try later (retry scheduled).',
  },
  WebhookDeliveryExhausted: {
    unit: 'Count',
    dimensions: [],
    source: 'shared/webhooks',
    description:
      'Deliveries that ended without success: FAILED (retries used up, parked in the deliveries DLQ; a final answer such as 410; the endpoint disabled or deleted) or EXPIRED.',
  },
  WebhookDeliveryLatency: {
    unit: 'Milliseconds',
    dimensions: [],
    source: 'shared/webhooks',
    description: "An attempt's round trip to the endpoint.",
  },
} as const satisfies Record<string, MetricDef>;

export type MetricName = keyof typeof METRICS;
/** The dimension values a metric's call gives (its catalogued dimensions, all of them). */
export type DimensionsOf<N extends MetricName> = { [K in (typeof METRICS)[N]['dimensions'][number]]: string };

/** The service dimension every metric carries (POWERTOOLS_SERVICE_NAME). */
export const SERVICE_DIMENSION = 'service';
const DEFAULT_SERVICE = 'pronaflow-integrations';
/** Where EMF goes when the stack sets no namespace (local runs with metrics turned on). */
export const LOCAL_NAMESPACE = 'PronaFlowIntegrations/local';
/**
 * EMF takes at most 100 values per metric in one line, and Powertools publishes by itself when a
 * metric reaches 100 values (or 100 metrics are stored), clearing the dimension sets: whatever the
 * group adds after that would go out without them. So a group is published while every metric in
 * it has fewer values (and it never holds 100 metrics: the catalogue has far fewer).
 */
const MAX_VALUES = 99;

interface Group {
  /** The dimension sets (coarse to fine prefixes), without `service`. */
  dims: [string, string][];
  values: Map<MetricName, number[]>;
}

const pending = new Map<string, Group>();
let emitter: Metrics | undefined;

function powertools(): Metrics {
  emitter ??= new Metrics({
    namespace: process.env.POWERTOOLS_METRICS_NAMESPACE || LOCAL_NAMESPACE,
    serviceName: process.env.POWERTOOLS_SERVICE_NAME || DEFAULT_SERVICE,
  });
  return emitter;
}

function record(name: MetricName, value: number, dims: Record<string, string>): void {
  if (!Number.isFinite(value)) return;
  const def: MetricDef = METRICS[name];
  const ordered: [string, string][] = def.dimensions.map((d) => [d, String(dims[d] ?? 'unknown')]);
  const key = JSON.stringify(ordered);
  let group = pending.get(key);
  if (!group) {
    group = { dims: ordered, values: new Map() };
    pending.set(key, group);
  }
  const list = group.values.get(name) ?? [];
  list.push(value);
  group.values.set(name, list);
  if (list.length >= MAX_VALUES) {
    try {
      publish(group);
    } catch {
      // An EMF problem must never fail the caller.
    }
  }
}

function publish(group: Group): void {
  const m = powertools();
  try {
    // Each coarser prefix is its own dimension set; the full set carries the values.
    for (let n = 0; n < group.dims.length; n++) {
      m.addDimensions(Object.fromEntries(group.dims.slice(0, n + 1)));
    }
    // Plus `service` alone, the service-wide total (with no dimensions, that is the only set).
    if (group.dims.length) m.addDimensions({});
    for (const [name, values] of group.values) {
      const unit = METRICS[name].unit === 'Milliseconds' ? MetricUnit.Milliseconds : MetricUnit.Count;
      for (const v of values) m.addMetric(name, unit, v);
    }
    m.publishStoredMetrics();
  } finally {
    // The emitter is shared by every group: a throw must leave no dimension set or value behind
    // for the next group's line (publishStoredMetrics clears them too; clearing twice is free).
    group.values.clear();
    m.clearMetrics();
    m.clearDimensions();
  }
}

/** The API features call. */
export const metrics = {
  /** Adds `value` (default 1) to a count. */
  count<N extends MetricName>(name: N, value = 1, ...dims: DimsArg<N>): void {
    record(name, value, (dims[0] ?? {}) as Record<string, string>);
  },
  /** Records a duration in milliseconds. */
  duration<N extends MetricName>(name: N, ms: number, ...dims: DimsArg<N>): void {
    record(name, Math.max(0, ms), (dims[0] ?? {}) as Record<string, string>);
  },
};

/** A metric without dimensions takes none; one with dimensions needs them all. */
type DimsArg<N extends MetricName> = (typeof METRICS)[N]['dimensions'] extends readonly []
  ? []
  : [DimensionsOf<N>];

/**
 * Writes every metric recorded since the last flush (one EMF line per dimension group) and empties
 * the buffer. Called by the handler kits at the end of each invocation; a failure is swallowed
 * (metrics never fail a request).
 */
export function flushMetrics(): void {
  const groups = [...pending.values()];
  pending.clear();
  for (const g of groups) {
    if (!g.values.size) continue;
    try {
      publish(g);
    } catch {
      // An EMF problem must never fail the invocation.
    }
  }
}

/** Drops unflushed metrics and the emitter (tests change the environment between cases). */
export function resetMetrics(): void {
  pending.clear();
  emitter = undefined;
}
