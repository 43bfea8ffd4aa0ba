import type { FeatureModule } from '#functions/feature-module.ts';
import { eventCatalog, PING_EVENT } from '#shared/webhooks/catalog.ts';
import { routes } from './routes.ts';

/** Webhook endpoints, signed deliveries with retries, recovery and redelivery. */
export const webhooks = {
  id: 'webhooks',
  name: 'Webhooks',
  routes,
  queues: ['deliveries'],
  // Fanned out to the subscribed endpoints: the event catalog but `ping` (only the test endpoint sends it).
  consumes: eventCatalog.map((e) => e.name).filter((name) => name !== PING_EVENT),
  settings: [
    'WEBHOOK_MAX_RETRIES',
    'WEBHOOK_RETRY_BACKOFF_SECONDS',
    'WEBHOOK_TIMEOUT_SECONDS',
    'WEBHOOK_MAX_PAYLOAD_SIZE_KB',
    'WEBHOOK_DELIVERY_TTL_HOURS',
    'WEBHOOK_HISTORY_RETENTION_DAYS',
    'WEBHOOK_DISABLE_AFTER_CONSECUTIVE_FAILURES',
    'ALLOW_LOOPBACK_TARGETS',
  ],
  workers: [
    {
      id: 'deliverWebhooks',
      handler: 'workers/deliver-webhooks',
      description:
        'Signed webhook deliveries with retries (re-enqueued with delay), recover pages and DLQ redrives of FAILED deliveries',
      // 5 batches of 10 at once: 50 attempts in flight, the concurrency the bench's floor runs at
      // (npm run bench -- webhooks); the per-endpoint gate (endpoint-gate.ts) keeps one endpoint
      // from taking them all.
      trigger: { queue: 'deliveries', batchSize: 10, maxBatchingWindowSeconds: 1, maxConcurrency: 5 },
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
        // An endpoint the outcome disabled raises webhook_endpoint.disabled through the ingest queue.
        'queue:ingest:send',
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
    {
      id: 'reencryptWebhookSecrets',
      handler: 'workers/reencrypt-webhook-secrets',
      description:
        'After a data-key rotation, re-seals webhook signing secrets under the current key (resumable, no-op when done)',
      trigger: { schedule: 'rate(1 hour)' },
      timeoutSeconds: 300,
      // A resumable scan of the endpoints: a maintenance job, run only after a key rotation.
      grants: ['table:read', 'table:write', 'table:scan', 'secrets:keys:read'],
    },
  ],
} satisfies FeatureModule;
