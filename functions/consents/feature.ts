import type { FeatureModule } from '#functions/feature-module.ts';
import { routes } from './routes.ts';

/**
 * Consent & governance (GDPR): consent records with receipts, compliance status, the subject's
 * audit trail (hash-chained, append-only, pseudonymous: shared/audit) and its verification, and
 * the subject-access export.
 */
export const consents = {
  id: 'consents',
  name: 'Consents',
  routes,
  settings: ['CONSENT_POLICY_VERSION', 'CONSENT_AUDIT_LOG_RETENTION_DAYS'],
  workers: [
    {
      id: 'expireConsents',
      handler: 'consents/expire-consents',
      description:
        'Marks EXPIRED, with an audit entry, the consents whose end date passed (expiry index, hour buckets)',
      trigger: { schedule: 'rate(15 minutes)' },
      timeoutSeconds: 120,
      // queue:ingest:send raises consent.expired (bindings relying on the consent pause).
      grants: ['table:read', 'table:write', 'secrets:keys:read', 'queue:ingest:send'],
    },
    {
      id: 'recordConsentPolicy',
      handler: 'consents/record-consent-policy',
      description: 'Records a change of CONSENT_POLICY_VERSION in the audit log (after each deployment)',
      trigger: { afterDeploy: true },
      timeoutSeconds: 30,
      grants: ['table:read', 'table:write', 'secrets:keys:read'],
    },
  ],
} satisfies FeatureModule;
