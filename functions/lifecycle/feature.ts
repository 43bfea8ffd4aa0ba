import type { FeatureModule } from '#functions/feature-module.ts';
import { LIFECYCLE_EVENT_TYPES } from '#shared/lifecycle/events.ts';
import { routes } from './routes.ts';

/**
 * Lifecycle cascades: PronaFlow's `user.deleted`, `workspace.deleted`, `plugin.deleted` and
 * `oauth_app.deleted` events delete what this service holds of the subject. Marked when the event
 * is accepted (by the ingest worker, through the `lifecycle` consumer), swept a page per message
 * on the lifecycle queue; each feature's part is its participant (shared/lifecycle/participants.ts).
 * No routes: progress shows on `GET /status` (the `lifecycle_cascades` line).
 */
export const lifecycle = {
  id: 'lifecycle',
  name: 'Lifecycle',
  routes,
  queues: ['lifecycle'],
  consumes: LIFECYCLE_EVENT_TYPES,
  workers: [
    {
      id: 'sweepCascades',
      handler: 'lifecycle/sweep-cascades',
      description:
        "Deletes a deleted user's, workspace's, plugin's or OAuth app's items, a page per message (resumable, idempotent)",
      trigger: { queue: 'lifecycle', batchSize: 1 },
      timeoutSeconds: 120,
      // table:scan: an OAuth app's connections have no index (rare deletions, a Scan page per
      // message); secrets: revoking connections at their provider opens their sealed tokens.
      grants: [
        'table:read',
        'table:write',
        'table:scan',
        'queue:lifecycle:send',
        'secrets:oauth:read',
        'secrets:keys:read',
      ],
    },
  ],
} satisfies FeatureModule;
