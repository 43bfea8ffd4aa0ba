import * as v from 'valibot';
import { pageQuery } from '#shared/http/common-params.ts';
import { isoDate, isoDateTime, record, refine, superRefine } from '#shared/validation.ts';
import { isKnownScope, SCOPES } from './scopes.ts';

/** `expires_at`: an ISO 8601 date-time with offset, or a date (the token then lasts through that UTC day). */
const expiresAt = v.pipe(
  v.union([isoDateTime({ offset: true }), isoDate()]),
  v.transform((v) => (v.length === 10 ? `${v}T23:59:59.000Z` : new Date(v).toISOString())),
  v.description('When the token stops working (ISO 8601; a date means the end of that UTC day)'),
);

const tokenName = v.pipe(
  v.string(),
  v.trim(),
  v.minLength(1),
  v.maxLength(100),
  v.description('A label to recognise the token by'),
);

const scopeList = v.pipe(
  v.array(v.pipe(v.string(), v.maxLength(64))),
  v.minLength(1),
  v.maxLength(SCOPES.length),
  superRefine((scopes, ctx) => {
    const seen = new Set<string>();
    scopes.forEach((s, i) => {
      if (seen.has(s)) ctx.addIssue({ code: 'custom', path: [i], message: `Duplicate scope '${s}'` });
      else if (!isKnownScope(s)) ctx.addIssue({ code: 'custom', path: [i], message: `Unknown scope '${s}'` });
      seen.add(s);
    });
  }),
  v.description('Scopes from GET /tokens/scopes'),
);

export const createTokenBody = v.strictObject({
  name: tokenName,
  expires_at: v.optional(expiresAt),
  scopes: scopeList,
});
export type CreateTokenInput = v.InferOutput<typeof createTokenBody>;

/** Only `name` and `is_active` can change; anything else (scopes, hash, user…) is a 400. */
export const updateTokenBody = v.pipe(
  v.strictObject({ name: v.optional(tokenName), is_active: v.optional(v.boolean()) }),
  refine((b) => b.name !== undefined || b.is_active !== undefined, 'Give name or is_active'),
);
export type UpdateTokenInput = v.InferOutput<typeof updateTokenBody>;

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

export const rotateTokenBody = v.optional(v.strictObject({ expires_at: v.optional(expiresAt) }));

export const tokenStatus = v.pipe(
  v.picklist(['active', 'inactive', 'expired', 'revoked']),
  v.description('active: usable; inactive: switched off with is_active=false; expired; revoked'),
);

export const listTokensQuery = v.object({ ...pageQuery.entries, status: v.optional(tokenStatus) });

export const tokenIdParams = v.object({
  id: v.pipe(v.string(), v.regex(/^tok_[0-9a-z]{26}$/, 'Not a token id')),
});

export const tokenSchema = v.object({
  id: v.string(),
  name: v.string(),
  user_id: v.string(),
  workspace_id: v.string(),
  scopes: v.array(v.string()),
  status: tokenStatus,
  is_active: v.boolean(),
  created_at: v.string(),
  updated_at: v.string(),
  expires_at: v.string(),
  last_used_at: v.nullable(v.string()),
  last_used_ip: v.nullable(v.string()),
  rotated_at: v.nullable(v.string()),
  revoked_at: v.nullable(v.string()),
});
export type TokenView = v.InferOutput<typeof tokenSchema>;

export const tokenWithValueSchema = v.object({
  ...tokenSchema.entries,
  token: v.pipe(v.string(), v.description('The token value. Shown once: only its SHA-256 is stored.')),
});

export const tokenPageSchema = v.object({ data: v.array(tokenSchema), next_cursor: v.nullable(v.string()) });

export const scopeSchema = v.object({
  name: v.string(),
  resource: v.string(),
  level: v.picklist(['read', 'write', 'admin']),
  description: v.string(),
  min_role: v.picklist(['member', 'admin']),
  includes: v.array(v.string()),
});
export const scopeCatalogSchema = v.object({ data: v.array(scopeSchema) });
export const tokenScopesSchema = v.object({ token_id: v.string(), scopes: v.array(scopeSchema) });

export const rateLimitSchema = v.object({
  subject: v.picklist(['token', 'session']),
  plan: v.picklist(['free', 'pro', 'enterprise']),
  limit: v.pipe(v.number(), v.safeInteger()),
  remaining: v.pipe(v.number(), v.safeInteger()),
  used: v.pipe(v.number(), v.safeInteger()),
  window_seconds: v.pipe(v.number(), v.safeInteger()),
  reset_at: v.string(),
});

// ── Usage logs ──

export const statusClass = v.picklist(['2xx', '3xx', '4xx', '5xx']);
export const usageLogsQuery = v.object({
  ...pageQuery.entries,
  token_id: v.optional(v.pipe(v.string(), v.regex(/^tok_[0-9a-z]{26}$/, 'Not a token id'))),
  from: v.pipe(
    v.optional(isoDateTime({ offset: true })),
    v.description('Start of the range (default: 24 h before `to`)'),
  ),
  to: v.pipe(
    v.optional(isoDateTime({ offset: true })),
    v.description('End of the range, exclusive (default: now)'),
  ),
  status_class: v.optional(statusClass),
});
export type UsageLogsQuery = v.InferOutput<typeof usageLogsQuery>;

export const usageLogSchema = v.object({
  id: v.string(),
  token_id: v.string(),
  method: v.string(),
  route: v.string(),
  status: v.pipe(v.number(), v.safeInteger()),
  latency_ms: v.pipe(v.number(), v.safeInteger()),
  at: v.string(),
  client_ip: v.nullable(v.string()),
});

const bucket = v.object({ start: v.string(), count: v.pipe(v.number(), v.safeInteger()) });
export const usageAggregatesSchema = v.object({
  from: v.string(),
  to: v.string(),
  total: v.pipe(v.number(), v.safeInteger()),
  by_status: record(v.string(), v.pipe(v.number(), v.safeInteger())),
  by_status_class: record(v.string(), v.pipe(v.number(), v.safeInteger())),
  per_minute: v.array(bucket),
  per_hour: v.array(bucket),
  truncated: v.pipe(
    v.boolean(),
    v.description(
      'True when the range held more logs than the aggregation bound; figures cover the newest ones',
    ),
  ),
});
export const usageLogPageSchema = v.object({
  data: v.array(usageLogSchema),
  next_cursor: v.nullable(v.string()),
  aggregates: usageAggregatesSchema,
});
