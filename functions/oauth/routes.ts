/**
 * The OAuth routes: one row per endpoint; the feature's defaults are stated once in `route`.
 * Handlers of this feature import this module, never the whole surface (functions/features.ts).
 */
import * as v from 'valibot';
import { appResourcesSchema } from '#shared/bindings/schemas.ts';
import { idParams } from '#shared/http/common-params.ts';
import { problemSchema } from '#shared/http/problem.ts';
import { featureRoute, type RouteDef } from '#shared/http/route.ts';
import {
  authorizationResponse,
  callbackBody,
  callbackQuery,
  connectionPage,
  connectionResponse,
  createConnectionBody,
  listConnectionsQuery,
  oauthAppList,
  oauthAppResponse,
} from '#shared/oauth/schemas.ts';

const route = featureRoute({ tag: 'OAuth' });

export const routes = {
  listOAuthApps: route({
    id: 'listOAuthApps',
    method: 'GET',
    path: '/oauth/apps',
    handler: 'oauth/list-oauth-apps',
    auth: 'user_or_token',
    scopes: ['read:integrations'],
    summary: 'The OAuth provider catalog',
    responses: { 200: { description: 'Every app, built-in and from OAUTH_APPS_FILE', schema: oauthAppList } },
  }),
  getOAuthApp: route({
    id: 'getOAuthApp',
    method: 'GET',
    path: '/oauth/apps/{id}',
    handler: 'oauth/get-oauth-app',
    auth: 'user_or_token',
    scopes: ['read:integrations'],
    summary: 'One OAuth provider',
    params: idParams,
    responses: {
      200: { description: 'The app (never a secret)', schema: oauthAppResponse },
      404: { description: 'No such app', schema: problemSchema },
    },
  }),
  getOAuthAppResources: route({
    id: 'getOAuthAppResources',
    method: 'GET',
    path: '/oauth/apps/{id}/resources',
    handler: 'oauth/get-app-resources',
    auth: 'user_or_token',
    scopes: ['read:integrations'],
    summary:
      "What an app's data sync adapter can bind: resource types with their locator (JSON Schema), variants, the PronaFlow entity each syncs, whether it can be written, and its fields",
    params: idParams,
    responses: {
      200: {
        description: 'The resource types (none, with `sync_adapter: null`, for an app that cannot be synced)',
        schema: appResourcesSchema,
      },
      404: { description: 'No such app', schema: problemSchema },
    },
  }),
  createConnection: route({
    id: 'createConnection',
    method: 'POST',
    path: '/oauth/connections',
    handler: 'oauth/create-connection',
    auth: 'user',
    scopes: [],
    summary: 'Connect an external service (direct tokens, or start authorization code + PKCE)',
    body: createConnectionBody,
    responses: {
      201: {
        description:
          'With access_token: the connection. Without: an authorization to complete in the browser (authorization_url)',
        schema: v.union([connectionResponse, authorizationResponse]),
      },
      404: { description: 'The app was deleted', schema: problemSchema },
      503: { description: 'The app has no client credentials configured', schema: problemSchema },
    },
    grants: ['table:read', 'table:write', 'secrets:oauth:read', 'secrets:keys:read'],
  }),
  listConnections: route({
    id: 'listConnections',
    method: 'GET',
    path: '/oauth/connections',
    handler: 'oauth/list-connections',
    auth: 'user_or_token',
    scopes: ['read:integrations'],
    summary: "List the caller's connections",
    query: listConnectionsQuery,
    responses: { 200: { description: "The caller's connections in the workspace", schema: connectionPage } },
    grants: ['table:read'],
  }),
  getConnection: route({
    id: 'getConnection',
    method: 'GET',
    path: '/oauth/connections/{id}',
    handler: 'oauth/get-connection',
    auth: 'user_or_token',
    scopes: ['read:integrations'],
    summary: 'One connection (tokens are never returned)',
    params: idParams,
    responses: {
      200: { description: 'The connection', schema: connectionResponse },
      404: { description: "No such connection (or another user's)", schema: problemSchema },
    },
    grants: ['table:read'],
  }),
  deleteConnection: route({
    id: 'deleteConnection',
    method: 'DELETE',
    path: '/oauth/connections/{id}',
    handler: 'oauth/delete-connection',
    auth: 'user',
    scopes: [],
    summary: 'Disconnect: revoke at the provider and delete stored tokens',
    params: idParams,
    responses: {
      204: { description: 'Deleted, with its bindings (revocation at the provider is best effort)' },
      404: { description: "No such connection (or another user's)", schema: problemSchema },
    },
    grants: ['table:read', 'table:write', 'secrets:oauth:read', 'secrets:keys:read'],
  }),
  refreshConnection: route({
    id: 'refreshConnection',
    method: 'POST',
    path: '/oauth/connections/{id}/refresh',
    handler: 'oauth/refresh-connection',
    auth: 'user',
    scopes: [],
    summary: "Refresh a connection's access token now",
    params: idParams,
    responses: {
      200: { description: 'The refreshed connection', schema: connectionResponse },
      404: { description: "No such connection (or another user's)", schema: problemSchema },
      409: { description: 'No usable refresh token: connect again', schema: problemSchema },
      502: {
        description: 'The provider refused or failed (its `provider_error` is given)',
        schema: problemSchema,
      },
    },
    // A failed refresh raises oauth_connection.refresh_failed / .expired through the ingest queue.
    grants: ['table:read', 'table:write', 'secrets:oauth:read', 'secrets:keys:read', 'queue:ingest:send'],
  }),
  oauthCallback: route({
    id: 'oauthCallback',
    method: 'POST',
    path: '/oauth/callback',
    handler: 'oauth/oauth-callback',
    auth: 'user',
    scopes: [],
    summary:
      "Complete an authorization with the user's session: exchange the code (the state must be the caller's)",
    body: callbackBody,
    responses: {
      201: { description: 'The new connection', schema: connectionResponse },
      400: {
        description:
          'Unknown, expired, used or foreign state; the provider denied the authorization or refused the code (`provider_error`)',
        schema: problemSchema,
      },
      404: { description: 'The app left the catalog or was deleted', schema: problemSchema },
      502: { description: "The provider's token endpoint failed", schema: problemSchema },
    },
    grants: ['table:read', 'table:write', 'secrets:oauth:read', 'secrets:keys:read'],
  }),
  oauthCallbackRedirect: route({
    id: 'oauthCallbackRedirect',
    method: 'GET',
    path: '/oauth/callback',
    handler: 'oauth/oauth-callback-redirect',
    auth: 'public',
    scopes: [],
    summary:
      "The provider's browser redirect target: hands code and state to the front end (exchanges nothing)",
    query: callbackQuery,
    responses: {
      200: {
        description:
          'A page asking the user to return to PronaFlow, which finishes with POST /oauth/callback',
        contentType: 'text/html',
      },
      302: { description: 'To OAUTH_COMPLETE_URL with `code`, `state` (and `error`) as query parameters' },
      400: { description: 'No state or code, or the provider refused', contentType: 'text/html' },
    },
  }),
} satisfies Record<string, RouteDef>;
