import * as z from 'zod';
import { pageQuery } from '#shared/http/common-params.ts';
import { isKnownScope, SCOPES } from './scopes.ts';

/** `expires_at`: an ISO 8601 date-time with offset, or a date (the token then lasts through that UTC day). */
const expiresAt = z
  .union([z.iso.datetime({ offset: true }), z.iso.date()])
  .transform((v) => (v.length === 10 ? `${v}T23:59:59.000Z` : new Date(v).toISOString()))
  .describe('When the token stops working (ISO 8601; a date means the end of that UTC day)');

const tokenName = z.string().trim().min(1).max(100).describe('A label to recognise the token by');

const scopeList = z
  .array(z.string().max(64))
  .min(1)
  .max(SCOPES.length)
  .superRefine((scopes, ctx) => {
    const seen = new Set<string>();
    scopes.forEach((s, i) => {
      if (seen.has(s)) ctx.addIssue({ code: 'custom', path: [i], message: `Duplicate scope '${s}'` });
      else if (!isKnownScope(s)) ctx.addIssue({ code: 'custom', path: [i], message: `Unknown scope '${s}'` });
      seen.add(s);
    });
  })
  .describe('Scopes from GET /tokens/scopes');

export const createTokenBody = z.strictObject({
  name: tokenName,
  expires_at: expiresAt.optional(),
  scopes: scopeList,
});
export type CreateTokenInput = z.infer<typeof createTokenBody>;

/** Only `name` and `is_active` can change; anything else (scopes, hash, user…) is a 400. */
export const updateTokenBody = z
  .strictObject({ name: tokenName.optional(), is_active: z.boolean().optional() })
  .refine((b) => b.name !== undefined || b.is_active !== undefined, {
    message: 'Give name or is_active',
  });
export type UpdateTokenInput = z.infer<typeof updateTokenBody>;

/**
 * True for a request whose body is exactly `{"is_active": false}`: switching a credential off
 * must always be possible for its owner, so the route table exempts it from rate limiting (a
 * body with any other field is an ordinary management call). Judged on the raw event, before the
 * body is parsed and validated; a body that is not that JSON object is simply not exempt.
 */
export function isDeactivation(event: { body?: string; isBase64Encoded?: boolean }): boolean {
  const raw = event.body;
  if (!raw || raw.length > 256) return false;
  try {
    const body = JSON.parse(event.isBase64Encoded ? Buffer.from(raw, 'base64').toString('utf8') : raw);
    return (
      typeof body === 'object' &&
      body !== null &&
      !Array.isArray(body) &&
      Object.keys(body).length === 1 &&
      body.is_active === false
    );
  } catch {
    return false;
  }
}

export const rotateTokenBody = z.strictObject({ expires_at: expiresAt.optional() }).optional();

export const tokenStatus = z
  .enum(['active', 'inactive', 'expired', 'revoked'])
  .describe('active: usable; inactive: switched off with is_active=false; expired; revoked');

export const listTokensQuery = pageQuery.extend({ status: tokenStatus.optional() });

export const tokenIdParams = z.object({ id: z.string().regex(/^tok_[0-9a-z]{26}$/, 'Not a token id') });

export const tokenSchema = z.object({
  id: z.string(),
  name: z.string(),
  user_id: z.string(),
  workspace_id: z.string(),
  scopes: z.array(z.string()),
  status: tokenStatus,
  is_active: z.boolean(),
  created_at: z.string(),
  updated_at: z.string(),
  expires_at: z.string(),
  last_used_at: z.string().nullable(),
  last_used_ip: z.string().nullable(),
  rotated_at: z.string().nullable(),
  revoked_at: z.string().nullable(),
});
export type TokenView = z.infer<typeof tokenSchema>;

export const tokenWithValueSchema = tokenSchema.extend({
  token: z.string().describe('The token value. Shown once: only its SHA-256 is stored.'),
});

export const tokenPageSchema = z.object({ data: z.array(tokenSchema), next_cursor: z.string().nullable() });

export const scopeSchema = z.object({
  name: z.string(),
  resource: z.string(),
  level: z.enum(['read', 'write', 'admin']),
  description: z.string(),
  min_role: z.enum(['member', 'admin']),
  includes: z.array(z.string()),
});
export const scopeCatalogSchema = z.object({ data: z.array(scopeSchema) });
export const tokenScopesSchema = z.object({ token_id: z.string(), scopes: z.array(scopeSchema) });

export const rateLimitSchema = z.object({
  subject: z.enum(['token', 'session']),
  plan: z.enum(['free', 'pro', 'enterprise']),
  limit: z.number().int(),
  remaining: z.number().int(),
  used: z.number().int(),
  window_seconds: z.number().int(),
  reset_at: z.string(),
});

// ── Usage logs ──

export const statusClass = z.enum(['2xx', '3xx', '4xx', '5xx']);
export const usageLogsQuery = pageQuery.extend({
  token_id: z
    .string()
    .regex(/^tok_[0-9a-z]{26}$/, 'Not a token id')
    .optional(),
  from: z.iso
    .datetime({ offset: true })
    .optional()
    .describe('Start of the range (default: 24 h before `to`)'),
  to: z.iso.datetime({ offset: true }).optional().describe('End of the range, exclusive (default: now)'),
  status_class: statusClass.optional(),
});
export type UsageLogsQuery = z.infer<typeof usageLogsQuery>;

export const usageLogSchema = z.object({
  id: z.string(),
  token_id: z.string(),
  method: z.string(),
  route: z.string(),
  status: z.number().int(),
  latency_ms: z.number().int(),
  at: z.string(),
  client_ip: z.string().nullable(),
});

const bucket = z.object({ start: z.string(), count: z.number().int() });
export const usageAggregatesSchema = z.object({
  from: z.string(),
  to: z.string(),
  total: z.number().int(),
  by_status: z.record(z.string(), z.number().int()),
  by_status_class: z.record(z.string(), z.number().int()),
  per_minute: z.array(bucket),
  per_hour: z.array(bucket),
  truncated: z
    .boolean()
    .describe('True when the range held more logs than the aggregation bound; figures cover the newest ones'),
});
export const usageLogPageSchema = z.object({
  data: z.array(usageLogSchema),
  next_cursor: z.string().nullable(),
  aggregates: usageAggregatesSchema,
});
