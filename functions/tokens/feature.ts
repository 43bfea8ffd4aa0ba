import type { FeatureModule } from '#functions/feature-module.ts';
import { routes } from './routes.ts';

/** Personal access tokens, scopes, rate limits and usage logs. */
export const tokens = {
  id: 'tokens',
  name: 'API tokens',
  routes,
  queues: ['usage'],
  // Plans set the rate limits; membership changes deactivate or revoke tokens, and hold sessions.
  consumes: [
    'workspace.plan_changed',
    'workspace.member_removed',
    'member.removed',
    'workspace.member_role_changed',
    'workspace.member_added',
    'member.added',
  ],
  settings: [
    'API_TOKEN_EXPIRY_DAYS',
    'API_TOKEN_MAX_EXPIRY_DAYS',
    'API_TOKEN_HASH_ALGORITHM',
    'API_USAGE_LOG_RETENTION_DAYS',
    'RATE_LIMIT_TIER_FREE_REQ_PER_MIN',
    'RATE_LIMIT_TIER_PRO_REQ_PER_MIN',
    'RATE_LIMIT_TIER_ENTERPRISE_REQ_PER_MIN',
    'RATE_LIMIT_WINDOW_SECONDS',
  ],
  workers: [
    {
      id: 'recordUsage',
      handler: 'workers/record-usage',
      description: "Writes API-token usage logs (BatchWriteItem, TTL) and each token's last use",
      // SQS hands at most 10 messages per receive; the local poller does the same.
      trigger: { queue: 'usage', batchSize: 10, maxBatchingWindowSeconds: 5 },
      timeoutSeconds: 30,
      grants: ['table:write'],
    },
  ],
} satisfies FeatureModule;
