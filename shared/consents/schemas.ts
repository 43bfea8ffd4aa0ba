/**
 * Request and response contracts of consent & governance (the OpenAPI document is generated from
 * them).
 */
import * as v from 'valibot';
import { pageQuery } from '#shared/http/common-params.ts';
import { isoDateTime, record } from '#shared/validation.ts';

export const CONSENT_TYPES = ['DATA_PROCESSING', 'THIRD_PARTY', 'MARKETING', 'ANALYTICS'] as const;
export const consentType = v.picklist(CONSENT_TYPES);
export type ConsentType = v.InferOutput<typeof consentType>;
export const consentStatus = v.picklist(['GRANTED', 'REVOKED', 'EXPIRED', 'OUTDATED']);
export type ConsentStatus = v.InferOutput<typeof consentStatus>;

const scope = v.pipe(
  v.optional(v.picklist(['self', 'workspace']), 'self'),
  v.description("`workspace` (workspace admins): every member's, instead of the caller's own"),
);

export const grantConsentBody = v.strictObject({
  consent_type: consentType,
  resource_type: v.pipe(
    v.string(),
    v.minLength(1),
    v.maxLength(100),
    v.regex(/^[a-z][a-z0-9_.-]*$/, 'Lower-case letters, digits, _ . -'),
    v.description('e.g. `slack_integration`, `oauth_connection`'),
  ),
  resource_id: v.pipe(v.string(), v.minLength(1), v.maxLength(200)),
  description: v.optional(v.pipe(v.string(), v.trim(), v.minLength(1), v.maxLength(1000))),
  purpose: v.pipe(
    v.optional(v.pipe(v.string(), v.trim(), v.minLength(1), v.maxLength(500))),
    v.description('What the data is used for (shown on the receipt)'),
  ),
  expires_at: v.pipe(
    v.optional(isoDateTime({ offset: true })),
    v.description('When the consent lapses (status EXPIRED); none: until withdrawn'),
  ),
});
export type GrantConsentInput = v.InferOutput<typeof grantConsentBody>;

export const consentParams = v.object({ id: v.pipe(v.string(), v.minLength(1), v.maxLength(100)) });
export const listConsentsQuery = v.object({
  ...pageQuery.entries,
  consent_type: v.optional(consentType),
  resource_type: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(100))),
  resource_id: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(200))),
  status: v.optional(consentStatus),
  scope,
});
export const scopeQuery = v.object({ scope });
export const auditQuery = v.object({ ...pageQuery.entries, scope });

const receiptSchema = v.pipe(
  v.object({
    receipt_id: v.string(),
    schema_version: v.string(),
    jurisdiction: v.string(),
    consent_timestamp: v.pipe(v.number(), v.safeInteger(), v.description('Epoch seconds')),
    collection_method: v.string(),
    pii_principal_id: v.string(),
    pii_controllers: v.array(v.object({ name: v.string(), contact: v.string(), url: v.string() })),
    policy_url: v.string(),
    policy_version: v.pipe(v.number(), v.safeInteger()),
    services: v.array(
      v.object({
        service: v.string(),
        purposes: v.array(
          v.object({
            purpose: v.string(),
            consent_type: consentType,
            purpose_category: v.string(),
            termination: v.string(),
            third_party_disclosure: v.boolean(),
            third_party_name: v.nullable(v.string()),
          }),
        ),
      }),
    ),
    state: v.picklist(['GRANTED', 'REVOKED', 'EXPIRED']),
    withdrawal_method: v.string(),
    audit: v.pipe(
      v.object({ seq: v.pipe(v.number(), v.safeInteger()), hash: v.string() }),
      v.description('The audit entry recording this event'),
    ),
  }),
  v.description('A consent receipt in the spirit of the Kantara Consent Receipt v1.1 and ISO/IEC TS 27560'),
);
export type ConsentReceipt = v.InferOutput<typeof receiptSchema>;

export const consentSchema = v.object({
  id: v.string(),
  user_id: v.string(),
  workspace_id: v.string(),
  consent_type: consentType,
  resource_type: v.string(),
  resource_id: v.string(),
  description: v.nullable(v.string()),
  purpose: v.nullable(v.string()),
  status: consentStatus,
  policy_version: v.pipe(v.number(), v.safeInteger()),
  current_policy_version: v.pipe(v.number(), v.safeInteger()),
  granted_at: v.string(),
  expires_at: v.nullable(v.string()),
  revoked_at: v.nullable(v.string()),
  expired_at: v.nullable(v.string()),
  collection_method: v.picklist(['api', 'ui']),
  source_ip: v.nullable(v.string()),
  user_agent: v.nullable(v.string()),
  credential: v.object({ kind: v.picklist(['session', 'token']), token_id: v.nullable(v.string()) }),
  receipt: receiptSchema,
  revocation_receipt: v.nullable(receiptSchema),
});
export type ConsentView = v.InferOutput<typeof consentSchema>;
export const consentPageSchema = v.object({
  data: v.array(consentSchema),
  next_cursor: v.nullable(v.string()),
});

export const consentStatusSchema = v.object({
  workspace_id: v.string(),
  user_id: v.pipe(v.nullable(v.string()), v.description('null for the workspace view')),
  policy_version: v.pipe(v.number(), v.safeInteger()),
  compliant: v.boolean(),
  reasons: v.array(v.string()),
  types: v.array(
    v.object({
      consent_type: consentType,
      status: v.picklist(['GRANTED', 'REVOKED', 'EXPIRED', 'OUTDATED', 'MISSING', 'NONE']),
      granted: v.pipe(v.number(), v.safeInteger(), v.description('Live consents of this type')),
      last_change_at: v.nullable(v.string()),
    }),
  ),
  required: v.array(
    v.object({
      consent_type: consentType,
      resource_type: v.string(),
      resource_id: v.string(),
      user_id: v.string(),
      reason: v.string(),
      status: v.picklist(['GRANTED', 'REVOKED', 'EXPIRED', 'OUTDATED', 'MISSING']),
    }),
  ),
});

const auditEntrySchema = v.object({
  workspace_id: v.string(),
  subject: v.pipe(v.string(), v.description('The pseudonym of the user whose trail this is')),
  seq: v.pipe(v.number(), v.safeInteger()),
  at: v.string(),
  action: v.string(),
  actor: v.object({
    type: v.picklist(['user', 'token', 'system']),
    id: v.string(),
    user: v.optional(v.string()),
  }),
  target: v.object({ type: v.string(), id: v.string() }),
  before: v.nullable(record(v.string(), v.unknown())),
  after: v.nullable(record(v.string(), v.unknown())),
  policy_version: v.nullable(v.pipe(v.number(), v.safeInteger())),
  method: v.string(),
  prev_hash: v.string(),
  hash: v.string(),
  source: v.pipe(
    v.nullable(
      v.object({
        user_id: v.nullable(v.string()),
        ip: v.nullable(v.string()),
        user_agent: v.nullable(v.string()),
      }),
    ),
    v.description('Personal data of the entry; null once erased'),
  ),
});
export const auditPageSchema = v.object({
  data: v.array(auditEntrySchema),
  next_cursor: v.nullable(v.string()),
});

const verificationSchema = v.object({
  valid: v.boolean(),
  entries: v.pipe(v.number(), v.safeInteger()),
  head: v.nullable(v.object({ seq: v.pipe(v.number(), v.safeInteger()), hash: v.string() })),
  broken: v.optional(v.object({ seq: v.pipe(v.number(), v.safeInteger()), reason: v.string() })),
  first_seq: v.optional(v.pipe(v.number(), v.safeInteger())),
});
export const verifySchema = v.object({
  ...verificationSchema.entries,
  trails: v.optional(v.array(v.object({ ...verificationSchema.entries, subject: v.string() }))),
});

export const exportSchema = v.object({
  generated_at: v.string(),
  subject: v.object({ user_id: v.string(), workspace_id: v.string() }),
  consents: v.array(consentSchema),
  audit: v.array(auditEntrySchema),
  data: v.pipe(
    record(v.string(), v.unknown()),
    v.description('What each feature holds about the subject, by feature'),
  ),
});
