import type { FeatureModule } from '#functions/feature-module.ts';
import {
  CONNECTION_EVENT_TYPES,
  CONSENT_EVENT_TYPES,
  OUTBOUND_EVENT_TYPES,
} from '#shared/bindings/consumer.ts';
import { routes } from './routes.ts';

/**
 * Data sync bindings: two-way sync between a provider's resource (a GitHub repository's issues,
 * a Slack channel) and PronaFlow records through an OAuth connection, with runs on the sync
 * queue (page by page, resumable), inbound records for PronaFlow core on the records queue,
 * PronaFlow changes written back from the ingest queue, schedules and consent checks.
 */
export const bindings = {
  id: 'bindings',
  name: 'Sync bindings',
  routes,
  // records: consumed by PronaFlow core (a fixed name, `<prefix>-records`); sync: our runs.
  queues: ['sync', 'records'],
  consumes: [...OUTBOUND_EVENT_TYPES, ...CONSENT_EVENT_TYPES, ...CONNECTION_EVENT_TYPES],
  bundlesOAuthCatalog: true,
  settings: ['SYNC_INVOCATION_SECONDS', 'SYNC_MAX_PAGES_PER_INVOCATION', 'SYNC_MAX_BINDINGS_PER_WORKSPACE'],
  workers: [
    {
      id: 'syncRuns',
      handler: 'bindings/sync-runs',
      description:
        'Works on sync runs: a share of a run per message (pages until the time budget, then the rest re-enqueued), inbound records to the records queue, pending PronaFlow changes to the provider',
      trigger: { queue: 'sync', batchSize: 1 },
      timeoutSeconds: 300,
      // secrets: the connection's sealed tokens are opened (keys) and refreshed (client credentials).
      grants: [
        'table:read',
        'table:write',
        'secrets:keys:read',
        'secrets:oauth:read',
        'queue:sync:send',
        'queue:records:send',
        'queue:ingest:send',
      ],
    },
    {
      id: 'scheduleSyncs',
      handler: 'bindings/schedule-syncs',
      description: 'Starts the runs of scheduled bindings that are due (the schedule index; no scan)',
      trigger: { schedule: 'rate(1 minute)' },
      timeoutSeconds: 60,
      grants: ['table:read', 'table:write', 'queue:sync:send'],
    },
  ],
} satisfies FeatureModule;
