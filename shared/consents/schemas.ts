import * as z from 'zod';

/** Request contracts of consent & governance (registered, not built yet: 501). */
export const consentType = z.enum(['DATA_PROCESSING', 'THIRD_PARTY', 'MARKETING', 'ANALYTICS']);

export const grantConsentBody = z
  .object({
    consent_type: consentType,
    resource_type: z.string().min(1).max(100).describe('e.g. `slack_integration`'),
    resource_id: z.string().min(1).max(200),
    description: z.string().max(1000).optional(),
  })
  .strict();

export const listConsentsQuery = z.object({ consent_type: consentType.optional() });
