import type { FeatureModule } from '#functions/feature-module.ts';
import { routes } from './routes.ts';

/** The plugin marketplace (pending: its routes answer 501). */
export const plugins = {
  id: 'plugins',
  name: 'Plugins',
  routes,
  settings: [
    'PLUGIN_MAX_SIZE_MB',
    'PLUGIN_MAX_INSTALLABLE_PER_WORKSPACE',
    'PLUGIN_EXECUTION_TIMEOUT_SECONDS',
  ],
} satisfies FeatureModule;
