import * as v from 'valibot';
import { pageQuery } from '#shared/http/common-params.ts';
import { record, refine, superRefine, url } from '#shared/validation.ts';

const scope = v.pipe(v.string(), v.minLength(1), v.maxLength(200));
const isoTime = v.pipe(v.string(), v.description('ISO 8601 UTC'));

/** What the catalog endpoints return for one app (no secret, ever). */
export const oauthAppResponse = v.object({
  id: v.string(),
  name: v.string(),
  description: v.string(),
  logo_url: v.nullable(v.string()),
  authorize_url: v.string(),
  token_url: v.string(),
  revoke_url: v.nullable(v.string()),
  scopes: v.pipe(v.array(v.string()), v.description('Scopes a connection may request')),
  default_scopes: v.pipe(v.array(v.string()), v.description('Requested when a connection names none')),
  pkce: v.pipe(v.boolean(), v.description('PKCE (S256) is used with this provider')),
  scope_separator: v.picklist([' ', ',']),
  token_auth_method: v.picklist(['client_secret_basic', 'client_secret_post']),
  authorize_params: record(v.string(), v.string()),
  api_base_url: v.pipe(
    v.nullable(v.string()),
    v.description("Base URL of the provider's API that sync adapters call"),
  ),
  sync_adapter: v.pipe(
    v.nullable(v.string()),
    v.description(
      'The data sync adapter of this provider (see `GET /oauth/apps/{id}/resources`); null: no sync',
    ),
  ),
});

export const oauthAppList = v.object({ data: v.array(oauthAppResponse), next_cursor: v.null() });

export const connectionStatus = v.pipe(
  v.picklist(['ACTIVE', 'ERROR', 'EXPIRED']),
  v.description(
    'ACTIVE: usable; ERROR: the last refresh failed and is retried after a cooldown; EXPIRED: reconnect needed',
  ),
);

export const connectionResponse = v.object({
  object: v.literal('oauth_connection'),
  id: v.pipe(v.string(), v.description('conn_…')),
  oauth_app_id: v.string(),
  workspace_id: v.string(),
  user_id: v.string(),
  status: connectionStatus,
  source: v.pipe(v.picklist(['direct', 'authorization_code']), v.description('How the tokens were obtained')),
  scopes: v.pipe(
    v.array(v.string()),
    v.description('Scopes granted (as the provider reported them, else as requested)'),
  ),
  token_type: v.string(),
  access_token: v.pipe(v.literal('[hidden]'), v.description('Tokens are never returned')),
  has_refresh_token: v.boolean(),
  token_expires_at: v.nullable(isoTime),
  last_refreshed_at: v.nullable(isoTime),
  next_refresh_at: v.pipe(
    v.nullable(isoTime),
    v.description('When the background refresh will renew the access token'),
  ),
  refresh_attempts: v.pipe(
    v.number(),
    v.safeInteger(),
    v.description('Failed refresh attempts since the last success'),
  ),
  last_error: v.pipe(
    v.nullable(v.object({ code: v.string(), description: v.nullable(v.string()), at: isoTime })),
    v.description("The provider's error of the last failed refresh"),
  ),
  created_at: isoTime,
  updated_at: isoTime,
});
export type ConnectionResponse = v.InferOutput<typeof connectionResponse>;

export const authorizationResponse = v.object({
  object: v.literal('oauth_authorization'),
  oauth_app_id: v.string(),
  authorization_url: v.pipe(v.string(), v.description("Send the user's browser here")),
  state: v.pipe(v.string(), v.description('Single-use; comes back on the redirect')),
  redirect_uri: v.string(),
  scopes: v.array(v.string()),
  expires_at: v.pipe(isoTime, v.description('The authorization must complete before this time')),
});

export const createConnectionBody = v.pipe(
  v.strictObject(
    v.object({
      oauth_app_id: v.pipe(
        v.string(),
        v.minLength(1),
        v.maxLength(63),
        v.description('Catalog id, e.g. github'),
      ),
      access_token: v.pipe(
        v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(8192))),
        v.description('Direct mode: a token you already hold. Omit it to start authorization code + PKCE'),
      ),
      refresh_token: v.pipe(
        v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(8192))),
        v.description('Direct mode only'),
      ),
      expires_in: v.pipe(
        v.optional(v.pipe(v.number(), v.safeInteger(), v.gtValue(0), v.maxValue(10 * 366 * 86400))),
        v.description('Direct mode: seconds'),
      ),
      scopes: v.pipe(
        v.optional(v.pipe(v.array(scope), v.maxLength(100))),
        v.description("Within the app's scopes; default: its default_scopes"),
      ),
      redirect_uri: v.pipe(
        v.optional(v.pipe(url(), v.maxLength(2000))),
        v.description(
          'Authorization mode: must live under OAUTH_REDIRECT_URI_BASE; default: this API’s callback',
        ),
      ),
    }).entries,
  ),
  superRefine((b, ctx) => {
    if (b.access_token === undefined) {
      for (const field of ['refresh_token', 'expires_in'] as const) {
        if (b[field] !== undefined) {
          ctx.addIssue({ code: 'custom', path: [field], message: 'Only with access_token (direct mode)' });
        }
      }
    } else if (b.redirect_uri !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['redirect_uri'], message: 'Only without access_token' });
    }
  }),
);
export type CreateConnectionBody = v.InferOutput<typeof createConnectionBody>;

const callbackFields = {
  state: v.pipe(v.string(), v.minLength(1), v.maxLength(512)),
  code: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(4096))),
  error: v.pipe(
    v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(200))),
    v.description("The provider's error, when it refused"),
  ),
  error_description: v.optional(v.pipe(v.string(), v.maxLength(1000))),
};

export const callbackBody = v.pipe(
  v.strictObject(callbackFields),
  v.forward(
    refine(
      (b) => b.code !== undefined || b.error !== undefined,
      'code (or the provider’s error) is required',
    ),
    ['code'],
  ),
);
export type CallbackInput = v.InferOutput<typeof callbackBody>;

/** Browser redirect: everything optional, so a provider error without state still gets a page. */
export const callbackQuery = v.objectWithRest(
  v.object({
    state: v.optional(v.pipe(v.string(), v.maxLength(512))),
    code: v.optional(v.pipe(v.string(), v.maxLength(4096))),
    error: v.optional(v.pipe(v.string(), v.maxLength(200))),
    error_description: v.optional(v.pipe(v.string(), v.maxLength(1000))),
  }).entries,
  v.string(),
);

export const listConnectionsQuery = v.object({
  ...pageQuery.entries,
  oauth_app_id: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(63))),
  status: v.optional(connectionStatus),
});

export const connectionPage = v.object({
  data: v.array(connectionResponse),
  next_cursor: v.nullable(v.string()),
});
