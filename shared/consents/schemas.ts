/**
 * Request and response contracts of consent & governance (the OpenAPI document is generated from
 * them).
 */
import * as z from 'zod';
import { pageQuery } from '#shared/http/common-params.ts';

export const CONSENT_TYPES = ['DATA_PROCESSING', 'THIRD_PARTY', 'MARKETING', 'ANALYTICS'] as const;
export const consentType = z.enum(CONSENT_TYPES);
export type ConsentType = z.infer<typeof consentType>;
export const consentStatus = z.enum(['GRANTED', 'REVOKED', 'EXPIRED', 'OUTDATED']);
export type ConsentStatus = z.infer<typeof consentStatus>;

const scope = z
  .enum(['self', 'workspace'])
  .default('self')
  .describe("`workspace` (workspace admins): every member's, instead of the caller's own");

export const grantConsentBody = z.strictObject({
  consent_type: consentType,
  resource_type: z
    .string()
    .min(1)
    .max(100)
    .regex(/^[a-z][a-z0-9_.-]*$/, 'Lower-case letters, digits, _ . -')
    .describe('e.g. `slack_integration`, `oauth_connection`'),
  resource_id: z.string().min(1).max(200),
  description: z.string().trim().min(1).max(1000).optional(),
  purpose: z
    .string()
    .trim()
    .min(1)
    .max(500)
    .optional()
    .describe('What the data is used for (shown on the receipt)'),
  expires_at: z.iso
    .datetime({ offset: true })
    .optional()
    .describe('When the consent lapses (status EXPIRED); none: until withdrawn'),
});
export type GrantConsentInput = z.infer<typeof grantConsentBody>;

export const consentParams = z.object({ id: z.string().min(1).max(100) });
export const listConsentsQuery = pageQuery.extend({
  consent_type: consentType.optional(),
  resource_type: z.string().min(1).max(100).optional(),
  resource_id: z.string().min(1).max(200).optional(),
  status: consentStatus.optional(),
  scope,
});
export const scopeQuery = z.object({ scope });
export const auditQuery = pageQuery.extend({ scope });

const receiptSchema = z
  .object({
    receipt_id: z.string(),
    schema_version: z.string(),
    jurisdiction: z.string(),
    consent_timestamp: z.number().int().describe('Epoch seconds'),
    collection_method: z.string(),
    pii_principal_id: z.string(),
    pii_controllers: z.array(z.object({ name: z.string(), contact: z.string(), url: z.string() })),
    policy_url: z.string(),
    policy_version: z.number().int(),
    services: z.array(
      z.object({
        service: z.string(),
        purposes: z.array(
          z.object({
            purpose: z.string(),
            consent_type: consentType,
            purpose_category: z.string(),
            termination: z.string(),
            third_party_disclosure: z.boolean(),
            third_party_name: z.string().nullable(),
          }),
        ),
      }),
    ),
    state: z.enum(['GRANTED', 'REVOKED', 'EXPIRED']),
    withdrawal_method: z.string(),
    audit: z
      .object({ seq: z.number().int(), hash: z.string() })
      .describe('The audit entry recording this event'),
  })
  .describe('A consent receipt in the spirit of the Kantara Consent Receipt v1.1 and ISO/IEC TS 27560');
export type ConsentReceipt = z.infer<typeof receiptSchema>;

export const consentSchema = z.object({
  id: z.string(),
  user_id: z.string(),
  workspace_id: z.string(),
  consent_type: consentType,
  resource_type: z.string(),
  resource_id: z.string(),
  description: z.string().nullable(),
  purpose: z.string().nullable(),
  status: consentStatus,
  policy_version: z.number().int(),
  current_policy_version: z.number().int(),
  granted_at: z.string(),
  expires_at: z.string().nullable(),
  revoked_at: z.string().nullable(),
  expired_at: z.string().nullable(),
  collection_method: z.enum(['api', 'ui']),
  source_ip: z.string().nullable(),
  user_agent: z.string().nullable(),
  credential: z.object({ kind: z.enum(['session', 'token']), token_id: z.string().nullable() }),
  receipt: receiptSchema,
  revocation_receipt: receiptSchema.nullable(),
});
export type ConsentView = z.infer<typeof consentSchema>;
export const consentPageSchema = z.object({
  data: z.array(consentSchema),
  next_cursor: z.string().nullable(),
});

export const consentStatusSchema = z.object({
  workspace_id: z.string(),
  user_id: z.string().nullable().describe('null for the workspace view'),
  policy_version: z.number().int(),
  compliant: z.boolean(),
  reasons: z.array(z.string()),
  types: z.array(
    z.object({
      consent_type: consentType,
      status: z.enum(['GRANTED', 'REVOKED', 'EXPIRED', 'OUTDATED', 'MISSING', 'NONE']),
      granted: z.number().int().describe('Live consents of this type'),
      last_change_at: z.string().nullable(),
    }),
  ),
  required: z.array(
    z.object({
      consent_type: consentType,
      resource_type: z.string(),
      resource_id: z.string(),
      user_id: z.string(),
      reason: z.string(),
      status: z.enum(['GRANTED', 'REVOKED', 'EXPIRED', 'OUTDATED', 'MISSING']),
    }),
  ),
});

const auditEntrySchema = z.object({
  workspace_id: z.string(),
  subject: z.string().describe('The pseudonym of the user whose trail this is'),
  seq: z.number().int(),
  at: z.string(),
  action: z.string(),
  actor: z.object({ type: z.enum(['user', 'token', 'system']), id: z.string(), user: z.string().optional() }),
  target: z.object({ type: z.string(), id: z.string() }),
  before: z.record(z.string(), z.unknown()).nullable(),
  after: z.record(z.string(), z.unknown()).nullable(),
  policy_version: z.number().int().nullable(),
  method: z.string(),
  prev_hash: z.string(),
  hash: z.string(),
  source: z
    .object({ user_id: z.string().nullable(), ip: z.string().nullable(), user_agent: z.string().nullable() })
    .nullable()
    .describe('Personal data of the entry; null once erased'),
});
export const auditPageSchema = z.object({
  data: z.array(auditEntrySchema),
  next_cursor: z.string().nullable(),
});

const verificationSchema = z.object({
  valid: z.boolean(),
  entries: z.number().int(),
  head: z.object({ seq: z.number().int(), hash: z.string() }).nullable(),
  broken: z.object({ seq: z.number().int(), reason: z.string() }).optional(),
  first_seq: z.number().int().optional(),
});
export const verifySchema = verificationSchema.extend({
  trails: z.array(verificationSchema.extend({ subject: z.string() })).optional(),
});

export const exportSchema = z.object({
  generated_at: z.string(),
  subject: z.object({ user_id: z.string(), workspace_id: z.string() }),
  consents: z.array(consentSchema),
  audit: z.array(auditEntrySchema),
  data: z.record(z.string(), z.unknown()).describe('What each feature holds about the subject, by feature'),
});
