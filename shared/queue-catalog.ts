/**
 * The service's queues (each with its dead-letter queue): the root of the CDK stack creates them,
 * the local runtime creates the same ones in the SQS emulator, and functions learn each URL from
 * its environment variable. Data only, so platform code (shared/queues.ts) can read it.
 */

export interface QueueDef {
  id: QueueId;
  /** Environment variable through which functions learn the queue URL. */
  urlEnv:
    | 'INGEST_QUEUE_URL'
    | 'DELIVERY_QUEUE_URL'
    | 'SYNC_QUEUE_URL'
    | 'USAGE_QUEUE_URL'
    | 'PLUGIN_JOBS_QUEUE_URL'
    | 'LIFECYCLE_QUEUE_URL'
    | 'RECORDS_QUEUE_URL';
  description: string;
  /** Receives before a message moves to the DLQ. */
  maxReceiveCount: number;
  /** DLQ retention; 14 days, the SQS maximum, so operators have time to redrive. */
  dlqRetentionDays: number;
  /**
   * A fixed physical name (`<service prefix>-<name>`, DLQ `…-dlq`) for a queue another system
   * consumes, which must find it by name. @default a name CloudFormation generates
   */
  physicalName?: string;
  /** Consumed outside this service (PronaFlow core): no worker of ours reads it. */
  external?: boolean;
}

/**
 * `DLQ_URLS`, the setting through which the status function learns every DLQ (with the grant
 * `queue:dlqs:read-attributes`): space-separated `<queue id>=<DLQ URL>` pairs.
 */
export function dlqUrlsSetting(urls: Record<QueueId, string>): string {
  return Object.values(queues)
    .map((q) => `${q.id}=${urls[q.id]}`)
    .join(' ');
}

/** The DLQ URLs of a `DLQ_URLS` setting, by queue id (pairs of unknown queues are skipped). */
export function parseDlqUrls(setting: string | undefined): Partial<Record<QueueId, string>> {
  const out: Partial<Record<QueueId, string>> = {};
  for (const pair of (setting ?? '').split(/\s+/).filter(Boolean)) {
    const at = pair.indexOf('=');
    const id = pair.slice(0, at) as QueueId;
    if (at > 0 && id in queues) out[id] = pair.slice(at + 1);
  }
  return out;
}

export type QueueId = 'ingest' | 'deliveries' | 'sync' | 'usage' | 'plugins' | 'lifecycle' | 'records';

export const queues: Record<QueueId, QueueDef> = {
  ingest: {
    id: 'ingest',
    urlEnv: 'INGEST_QUEUE_URL',
    description: 'Events from PronaFlow (task.created, workspace.plan_changed, …)',
    maxReceiveCount: 5,
    dlqRetentionDays: 14,
  },
  deliveries: {
    id: 'deliveries',
    urlEnv: 'DELIVERY_QUEUE_URL',
    description: 'One message per webhook delivery attempt',
    // Retries are scheduled by the worker itself (re-enqueue with delay); the redrive only
    // catches crashes, so a handful of receives is enough.
    maxReceiveCount: 5,
    dlqRetentionDays: 14,
  },
  sync: {
    id: 'sync',
    urlEnv: 'SYNC_QUEUE_URL',
    description: 'Background sync jobs of data sync bindings',
    maxReceiveCount: 3,
    dlqRetentionDays: 14,
  },
  usage: {
    id: 'usage',
    urlEnv: 'USAGE_QUEUE_URL',
    description: 'API usage records, written to the table in batches',
    maxReceiveCount: 5,
    dlqRetentionDays: 14,
  },
  plugins: {
    id: 'plugins',
    urlEnv: 'PLUGIN_JOBS_QUEUE_URL',
    description:
      "Plugin marketplace jobs: a new version's rollout to installations, a deleted plugin's cascade (a page each, then the next)",
    maxReceiveCount: 5,
    dlqRetentionDays: 14,
  },
  lifecycle: {
    id: 'lifecycle',
    urlEnv: 'LIFECYCLE_QUEUE_URL',
    description:
      "Lifecycle cascades: a page of a deleted user's, workspace's, plugin's or OAuth app's items per message, then the next",
    // A page that keeps failing (five receives) parks its cascade's message in the DLQ; the
    // cascade record keeps its place, so a redrive resumes it there.
    maxReceiveCount: 5,
    dlqRetentionDays: 14,
  },
  records: {
    id: 'records',
    urlEnv: 'RECORDS_QUEUE_URL',
    description:
      'Records synced in from providers, for PronaFlow core to apply (schema pronaflow.integration.record.v1, shared/bindings/records.ts; an idempotency key per record version)',
    maxReceiveCount: 5,
    dlqRetentionDays: 14,
    physicalName: 'records',
    external: true,
  },
};
