import { config } from '#shared/config.ts';
import { decrypt, encrypt, sealedKeyId } from '#shared/crypto.ts';
import { keys } from '#shared/db/keys.ts';
import { newId } from '#shared/ids.ts';
import type { ConnectionItem, ConnectionStatus } from './connections-repo.ts';
import type { ConnectionResponse } from './schemas.ts';

const DAY_MS = 86_400_000;

/** When the background refresh should renew a token expiring at `expiresAt`: the margin before. */
export function refreshDueAt(expiresAt: Date): Date {
  return new Date(expiresAt.getTime() - config().OAUTH_REFRESH_MARGIN_SECONDS * 1000);
}

/** Access-token expiry from `expires_in`, else OAUTH_TOKEN_EXPIRY_MINUTES. */
export function accessExpiry(now: Date, expiresIn: number | undefined): Date {
  const seconds = expiresIn ?? config().OAUTH_TOKEN_EXPIRY_MINUTES * 60;
  return new Date(now.getTime() + seconds * 1000);
}

/** True when a refresh token issued at `issuedAt` is older than OAUTH_REFRESH_TOKEN_EXPIRY_DAYS. */
export function refreshTokenTooOld(issuedAt: string | undefined, now: Date): boolean {
  if (!issuedAt) return false;
  return now.getTime() - Date.parse(issuedAt) > config().OAUTH_REFRESH_TOKEN_EXPIRY_DAYS * DAY_MS;
}

/**
 * The status a reader sees: the stored one, except that a connection whose access token has
 * expired and cannot be refreshed (no refresh token, or one too old) is EXPIRED.
 */
export function effectiveStatus(item: ConnectionItem, now: Date): ConnectionStatus {
  if (item.status === 'EXPIRED') return 'EXPIRED';
  const accessExpired = Date.parse(item.token_expires_at) <= now.getTime();
  const refreshable = !!item.refresh_token_sealed && !refreshTokenTooOld(item.refresh_token_issued_at, now);
  return accessExpired && !refreshable ? 'EXPIRED' : item.status;
}

/**
 * Associated data of a connection's tokens: the connection id plus which token it is, so a
 * ciphertext can neither move to another connection nor swap places with the other token of the
 * same row (a stored refresh token presented as the access token, or the reverse).
 */
export const accessTokenAad = (id: string) => `${id}#access`;
export const refreshTokenAad = (id: string) => `${id}#refresh`;

/** Seals an access token and optional refresh token for connection `id`. */
export async function sealTokens(
  id: string,
  access: string,
  refresh: string | undefined,
): Promise<{ access_token_sealed: string; refresh_token_sealed?: string; sealed_key_id: string }> {
  const accessSealed = await encrypt(access, accessTokenAad(id));
  const refreshSealed = refresh === undefined ? undefined : await encrypt(refresh, refreshTokenAad(id));
  return {
    access_token_sealed: accessSealed,
    ...(refreshSealed ? { refresh_token_sealed: refreshSealed } : {}),
    sealed_key_id: sealedKeyId(accessSealed) ?? '',
  };
}

export const openAccessToken = (item: ConnectionItem) =>
  decrypt(item.access_token_sealed, accessTokenAad(item.id));
export const openRefreshToken = (item: ConnectionItem) =>
  item.refresh_token_sealed
    ? decrypt(item.refresh_token_sealed, refreshTokenAad(item.id))
    : Promise.resolve(undefined);

/** Builds a new connection item from freshly obtained tokens. */
export async function newConnectionItem(input: {
  workspaceId: string;
  userId: string;
  appId: string;
  source: ConnectionItem['source'];
  scopes: string[];
  tokenType: string | undefined;
  accessToken: string;
  refreshToken: string | undefined;
  expiresIn: number | undefined;
  now: Date;
}): Promise<ConnectionItem> {
  const id = newId('conn', input.now.getTime());
  const expiresAt = accessExpiry(input.now, input.expiresIn);
  const nowIso = input.now.toISOString();
  const due = input.refreshToken ? refreshDueAt(expiresAt) : undefined;
  return {
    ...keys.oauthConnection(input.workspaceId, input.userId, id),
    entity: 'OAuthConnection',
    id,
    workspace_id: input.workspaceId,
    user_id: input.userId,
    app_id: input.appId,
    source: input.source,
    status: 'ACTIVE',
    scopes: input.scopes,
    token_type: normalizeTokenType(input.tokenType),
    ...(await sealTokens(id, input.accessToken, input.refreshToken)),
    token_expires_at: expiresAt.toISOString(),
    ...(input.refreshToken ? { refresh_token_issued_at: nowIso } : {}),
    ...(due ? { next_refresh_at: due.toISOString(), ...keys.oauthRefreshDue(due, id) } : {}),
    refresh_attempts: 0,
    version: 1,
    created_at: nowIso,
    updated_at: nowIso,
  };
}

/** `bearer` → `Bearer` (RFC 6750 spelling); anything else as the provider said. */
export function normalizeTokenType(tokenType: string | undefined): string {
  if (!tokenType || tokenType.toLowerCase() === 'bearer') return 'Bearer';
  return tokenType;
}

/** The API view of a connection: never a token. */
export function toConnectionResponse(item: ConnectionItem, now = new Date()): ConnectionResponse {
  return {
    object: 'oauth_connection',
    id: item.id,
    oauth_app_id: item.app_id,
    workspace_id: item.workspace_id,
    user_id: item.user_id,
    status: effectiveStatus(item, now),
    source: item.source,
    scopes: item.scopes,
    token_type: item.token_type,
    access_token: '[hidden]',
    has_refresh_token: !!item.refresh_token_sealed,
    token_expires_at: item.token_expires_at ?? null,
    last_refreshed_at: item.last_refreshed_at ?? null,
    next_refresh_at: item.next_refresh_at ?? null,
    refresh_attempts: item.refresh_attempts ?? 0,
    last_error: item.last_error
      ? {
          code: item.last_error.code,
          description: item.last_error.description ?? null,
          at: item.last_error.at,
        }
      : null,
    created_at: item.created_at,
    updated_at: item.updated_at,
  };
}
