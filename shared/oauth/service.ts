import { createHash, randomBytes } from 'node:crypto';
import { config } from '#shared/config.ts';
import { decrypt, encrypt, sha256Hex } from '#shared/crypto.ts';
import { keys, ttlIn } from '#shared/db/keys.ts';
import type { Page } from '#shared/db/pagination.ts';
import { AppError, NotFoundError, ValidationError } from '#shared/errors.ts';
import type { Caller } from '#shared/http/caller.ts';
import { API_PREFIX } from '#shared/http/route.ts';
import { logger } from '#shared/logger.ts';
import { findApp, type OAuthApp } from './catalog.ts';
import { newConnectionItem, openAccessToken, openRefreshToken, toConnectionResponse } from './connections.ts';
import {
  type ConnectionItem,
  type ConnectionStatus,
  deleteConnection,
  getConnection,
  insertConnection,
  listConnections,
} from './connections-repo.ts';
import { clientCredentials } from './credentials.ts';
import { assertAppNotDeleted, deletedAppsAmong } from './deleted-apps.ts';
import { exchangeCode, ProviderError, parseScopes, revokeToken } from './provider.ts';
import { refreshConnection } from './refresh.ts';
import type { CallbackInput, ConnectionResponse, CreateConnectionBody } from './schemas.ts';
import { consumeState, insertState } from './states-repo.ts';

type Clock = () => Date;
const systemClock: Clock = () => new Date();

/** The callback this API serves: `${OAUTH_REDIRECT_URI_BASE}/v1/integration/oauth/callback`. */
export function defaultRedirectUri(): string {
  return `${config().OAUTH_REDIRECT_URI_BASE.replace(/\/+$/, '')}${API_PREFIX}/oauth/callback`;
}

/**
 * Checks a client-chosen redirect URI: it must live under OAUTH_REDIRECT_URI_BASE (same scheme,
 * host and port, path below the base's), without credentials or fragment. This keeps codes from
 * ever being sent to a host we do not control (RFC 9700 §4.1), while a front end under the same
 * base may receive the redirect itself and POST the code to /oauth/callback.
 */
export function checkRedirectUri(raw: string): string {
  const base = new URL(config().OAUTH_REDIRECT_URI_BASE);
  const url = new URL(raw);
  const basePath = base.pathname.replace(/\/+$/, '');
  const ok =
    url.origin === base.origin &&
    !url.username &&
    !url.password &&
    !url.hash &&
    (url.pathname === basePath || url.pathname.startsWith(`${basePath}/`)) &&
    !url.pathname.split('/').includes('..');
  if (!ok) {
    throw new ValidationError('The redirect_uri is not allowed.', [
      { path: 'body.redirect_uri', message: `Must be under ${base.origin}${basePath || '/'}` },
    ]);
  }
  return url.toString();
}

function appOr400(appId: string): OAuthApp {
  const app = findApp(appId);
  if (!app) {
    throw new ValidationError(`There is no OAuth app '${appId}'.`, [
      { path: 'body.oauth_app_id', message: 'Unknown app; see GET /oauth/apps' },
    ]);
  }
  return app;
}

/** The requested scopes, which must all be among the app's allowed scopes (400 otherwise). */
function checkScopes(app: OAuthApp, requested: string[] | undefined): string[] {
  const scopes = [...new Set(requested ?? app.default_scopes)];
  const allowed = new Set(app.scopes);
  const refused = scopes.filter((s) => !allowed.has(s));
  if (refused.length) {
    throw new ValidationError(`The app '${app.id}' does not allow the scopes: ${refused.join(', ')}.`, [
      { path: 'body.scopes', message: `Not allowed for ${app.id}: ${refused.join(', ')}` },
    ]);
  }
  return scopes;
}

const b64url = (bytes: Buffer) => bytes.toString('base64url');

/**
 * Starts authorization code + PKCE: stores a single-use state (256 random bits, hashed at rest)
 * bound to the caller, the app, the workspace, the scopes and the redirect URI, with the sealed
 * PKCE code_verifier, and returns the provider's authorization URL.
 */
export async function startAuthorization(
  caller: Caller,
  input: { oauth_app_id: string; scopes?: string[]; redirect_uri?: string },
  clock: Clock = systemClock,
) {
  const app = appOr400(input.oauth_app_id);
  await assertAppNotDeleted(app.id);
  const scopes = checkScopes(app, input.scopes);
  const redirectUri = input.redirect_uri ? checkRedirectUri(input.redirect_uri) : defaultRedirectUri();
  const creds = await clientCredentials(app.id);
  const now = clock();
  const state = b64url(randomBytes(32));
  const stateHash = sha256Hex(state);
  const verifier = b64url(randomBytes(32));
  const lifetime = config().OAUTH_AUTHORIZATION_CODE_EXPIRY_MINUTES * 60;
  const expiresAt = new Date(now.getTime() + lifetime * 1000);
  await insertState({
    ...keys.oauthState(stateHash),
    entity: 'OAuthState',
    user_id: caller.userId,
    workspace_id: caller.workspaceId,
    app_id: app.id,
    scopes,
    redirect_uri: redirectUri,
    code_verifier_sealed: await encrypt(verifier, stateHash),
    created_at: now.toISOString(),
    expires_at: expiresAt.toISOString(),
    ttl: ttlIn(lifetime, now.getTime()),
  });
  const url = new URL(app.authorize_url);
  for (const [k, v] of Object.entries(app.authorize_params)) url.searchParams.set(k, v);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('client_id', creds.client_id);
  url.searchParams.set('redirect_uri', redirectUri);
  if (scopes.length) url.searchParams.set('scope', scopes.join(app.scope_separator));
  url.searchParams.set('state', state);
  if (app.pkce) {
    url.searchParams.set('code_challenge', b64url(createHash('sha256').update(verifier).digest()));
    url.searchParams.set('code_challenge_method', 'S256');
  }
  return {
    object: 'oauth_authorization' as const,
    oauth_app_id: app.id,
    authorization_url: url.toString(),
    state,
    redirect_uri: redirectUri,
    scopes,
    expires_at: expiresAt.toISOString(),
  };
}

/**
 * Token-endpoint errors that mean the code itself was refused: RFC 6749's `invalid_grant`, and
 * GitHub's `bad_verification_code` (its answer, with HTTP 200, to a wrong, expired or used code).
 */
const REFUSED_CODE_ERRORS = new Set(['invalid_grant', 'bad_verification_code']);

const badState = () =>
  new AppError(
    400,
    'oauth-invalid-state',
    'Invalid OAuth state',
    'The state is unknown, expired, already used or not yours; start the authorization again.',
  );

/**
 * Completes an authorization for the signed-in user: consumes the state (single use, and only
 * when it was started by this user in this workspace, so a victim's code can never be attached to
 * the connection of whoever sent them an authorization URL), exchanges the code with the stored
 * code_verifier and redirect URI, and stores the new connection with its tokens sealed.
 */
export async function completeAuthorization(
  input: CallbackInput,
  owner: Caller,
  clock: Clock = systemClock,
): Promise<ConnectionResponse> {
  const now = clock();
  const stateHash = sha256Hex(input.state);
  const state = await consumeState(stateHash, now, { userId: owner.userId, workspaceId: owner.workspaceId });
  if (!state) throw badState();
  if (input.error !== undefined) {
    const code = input.error.replace(/[^\w.-]/g, '').slice(0, 64) || 'error';
    throw new AppError(
      400,
      'oauth-authorization-denied',
      'Authorization not granted',
      `The provider did not grant the authorization: ${code}.`,
      { extra: { provider_error: code } },
    );
  }
  if (!input.code) throw badState();
  const app = findApp(state.app_id);
  if (!app) throw new NotFoundError(`The OAuth app '${state.app_id}' is no longer in the catalog.`);
  await assertAppNotDeleted(app.id);
  const creds = await clientCredentials(app.id);
  const verifier = await decrypt(state.code_verifier_sealed, stateHash);
  let tokens: Awaited<ReturnType<typeof exchangeCode>>;
  try {
    tokens = await exchangeCode(app, creds, {
      code: input.code,
      redirectUri: state.redirect_uri,
      ...(app.pkce ? { codeVerifier: verifier } : {}),
    });
  } catch (err) {
    // A refused code is the client's to fix (reused, expired, foreign): 400, not a provider outage.
    if (err instanceof ProviderError && REFUSED_CODE_ERRORS.has(err.providerError)) {
      throw new AppError(
        400,
        'oauth-invalid-grant',
        'Authorization code refused',
        `The provider '${app.id}' refused the authorization code (invalid, expired or already used); start again.`,
        { extra: { provider_error: err.providerError, oauth_app_id: app.id } },
      );
    }
    throw err;
  }
  const item = await newConnectionItem({
    workspaceId: state.workspace_id,
    userId: state.user_id,
    appId: app.id,
    source: 'authorization_code',
    scopes: parseScopes(tokens.scope) ?? state.scopes,
    tokenType: tokens.token_type,
    accessToken: tokens.access_token,
    refreshToken: tokens.refresh_token,
    expiresIn: tokens.expires_in,
    now,
  });
  await insertConnection(item);
  logger.info('oauth connection created', {
    connection_id: item.id,
    oauth_app_id: app.id,
    source: item.source,
  });
  return toConnectionResponse(item, now);
}

/** Stores a connection from tokens the caller already holds (direct mode). */
export async function createDirectConnection(
  caller: Caller,
  body: CreateConnectionBody & { access_token: string },
  clock: Clock = systemClock,
): Promise<ConnectionResponse> {
  const app = appOr400(body.oauth_app_id);
  await assertAppNotDeleted(app.id);
  const scopes = checkScopes(app, body.scopes);
  const now = clock();
  const item = await newConnectionItem({
    workspaceId: caller.workspaceId,
    userId: caller.userId,
    appId: app.id,
    source: 'direct',
    scopes,
    tokenType: 'Bearer',
    accessToken: body.access_token,
    refreshToken: body.refresh_token,
    expiresIn: body.expires_in,
    now,
  });
  await insertConnection(item);
  logger.info('oauth connection created', { connection_id: item.id, oauth_app_id: app.id, source: 'direct' });
  return toConnectionResponse(item, now);
}

/** The caller's connection, or 404 (also for another user's or workspace's connection). */
export async function connectionOf(caller: Caller, id: string): Promise<ConnectionItem> {
  const item = await getConnection(caller.workspaceId, caller.userId, id);
  // A deleted app's connections are gone for the API from the moment the deletion was accepted.
  if (!item || (await deletedAppsAmong([item.app_id])).size)
    throw new NotFoundError(`There is no connection ${id}.`);
  return item;
}

export async function listOfCaller(
  caller: Caller,
  query: { limit: number; cursor?: string; oauth_app_id?: string; status?: ConnectionStatus },
  clock: Clock = systemClock,
): Promise<Page<ConnectionResponse>> {
  // EXPIRED is partly computed on read (see effectiveStatus), so filter status after mapping.
  const page = await listConnections(caller.workspaceId, caller.userId, {
    limit: query.limit,
    cursor: query.cursor,
    appId: query.oauth_app_id,
  });
  const now = clock();
  const deleted = await deletedAppsAmong(page.data.map((i) => i.app_id));
  const data = page.data.filter((i) => !deleted.has(i.app_id)).map((i) => toConnectionResponse(i, now));
  return {
    data: query.status ? data.filter((c) => c.status === query.status) : data,
    next_cursor: page.next_cursor,
  };
}

/** What happened at the provider when a connection was deleted. */
export type Revocation = 'revoked' | 'failed' | 'unsupported';

/**
 * Deletes a connection: revokes its tokens at the provider when the app has a revocation
 * endpoint (RFC 7009, best effort: a provider failure does not keep the tokens stored), deletes
 * every item the connection owns (its bindings), then the connection with its stored tokens.
 */
export async function removeConnection(caller: Caller, id: string): Promise<{ revocation: Revocation }> {
  return revokeAndDelete(await connectionOf(caller, id));
}

/**
 * The deletion of {@link removeConnection} for a connection already read (the lifecycle cascades
 * use it with no caller): provider revocation (best effort), owned items, then the connection.
 * A connection deleted meanwhile is a NotFoundError.
 */
export async function revokeAndDelete(item: ConnectionItem): Promise<{ revocation: Revocation }> {
  const app = findApp(item.app_id);
  let revocation: Revocation = 'unsupported';
  let providerError: string | undefined;
  if (app?.revoke_url) {
    try {
      const creds = await clientCredentials(app.id);
      const refresh = await openRefreshToken(item);
      // Revoking the refresh token ends the grant (RFC 7009 §2.1); the access token goes too.
      if (refresh) await revokeToken(app, creds, refresh, 'refresh_token');
      await revokeToken(app, creds, await openAccessToken(item), 'access_token');
      revocation = 'revoked';
    } catch (err) {
      revocation = 'failed';
      providerError = err instanceof ProviderError ? err.providerError : (err as Error).name;
    }
  }
  const owned = await deleteConnection(item);
  logger.info('oauth connection deleted', {
    connection_id: item.id,
    oauth_app_id: item.app_id,
    revocation,
    ...(providerError ? { provider_error: providerError } : {}),
    owned_items_deleted: owned,
  });
  return { revocation };
}

/** Manual refresh: renews the access token now (waits for a refresh already in progress). */
export async function refreshOfCaller(caller: Caller, id: string, clock: Clock = systemClock) {
  const item = await connectionOf(caller, id);
  const outcome = await refreshConnection(item, { now: clock, force: true, wait: true });
  return toConnectionResponse(outcome.connection, clock());
}
