import type { CredentialVerifiers } from '#shared/auth/standing.ts';
import { ForbiddenError, UnauthorizedError } from '#shared/errors.ts';
import type { Caller } from '#shared/http/caller.ts';
import { isWellFormedToken, TOKEN_PREFIX } from './format.ts';
import { readSessionContext } from './member-record.ts';
import { findAuthRecord, hashToken } from './token-store.ts';

const invalid = () =>
  new UnauthorizedError('The API token is not valid: unknown, revoked, inactive or expired.', {
    error: 'invalid_token',
  });

/**
 * Authenticates an API token: shape and checksum first (a mistyped or made-up token costs no
 * database read), then one strongly consistent GetItem of its authentication record by SHA-256,
 * so revocation, deactivation and expiry apply to the very next request. The workspace the
 * request names is checked later, by {@link assertTokenWorkspace}, once the request is counted.
 */
export async function authenticateToken(value: string, now = new Date()): Promise<Caller> {
  if (!isWellFormedToken(value)) {
    throw new UnauthorizedError('The API token is malformed (its checksum does not match).', {
      error: 'invalid_token',
    });
  }
  const record = await findAuthRecord(hashToken(value));
  if (!record?.is_active || record.expires_at <= now.toISOString()) throw invalid();
  return {
    kind: 'token',
    userId: record.user_id,
    workspaceId: record.workspace_id,
    role: record.role,
    workspaces: [{ id: record.workspace_id, role: record.role }],
    tokenId: record.token_id,
    scopes: record.scopes,
    ...(record.operator === true ? { operator: true } : {}),
    plan: record.plan,
  };
}

/**
 * A token is bound to one workspace: `X-Workspace-Id` naming another → 403. Runs after the rate
 * limit (in `authorization()`), so such a request is counted against the token's user and
 * recorded in its usage logs like any other refused request.
 */
export function assertTokenWorkspace(caller: Caller, workspaceHeader: string | undefined): void {
  if (caller.kind !== 'token' || !workspaceHeader || workspaceHeader === caller.workspaceId) return;
  throw new ForbiddenError(`This token is bound to another workspace than '${workspaceHeader}'.`);
}

/**
 * What this feature gives authentication: the API-token verifier, and for sessions the
 * membership record its events keep (plus the workspace's plan), read in one round trip.
 */
export const tokenCredentials: CredentialVerifiers = {
  tokenPrefix: TOKEN_PREFIX,
  token: (value) => authenticateToken(value),
  sessionContext: readSessionContext,
};
