import * as z from 'zod';
import { pageQuery } from '#shared/http/common-params.ts';

const scope = z.string().min(1).max(200);
const isoTime = z.string().describe('ISO 8601 UTC');

/** What the catalog endpoints return for one app (no secret, ever). */
export const oauthAppResponse = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string(),
  logo_url: z.string().nullable(),
  authorize_url: z.string(),
  token_url: z.string(),
  revoke_url: z.string().nullable(),
  scopes: z.array(z.string()).describe('Scopes a connection may request'),
  default_scopes: z.array(z.string()).describe('Requested when a connection names none'),
  pkce: z.boolean().describe('PKCE (S256) is used with this provider'),
  scope_separator: z.enum([' ', ',']),
  token_auth_method: z.enum(['client_secret_basic', 'client_secret_post']),
  authorize_params: z.record(z.string(), z.string()),
  api_base_url: z.string().nullable().describe("Base URL of the provider's API that sync adapters call"),
  sync_adapter: z
    .string()
    .nullable()
    .describe('The data sync adapter of this provider (see `GET /oauth/apps/{id}/resources`); null: no sync'),
});

export const oauthAppList = z.object({ data: z.array(oauthAppResponse), next_cursor: z.null() });

export const connectionStatus = z
  .enum(['ACTIVE', 'ERROR', 'EXPIRED'])
  .describe(
    'ACTIVE: usable; ERROR: the last refresh failed and is retried after a cooldown; EXPIRED: reconnect needed',
  );

export const connectionResponse = z.object({
  object: z.literal('oauth_connection'),
  id: z.string().describe('conn_…'),
  oauth_app_id: z.string(),
  workspace_id: z.string(),
  user_id: z.string(),
  status: connectionStatus,
  source: z.enum(['direct', 'authorization_code']).describe('How the tokens were obtained'),
  scopes: z.array(z.string()).describe('Scopes granted (as the provider reported them, else as requested)'),
  token_type: z.string(),
  access_token: z.literal('[hidden]').describe('Tokens are never returned'),
  has_refresh_token: z.boolean(),
  token_expires_at: isoTime.nullable(),
  last_refreshed_at: isoTime.nullable(),
  next_refresh_at: isoTime.nullable().describe('When the background refresh will renew the access token'),
  refresh_attempts: z.number().int().describe('Failed refresh attempts since the last success'),
  last_error: z
    .object({ code: z.string(), description: z.string().nullable(), at: isoTime })
    .nullable()
    .describe("The provider's error of the last failed refresh"),
  created_at: isoTime,
  updated_at: isoTime,
});
export type ConnectionResponse = z.infer<typeof connectionResponse>;

export const authorizationResponse = z.object({
  object: z.literal('oauth_authorization'),
  oauth_app_id: z.string(),
  authorization_url: z.string().describe("Send the user's browser here"),
  state: z.string().describe('Single-use; comes back on the redirect'),
  redirect_uri: z.string(),
  scopes: z.array(z.string()),
  expires_at: isoTime.describe('The authorization must complete before this time'),
});

export const createConnectionBody = z
  .object({
    oauth_app_id: z.string().min(1).max(63).describe('Catalog id, e.g. github'),
    access_token: z
      .string()
      .min(1)
      .max(8192)
      .optional()
      .describe('Direct mode: a token you already hold. Omit it to start authorization code + PKCE'),
    refresh_token: z.string().min(1).max(8192).optional().describe('Direct mode only'),
    expires_in: z
      .number()
      .int()
      .positive()
      .max(10 * 366 * 86400)
      .optional()
      .describe('Direct mode: seconds'),
    scopes: z
      .array(scope)
      .max(100)
      .optional()
      .describe("Within the app's scopes; default: its default_scopes"),
    redirect_uri: z
      .url()
      .max(2000)
      .optional()
      .describe('Authorization mode: must live under OAUTH_REDIRECT_URI_BASE; default: this API’s callback'),
  })
  .strict()
  .superRefine((b, ctx) => {
    if (b.access_token === undefined) {
      for (const field of ['refresh_token', 'expires_in'] as const) {
        if (b[field] !== undefined) {
          ctx.addIssue({ code: 'custom', path: [field], message: 'Only with access_token (direct mode)' });
        }
      }
    } else if (b.redirect_uri !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['redirect_uri'], message: 'Only without access_token' });
    }
  });
export type CreateConnectionBody = z.infer<typeof createConnectionBody>;

const callbackFields = {
  state: z.string().min(1).max(512),
  code: z.string().min(1).max(4096).optional(),
  error: z.string().min(1).max(200).optional().describe("The provider's error, when it refused"),
  error_description: z.string().max(1000).optional(),
};

export const callbackBody = z
  .object(callbackFields)
  .strict()
  .refine((b) => b.code !== undefined || b.error !== undefined, {
    path: ['code'],
    message: 'code (or the provider’s error) is required',
  });
export type CallbackInput = z.infer<typeof callbackBody>;

/** Browser redirect: everything optional, so a provider error without state still gets a page. */
export const callbackQuery = z
  .object({
    state: z.string().max(512).optional(),
    code: z.string().max(4096).optional(),
    error: z.string().max(200).optional(),
    error_description: z.string().max(1000).optional(),
  })
  .catchall(z.string());

export const listConnectionsQuery = pageQuery.extend({
  oauth_app_id: z.string().min(1).max(63).optional(),
  status: connectionStatus.optional(),
});

export const connectionPage = z.object({
  data: z.array(connectionResponse),
  next_cursor: z.string().nullable(),
});
