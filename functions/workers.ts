/**
 * Queues and background workers: the CDK stack creates each queue with its dead-letter queue and
 * an event source per worker; the local runtime creates the same queues in the SQS emulator and
 * polls them into the same handlers.
 */
import type { Grant } from '#shared/http/route.ts';

export { type QueueDef, type QueueId, queues } from '#shared/queue-catalog.ts';

import type { QueueId } from '#shared/queue-catalog.ts';

export interface WorkerDef {
  id: string;
  /** Handler module under `functions/`, without extension. */
  handler: string;
  description: string;
  /** The queue it consumes, or a schedule expression (`rate(5 minutes)`). */
  trigger: { queue: QueueId; batchSize: number; maxBatchingWindowSeconds?: number } | { schedule: string };
  timeoutSeconds: number;
  memoryMb?: number;
  grants: Grant[];
}

export const workers: WorkerDef[] = [
  {
    id: 'ingestEvents',
    handler: 'workers/ingest-events',
    description: 'Validates PronaFlow events and hands each to the features that consume it',
    trigger: { queue: 'ingest', batchSize: 10, maxBatchingWindowSeconds: 1 },
    timeoutSeconds: 30,
    grants: ['table:read', 'table:write', 'queue:deliveries:send'],
  },

  // ── API tokens ──
  {
    id: 'recordUsage',
    handler: 'workers/record-usage',
    description: "Writes API-token usage logs (BatchWriteItem, TTL) and each token's last use",
    // SQS hands at most 10 messages per receive; the local poller does the same.
    trigger: { queue: 'usage', batchSize: 10, maxBatchingWindowSeconds: 5 },
    timeoutSeconds: 30,
    grants: ['table:write'],
  },

  // ── Webhooks ──
  {
    id: 'deliverWebhooks',
    handler: 'workers/deliver-webhooks',
    description:
      'Signed webhook deliveries with retries (re-enqueued with delay), recover pages and DLQ redrives of FAILED deliveries',
    trigger: { queue: 'deliveries', batchSize: 10, maxBatchingWindowSeconds: 1 },
    // One attempt (DNS included) is bounded by WEBHOOK_TIMEOUT_SECONDS, at most 30 s (checked by
    // the settings), plus a 15 s lease margin for signing and recording: within these 60 s.
    // Records of a batch run in parallel.
    timeoutSeconds: 60,
    // A finally FAILED delivery is parked in the deliveries DLQ (alarm + documented redrive).
    grants: [
      'table:read',
      'table:write',
      'queue:deliveries:send',
      'queue:deliveries-dlq:send',
      'secrets:keys:read',
    ],
  },
  {
    id: 'expireWebhookDeliveries',
    handler: 'workers/expire-webhook-deliveries',
    description:
      'Marks EXPIRED the PENDING webhook deliveries past their expiry whose job was lost (expiry markers, DLVEXP#<hour> buckets)',
    trigger: { schedule: 'rate(15 minutes)' },
    timeoutSeconds: 120,
    grants: ['table:read', 'table:write'],
  },

  // ── Reconciliation (every feature's lost jobs) ──
  {
    id: 'reconcileJobs',
    handler: 'workers/reconcile-jobs',
    description:
      'Puts back on their queues the jobs of overdue work whose message was lost (webhook deliveries: due index, DLVDUE#<hour> buckets in gsi1)',
    trigger: { schedule: 'rate(5 minutes)' },
    timeoutSeconds: 120,
    // A feature plugging in a reconciler (functions/workers/reconcile-jobs.ts) adds its queue's send grant.
    grants: ['table:read', 'table:write', 'queue:deliveries:send'],
  },

  // ── OAuth ──
  {
    id: 'refreshOAuthConnections',
    handler: 'workers/refresh-oauth-connections',
    description:
      'Refreshes OAuth access tokens expiring soon (gsi1 OAUTHEXP#<hour> buckets), one lease per connection',
    trigger: { schedule: 'rate(5 minutes)' },
    timeoutSeconds: 120,
    grants: ['table:read', 'table:write', 'secrets:oauth:read', 'secrets:keys:read'],
  },
  {
    id: 'reencryptOAuthTokens',
    handler: 'workers/reencrypt-oauth-tokens',
    description:
      'After a data-key rotation, re-seals OAuth tokens under the current key (resumable, no-op when done)',
    trigger: { schedule: 'rate(1 hour)' },
    timeoutSeconds: 300,
    // A resumable scan of the connections: a maintenance job, run only after a key rotation.
    grants: ['table:read', 'table:write', 'table:scan', 'secrets:keys:read'],
  },

  // ── Other features ──
];

/** A queue's consumer timeout when it has none yet (seconds). */
export const DEFAULT_WORKER_TIMEOUT_SECONDS = 30;

/**
 * Visibility timeout of a queue: six times its slowest consumer's timeout plus the batching
 * window (AWS guidance for Lambda event sources). Used by the CDK stack and the local runtime
 * alike, so a slow local worker never sees its own message delivered twice.
 */
export function visibilityTimeoutSeconds(
  queueId: QueueId,
  workerTable: readonly WorkerDef[] = workers,
): number {
  const consumers = workerTable.flatMap((w) =>
    'queue' in w.trigger && w.trigger.queue === queueId ? [w] : [],
  );
  if (!consumers.length) return 6 * DEFAULT_WORKER_TIMEOUT_SECONDS;
  return Math.max(
    ...consumers.map(
      (w) => 6 * w.timeoutSeconds + ('queue' in w.trigger ? (w.trigger.maxBatchingWindowSeconds ?? 0) : 0),
    ),
  );
}
