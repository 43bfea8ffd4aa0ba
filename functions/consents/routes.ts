/**
 * The Consents routes: one row per endpoint; the feature's defaults are stated once in `route`.
 * Handlers of this feature import this module, never the whole surface (functions/features.ts).
 */
import { grantConsentBody, listConsentsQuery } from '#shared/consents/schemas.ts';
import { idParams, pageQuery, pending } from '#shared/http/common-params.ts';
import { featureRoute, type RouteDef } from '#shared/http/route.ts';

const route = featureRoute({ tag: 'Consents' });

export const routes = {
  listConsents: route({
    id: 'listConsents',
    method: 'GET',
    path: '/consents',
    handler: 'consents/list-consents',
    auth: 'user_or_token',
    scopes: ['read:consents'],
    summary: "List the caller's consents",
    query: pageQuery.extend(listConsentsQuery.shape),
    responses: pending,
    pending: 'Consent & governance',
  }),
  grantConsent: route({
    id: 'grantConsent',
    method: 'POST',
    path: '/consents',
    handler: 'consents/grant-consent',
    auth: 'user',
    scopes: [],
    summary: 'Grant consent',
    body: grantConsentBody,
    responses: pending,
    pending: 'Consent & governance',
  }),
  consentStatus: route({
    id: 'consentStatus',
    method: 'GET',
    path: '/consents/status',
    handler: 'consents/get-consent-status',
    auth: 'user_or_token',
    scopes: ['read:consents'],
    summary: 'Compliance status',
    responses: pending,
    pending: 'Consent & governance',
  }),
  revokeConsent: route({
    id: 'revokeConsent',
    method: 'DELETE',
    path: '/consents/{id}',
    handler: 'consents/revoke-consent',
    auth: 'user',
    scopes: [],
    summary: 'Revoke consent',
    params: idParams,
    responses: pending,
    pending: 'Consent & governance',
  }),
} satisfies Record<string, RouteDef>;
