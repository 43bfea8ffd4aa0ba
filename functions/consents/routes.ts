/**
 * The Consents routes: one row per endpoint; the feature's defaults are stated once in `route`.
 * Handlers of this feature import this module, never the whole surface (functions/features.ts).
 */
import {
  auditPageSchema,
  auditQuery,
  consentPageSchema,
  consentParams,
  consentSchema,
  consentStatusSchema,
  exportSchema,
  grantConsentBody,
  listConsentsQuery,
  scopeQuery,
  verifySchema,
} from '#shared/consents/schemas.ts';
import { problemSchema } from '#shared/http/problem.ts';
import { featureRoute, type RouteDef } from '#shared/http/route.ts';

const route = featureRoute({ tag: 'Consents', auth: 'user_or_token', grants: ['table:read'] });
const notYours = {
  404: { description: "No such consent of yours (another user's is never found)", schema: problemSchema },
};
const adminsOnly = {
  403: {
    description: '`scope=workspace` without the admin role, or a token without the scope',
    schema: problemSchema,
  },
};

export const routes = {
  listConsents: route({
    id: 'listConsents',
    method: 'GET',
    path: '/consents',
    handler: 'consents/list-consents',
    scopes: ['read:consents'],
    summary: "The caller's consent records (or the workspace's, for admins), newest first",
    query: listConsentsQuery,
    responses: { 200: { description: 'A page of consents', schema: consentPageSchema }, ...adminsOnly },
  }),
  grantConsent: route({
    id: 'grantConsent',
    method: 'POST',
    path: '/consents',
    handler: 'consents/grant-consent',
    scopes: ['write:consents'],
    summary: 'Grant consent (the live one is returned if already given)',
    body: grantConsentBody,
    responses: {
      201: { description: 'The consent record with its receipt', schema: consentSchema },
      200: { description: 'Already granted: the live record (no duplicate)', schema: consentSchema },
    },
    grants: ['table:read', 'table:write', 'secrets:keys:read'],
  }),
  consentStatus: route({
    id: 'consentStatus',
    method: 'GET',
    path: '/consents/status',
    handler: 'consents/get-consent-status',
    scopes: ['read:consents'],
    summary: 'Compliance status per consent type, with what is required and missing',
    query: scopeQuery,
    responses: { 200: { description: 'The status', schema: consentStatusSchema }, ...adminsOnly },
  }),
  consentAudit: route({
    id: 'consentAudit',
    method: 'GET',
    path: '/consents/audit',
    handler: 'consents/list-consent-audit',
    scopes: ['read:consents'],
    summary: "The caller's audit trail (or the workspace's, for admins), newest first",
    query: auditQuery,
    responses: { 200: { description: 'A page of audit entries', schema: auditPageSchema }, ...adminsOnly },
    grants: ['table:read', 'secrets:keys:read'],
  }),
  verifyConsentAudit: route({
    id: 'verifyConsentAudit',
    method: 'GET',
    path: '/consents/audit/verify',
    handler: 'consents/verify-consent-audit',
    scopes: ['read:consents'],
    summary: 'Recompute the hash chain of the audit trail',
    query: scopeQuery,
    responses: {
      200: { description: 'Whether the chain is intact, or its first broken link', schema: verifySchema },
      ...adminsOnly,
    },
    grants: ['table:read', 'secrets:keys:read'],
  }),
  exportConsentData: route({
    id: 'exportConsentData',
    method: 'GET',
    path: '/consents/export',
    handler: 'consents/export-consent-data',
    scopes: ['read:consents'],
    summary: 'Everything this service holds about the caller in the workspace (subject access)',
    responses: { 200: { description: 'One JSON document', schema: exportSchema } },
    grants: ['table:read', 'secrets:keys:read'],
  }),
  getConsent: route({
    id: 'getConsent',
    method: 'GET',
    path: '/consents/{id}',
    handler: 'consents/get-consent',
    scopes: ['read:consents'],
    summary: 'A consent record with its receipts',
    params: consentParams,
    responses: { 200: { description: 'The consent', schema: consentSchema }, ...notYours },
  }),
  revokeConsent: route({
    id: 'revokeConsent',
    method: 'DELETE',
    path: '/consents/{id}',
    handler: 'consents/revoke-consent',
    scopes: ['write:consents'],
    // Withdrawing is exactly as easy as granting: the same credentials, the same budget.
    summary: 'Withdraw consent: one call, effective at once (the record stays, REVOKED)',
    params: consentParams,
    responses: {
      200: {
        description: 'The record, REVOKED, with its revocation receipt (also when it was no longer live)',
        schema: consentSchema,
      },
      ...notYours,
    },
    // queue:ingest:send raises consent.revoked (bindings relying on the consent pause).
    grants: ['table:read', 'table:write', 'secrets:keys:read', 'queue:ingest:send'],
  }),
} satisfies Record<string, RouteDef>;
