/**
 * The API tokens routes: one row per endpoint; the feature's defaults are stated once in `route`.
 * Handlers of this feature import this module, never the whole surface (functions/features.ts).
 */
import { featureRoute, type RouteDef } from '#shared/http/route.ts';
import { problemResponse } from '#shared/http/statuses.ts';
import * as tok from '#shared/tokens/schemas.ts';

// Token management is for sessions only and spends the user's `management` budget, which no API
// token can spend: a leaked token that exhausts the `api` budget cannot lock its owner out.
const route = featureRoute({
  tag: 'API tokens',
  auth: 'user',
  scopes: [],
  rateLimit: 'management',
  grants: ['table:read', 'table:write'],
});

export const routes = {
  createToken: route({
    id: 'createToken',
    method: 'POST',
    path: '/tokens',
    handler: 'tokens/create-token',
    summary: 'Create a personal access token (its value is shown once)',
    body: tok.createTokenBody,
    responses: {
      201: { description: 'The token, with its value (shown once)', schema: tok.tokenWithValueSchema },
      409: problemResponse(
        'The most active tokens one user may hold (`max_active_tokens`), or the membership changed meanwhile',
      ),
    },
  }),
  listTokens: route({
    id: 'listTokens',
    method: 'GET',
    path: '/tokens',
    handler: 'tokens/list-tokens',
    summary: "List the caller's tokens in the workspace, newest first",
    query: tok.listTokensQuery,
    responses: { 200: { description: 'A page of tokens', schema: tok.tokenPageSchema } },
  }),
  listScopes: route({
    id: 'listScopes',
    method: 'GET',
    path: '/tokens/scopes',
    handler: 'tokens/list-scopes',
    summary: 'The scope catalog',
    responses: { 200: { description: 'Every scope a token can carry', schema: tok.scopeCatalogSchema } },
  }),
  listUsageLogs: route({
    id: 'listUsageLogs',
    method: 'GET',
    path: '/tokens/usage-logs',
    handler: 'tokens/list-usage-logs',
    summary: "Usage logs of the caller's tokens, with aggregates over the range",
    query: tok.usageLogsQuery,
    responses: {
      200: { description: 'A page of logs and the aggregates', schema: tok.usageLogPageSchema },
      404: problemResponse("`token_id` names no token of the caller's (another user's is never found)"),
    },
  }),
  getToken: route({
    id: 'getToken',
    method: 'GET',
    path: '/tokens/{id}',
    handler: 'tokens/get-token',
    summary: "A token's metadata",
    params: tok.tokenIdParams,
    responses: { 200: { description: 'The token (never its value)', schema: tok.tokenSchema } },
  }),
  updateToken: route({
    id: 'updateToken',
    method: 'PATCH',
    path: '/tokens/{id}',
    handler: 'tokens/update-token',
    // Switching a token off, like revoking it, is never refused.
    rateLimitExemptIf: tok.isDeactivation,
    summary: 'Rename or (de)activate a token',
    params: tok.tokenIdParams,
    body: tok.updateTokenBody,
    responses: {
      200: { description: 'The updated token', schema: tok.tokenSchema },
      409: problemResponse('The token is revoked, or changed meanwhile'),
    },
  }),
  revokeToken: route({
    id: 'revokeToken',
    method: 'DELETE',
    path: '/tokens/{id}',
    handler: 'tokens/revoke-token',
    // Revoking a credential must always be possible for its owner, whatever a leaked token spent.
    rateLimit: 'exempt',
    summary: 'Revoke a token (it stops working on the next request)',
    params: tok.tokenIdParams,
    responses: { 204: { description: 'Revoked' } },
  }),
  rotateToken: route({
    id: 'rotateToken',
    method: 'POST',
    path: '/tokens/{id}/rotate',
    handler: 'tokens/rotate-token',
    summary: 'Issue a new value for a token (same id and scopes) and revoke the old one',
    params: tok.tokenIdParams,
    body: tok.rotateTokenBody,
    responses: {
      200: { description: 'The token with its new value (shown once)', schema: tok.tokenWithValueSchema },
      409: problemResponse('The token is revoked, was rotated meanwhile, or the quota is full'),
    },
  }),
  getTokenScopes: route({
    id: 'getTokenScopes',
    method: 'GET',
    path: '/tokens/{id}/scopes',
    handler: 'tokens/get-token-scopes',
    summary: "A token's scopes",
    params: tok.tokenIdParams,
    responses: { 200: { description: 'The scopes, with their descriptions', schema: tok.tokenScopesSchema } },
  }),
  getRateLimit: route({
    id: 'getRateLimit',
    method: 'GET',
    path: '/rate-limit',
    handler: 'tokens/get-rate-limit',
    auth: 'user_or_token',
    // Any credential, the budget it reports: tokens and sessions alike spend this one.
    rateLimit: 'api',
    summary: "The caller's rate limit in the current window (this request counts)",
    responses: { 200: { description: 'Limit, remaining and reset', schema: tok.rateLimitSchema } },
    grants: ['table:read', 'table:write', 'queue:usage:send'],
  }),
} satisfies Record<string, RouteDef>;
