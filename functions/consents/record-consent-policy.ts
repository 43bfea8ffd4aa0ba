import { afterDeployWorker } from '#shared/after-deploy.ts';
import { recordPolicyVersion } from '#shared/consents/jobs.ts';

/** After each deployment: a change of CONSENT_POLICY_VERSION becomes an audit entry (consents under older versions read OUTDATED). */
export const handler = afterDeployWorker('record-consent-policy', () => recordPolicyVersion());
