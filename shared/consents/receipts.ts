/**
 * Consent receipts, in the spirit of the Kantara Consent Receipt Specification v1.1 and ISO/IEC
 * TS 27560:2023: what the data subject can keep to show what they agreed to (or withdrew), with
 * whom, under which policy, and how to withdraw. A receipt names the audit entry that recorded
 * the event, so the subject can later check it against `GET /consents/audit/verify`.
 */
import type { AuditEntry } from '#shared/audit/log.ts';
import { newId } from '#shared/ids.ts';
import type { ConsentReceipt } from './schemas.ts';
import type { ConsentItem } from './service.ts';

export const RECEIPT_SCHEMA = 'pronaflow-consent-receipt/1.0 (Kantara CR v1.1, ISO/IEC TS 27560)';
export const CONTROLLER = {
  name: 'PronaFlow',
  contact: 'privacy@pronaflow.com',
  url: 'https://pronaflow.com',
};
export const policyUrl = (version: number) => `https://pronaflow.com/legal/privacy/v${version}`;

const CATEGORY: Record<ConsentItem['consent_type'], string> = {
  DATA_PROCESSING: 'Core function',
  THIRD_PARTY: 'Sharing with a third party',
  ANALYTICS: 'Improved performance',
  MARKETING: 'Marketing',
};

export function receiptFor(
  c: Omit<ConsentItem, 'receipt'>,
  state: ConsentReceipt['state'],
  entry: Pick<AuditEntry, 'seq' | 'hash'>,
  at: Date,
): ConsentReceipt {
  return {
    receipt_id: newId('rcpt', at.getTime()),
    schema_version: RECEIPT_SCHEMA,
    jurisdiction: 'EU',
    consent_timestamp: Math.floor(at.getTime() / 1000),
    collection_method: c.collection_method === 'ui' ? 'PronaFlow web app' : 'PronaFlow API',
    pii_principal_id: c.user_id,
    pii_controllers: [CONTROLLER],
    policy_url: policyUrl(c.policy_version),
    policy_version: c.policy_version,
    services: [
      {
        service: `${c.resource_type}:${c.resource_id}`,
        purposes: [
          {
            purpose: c.purpose ?? c.description ?? CATEGORY[c.consent_type],
            consent_type: c.consent_type,
            purpose_category: CATEGORY[c.consent_type],
            termination: c.expires_at ?? 'until withdrawn',
            third_party_disclosure: c.consent_type === 'THIRD_PARTY',
            third_party_name: c.consent_type === 'THIRD_PARTY' ? c.resource_type : null,
          },
        ],
      },
    ],
    state,
    withdrawal_method: `DELETE /v1/integration/consents/${c.id} (one call, effective at once)`,
    audit: { seq: entry.seq, hash: entry.hash },
  };
}
