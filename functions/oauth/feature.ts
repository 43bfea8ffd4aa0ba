import type { FeatureModule } from '#functions/feature-module.ts';
import { routes } from './routes.ts';

/** OAuth connections to external services (authorization code + PKCE), refresh and re-encryption. */
export const oauth = {
  id: 'oauth',
  name: 'OAuth',
  routes,
  settings: [
    'OAUTH_TOKEN_EXPIRY_MINUTES',
    'OAUTH_REFRESH_TOKEN_EXPIRY_DAYS',
    'OAUTH_AUTHORIZATION_CODE_EXPIRY_MINUTES',
    'OAUTH_REDIRECT_URI_BASE',
    'OAUTH_COMPLETE_URL',
    'OAUTH_APPS_FILE',
    'OAUTH_HTTP_TIMEOUT_SECONDS',
    'OAUTH_REFRESH_MARGIN_SECONDS',
    'ALLOW_LOOPBACK_TARGETS',
  ],
  bundlesOAuthCatalog: true,
  workers: [
    {
      id: 'refreshOAuthConnections',
      handler: 'workers/refresh-oauth-connections',
      description:
        'Refreshes OAuth access tokens expiring soon (gsi1 OAUTHEXP#<hour> buckets), one lease per connection',
      trigger: { schedule: 'rate(5 minutes)' },
      timeoutSeconds: 120,
      // A failed refresh raises oauth_connection.refresh_failed / .expired through the ingest queue.
      grants: ['table:read', 'table:write', 'secrets:oauth:read', 'secrets:keys:read', 'queue:ingest:send'],
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
  ],
} satisfies FeatureModule;
