import type { FeatureModule } from '#functions/feature-module.ts';
import { routes } from './routes.ts';

/**
 * Health, status and the OpenAPI document; the service-wide workers: the ingest worker that hands
 * PronaFlow events to the features consuming them, and the reconciler of every feature's lost jobs.
 */
export const system = {
  id: 'system',
  name: 'System',
  routes,
  queues: ['ingest'],
  settings: ['SERVICE_VERSION'],
  surfaceViews: { routeManifest: ['system/get-status'], openApiDocument: ['system/get-openapi'] },
  workers: [
    {
      id: 'ingestEvents',
      handler: 'workers/ingest-events',
      description: 'Validates PronaFlow events and hands each to the features that consume it',
      trigger: { queue: 'ingest', batchSize: 10, maxBatchingWindowSeconds: 1 },
      timeoutSeconds: 30,
      // The lifecycle consumer's marks: queue:lifecycle:send starts a cascade's sweep,
      // queue:plugins:send a deleted plugin's own cascade, queue:ingest:send raises
      // plugin.uninstalled for installations of a deleted user, queue:sync:send starts the run
      // of a binding that has PronaFlow changes to write out.
      grants: [
        'table:read',
        'table:write',
        'queue:deliveries:send',
        'queue:sync:send',
        'queue:lifecycle:send',
        'queue:plugins:send',
        'queue:ingest:send',
      ],
    },
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
  ],
} satisfies FeatureModule;
