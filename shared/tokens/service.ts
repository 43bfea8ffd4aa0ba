import { config } from '#shared/config.ts';
import { ForbiddenError, ValidationError } from '#shared/errors.ts';
import type { Caller } from '#shared/http/caller.ts';
import type { CreateTokenInput, TokenView, UpdateTokenInput } from './schemas.ts';
import { SCOPES, scopesBeyondRole } from './scopes.ts';
import { getToken as getTokenItem } from './token-store.ts';
import { toView } from './token-views.ts';
import * as writes from './token-writes.ts';

const DAY_MS = 86_400_000;

/** The expiry to use: the one asked for (in the future, not past the maximum) or the default. */
export function resolveExpiry(requested: string | undefined, now = new Date()): string {
  const cfg = config();
  if (!requested) return new Date(now.getTime() + cfg.API_TOKEN_EXPIRY_DAYS * DAY_MS).toISOString();
  const at = Date.parse(requested);
  if (at <= now.getTime()) {
    throw new ValidationError('expires_at must be in the future.', [
      { path: 'body.expires_at', message: 'Must be in the future' },
    ]);
  }
  const max = now.getTime() + cfg.API_TOKEN_MAX_EXPIRY_DAYS * DAY_MS;
  if (at > max) {
    throw new ValidationError(`expires_at may be at most ${cfg.API_TOKEN_MAX_EXPIRY_DAYS} days away.`, [
      { path: 'body.expires_at', message: `Must be before ${new Date(max).toISOString()}` },
    ]);
  }
  return new Date(at).toISOString();
}

/** A token with its value (creation and rotation only). */
export type TokenWithValue = TokenView & { token: string };

/** Throws 403 naming the scopes of `scopes` that `role` may not grant. */
function assertWithinRole(role: Caller['role'], scopes: string[], what: string, operator = false): void {
  const beyond = scopesBeyondRole(scopes, role, operator);
  if (beyond.length) {
    throw new ForbiddenError(`Your role '${role}' cannot ${what}: ${beyond.join(', ')}.`, {
      extra: { forbidden_scopes: beyond },
    });
  }
}

/**
 * A token may be used again (re-activated, rotated) only while its scopes stay within the
 * caller's current role: a user demoted since creating it cannot revive its admin scopes.
 */
const withinCallerRole =
  (caller: Caller): writes.TokenGuard =>
  (current) =>
    assertWithinRole(
      caller.role,
      current.scopes,
      'hold the scopes of this token',
      current.operator === true && caller.operator === true,
    );

/**
 * Creates a token for the session user in its workspace, with scopes no wider than its role. The
 * role is the one authentication held the session to (the membership record wins over an older
 * session's claim), and the transaction checks that record has not moved since (409 if it has).
 */
export async function createToken(caller: Caller, input: CreateTokenInput): Promise<TokenWithValue> {
  assertWithinRole(caller.role, input.scopes, 'grant', caller.operator === true);
  const { item, value } = await writes.createToken({
    userId: caller.userId,
    workspaceId: caller.workspaceId,
    role: caller.role,
    name: input.name,
    scopes: input.scopes,
    operator: caller.operator === true,
    expiresAt: resolveExpiry(input.expires_at),
    membershipAsOf: caller.membershipAsOf,
  });
  return { ...toView(item), token: value };
}

export async function getToken(caller: Caller, id: string): Promise<TokenView> {
  return toView(await getTokenItem(caller.workspaceId, caller.userId, id));
}

/**
 * Renames or (de)activates; re-activation re-checks the scopes against the caller's current role
 * and, like creation, that the membership record did not move since authentication.
 */
export async function updateToken(caller: Caller, id: string, patch: UpdateTokenInput): Promise<TokenView> {
  return toView(
    await writes.updateToken(caller.workspaceId, caller.userId, id, patch, {
      role: caller.role,
      guard: withinCallerRole(caller),
      membershipAsOf: caller.membershipAsOf,
    }),
  );
}

export async function revokeToken(caller: Caller, id: string): Promise<void> {
  await writes.revokeToken(caller.workspaceId, caller.userId, id);
}

/**
 * Rotates after re-checking the scopes against the caller's current role, which the new value
 * carries, under the membership record authentication read (409 if it moved).
 */
export async function rotateToken(caller: Caller, id: string, expiresAt?: string): Promise<TokenWithValue> {
  const { item, value } = await writes.rotateToken(
    caller.workspaceId,
    caller.userId,
    id,
    resolveExpiry(expiresAt),
    { role: caller.role, guard: withinCallerRole(caller), membershipAsOf: caller.membershipAsOf },
  );
  return { ...toView(item), token: value };
}

export async function tokenScopes(caller: Caller, id: string) {
  const token = await getTokenItem(caller.workspaceId, caller.userId, id);
  return { token_id: token.id, scopes: SCOPES.filter((s) => token.scopes.includes(s.name)) };
}

export { listTokens } from './token-queries.ts';
