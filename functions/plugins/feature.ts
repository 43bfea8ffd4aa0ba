import type { FeatureModule } from '#functions/feature-module.ts';
import { routes } from './routes.ts';

/**
 * The plugin marketplace: a versioned catalog (operators publish, packages in the packages
 * bucket), installations per workspace with accepted permissions and validated configuration,
 * rollouts of new versions and the deletion cascade (the plugin jobs queue).
 */
export const plugins = {
  id: 'plugins',
  name: 'Plugins',
  routes,
  queues: ['plugins'],
  settings: [
    'PLUGIN_MAX_SIZE_MB',
    'PLUGIN_MAX_INSTALLABLE_PER_WORKSPACE',
    'PLUGIN_EXECUTION_TIMEOUT_SECONDS',
  ],
  workers: [
    {
      id: 'pluginJobs',
      handler: 'plugins/plugin-jobs',
      description:
        "Plugin jobs, a page of installations per message: a new version's rollout, a deleted plugin's cascade",
      trigger: { queue: 'plugins', batchSize: 5 },
      timeoutSeconds: 120,
      grants: [
        'table:read',
        'table:write',
        'secrets:keys:read',
        'queue:plugins:send',
        'queue:ingest:send',
        'bucket:packages:write',
      ],
    },
    {
      id: 'reencryptPluginSecrets',
      handler: 'plugins/reencrypt-plugin-secrets',
      description:
        "After a data-key rotation, re-seals installations' secret settings under the current key (resumable, no-op when done)",
      trigger: { schedule: 'rate(1 hour)' },
      timeoutSeconds: 300,
      grants: ['table:read', 'table:write', 'table:scan', 'secrets:keys:read'],
    },
    {
      id: 'seedPluginCatalog',
      handler: 'plugins/seed-catalog',
      description: 'Publishes the plugins the marketplace starts with (once each; idempotent)',
      trigger: { afterDeploy: true },
      timeoutSeconds: 60,
      grants: ['table:read', 'table:write', 'bucket:packages:write'],
    },
  ],
} satisfies FeatureModule;
