import type { FeatureModule } from '#functions/feature-module.ts';
import { routes } from './routes.ts';

/** Consent and governance records (pending: its routes answer 501). */
export const consents = {
  id: 'consents',
  name: 'Consents',
  routes,
  settings: ['CONSENT_POLICY_VERSION', 'CONSENT_AUDIT_LOG_RETENTION_DAYS'],
} satisfies FeatureModule;
