import { TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import * as v from 'valibot';
import { addServiceCounters, counterTransactItems } from '#shared/counters.ts';
import { db, tableName } from '#shared/db/client.ts';
import { isConditionFailed, isTransactionCanceled } from '#shared/db/conditions.ts';
import { keys } from '#shared/db/keys.ts';
import { queryAll } from '#shared/db/query.ts';
import { NotFoundError } from '#shared/errors.ts';
import type { PronaFlowEvent } from '#shared/events/envelope.ts';
import type { WorkspaceRole } from '#shared/http/caller.ts';
import { logger } from '#shared/logger.ts';
import { check } from '#shared/validation.ts';
import { membershipKey, membershipOrder } from './member-record.ts';
import { scopesBeyondRole } from './scopes.ts';
import { activeToken } from './token-counters.ts';
import { getToken, type TokenItem } from './token-store.ts';
import { revokeToken } from './token-writes.ts';

export { membershipKey } from './member-record.ts';

/** Event types that end a user's membership of a workspace (the webhook catalog calls it `member.removed`). */
export const MEMBER_REMOVED_TYPES = ['workspace.member_removed', 'member.removed'];
export const MEMBER_ROLE_CHANGED_TYPE = 'workspace.member_role_changed';
/** Event types that (re-)admit a user to a workspace with a role (the webhook catalog: `member.added`). */
export const MEMBER_ADDED_TYPES = ['workspace.member_added', 'member.added'];
/** Every event type the membership consumer applies. */
export const MEMBERSHIP_EVENT_TYPES = [
  ...MEMBER_REMOVED_TYPES,
  MEMBER_ROLE_CHANGED_TYPE,
  ...MEMBER_ADDED_TYPES,
];

const userId = v.pipe(v.string(), v.minLength(1), v.maxLength(128));
const role = v.picklist(['member', 'admin']);
export const memberRemovedData = v.object({ user_id: userId });
export const memberRoleChangedData = v.object({ user_id: userId, role });
/** A member added without a role is a plain member. */
export const memberAddedData = v.object({ user_id: userId, role: v.optional(role, 'member') });

type Change = { kind: 'removed' } | { kind: 'role'; role: WorkspaceRole };

/**
 * Applies `workspace.member_removed` (revokes every token of the user in the workspace),
 * `workspace.member_role_changed` (deactivates the user's tokens holding scopes beyond the new
 * role; the others carry the new role from then on) or `workspace.member_added` (recorded like a
 * role change: the user is a member again with that role). Ordered by `occurred_at` through the
 * membership item, which authentication also holds older sessions to; idempotent (a replay finds
 * the tokens already revoked or deactivated), and a malformed event is logged and acknowledged.
 */
export async function applyMembershipChange(event: PronaFlowEvent): Promise<'applied' | 'stale' | 'ignored'> {
  const change = parseChange(event);
  if (!change) {
    logger.warn('membership event with invalid data ignored', { event_id: event.id, type: event.type });
    return 'ignored';
  }
  const { user, ...what } = change;
  const at = new Date(event.occurred_at).toISOString();
  const state = what.kind === 'removed' ? 'removed' : what.role;
  try {
    await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: membershipKey(event.workspace_id, user),
        UpdateExpression:
          'SET entity = :e, workspace_id = :ws, user_id = :u, #state = :state, changed_at = :at, #order = :order, event_id = :id',
        // A later change wins; of two of the same instant, the more restrictive (see membershipOrder).
        ConditionExpression: 'attribute_not_exists(#order) OR #order <= :order',
        ExpressionAttributeNames: { '#state': 'state', '#order': 'order' },
        ExpressionAttributeValues: {
          ':e': 'ApiTokenMembership',
          ':ws': event.workspace_id,
          ':u': user,
          ':state': state,
          ':at': at,
          ':order': membershipOrder(at, state),
          ':id': event.id,
        },
      }),
    );
  } catch (err) {
    if (isConditionFailed(err)) return 'stale';
    throw err;
  }
  for await (const token of tokensOfUser(event.workspace_id, user)) {
    if (token.revoked_at) continue;
    if (what.kind === 'removed') await revokeToken(event.workspace_id, user, token.id);
    else await restrictToRole(event.workspace_id, user, token.id, what.role);
  }
  return 'applied';
}

function parseChange(event: PronaFlowEvent): (Change & { user: string }) | undefined {
  if (MEMBER_REMOVED_TYPES.includes(event.type)) {
    const data = check(memberRemovedData, event.data);
    return data.success ? { kind: 'removed', user: data.data.user_id } : undefined;
  }
  const data = check(
    MEMBER_ADDED_TYPES.includes(event.type) ? memberAddedData : memberRoleChangedData,
    event.data,
  );
  return data.success ? { kind: 'role', role: data.data.role, user: data.data.user_id } : undefined;
}

/** Every token of a user in a workspace, read strongly consistent (one created just before is seen). */
async function* tokensOfUser(workspaceId: string, user: string): AsyncGenerator<TokenItem> {
  const items = queryAll({
    KeyConditionExpression: 'pk = :pk AND begins_with(sk, :sk)',
    ExpressionAttributeValues: { ':pk': keys.workspace(workspaceId), ':sk': keys.apiTokensOfUser(user) },
    ConsistentRead: true,
  });
  for await (const item of items) yield item as unknown as TokenItem;
}

/**
 * Brings one token in line with its owner's new role: deactivated when it holds scopes beyond it
 * (re-activating it then needs the role again), and the role recorded on both items so routes
 * that need the admin role see the change. Expired tokens are left alone (rotating one re-checks
 * the role anyway).
 */
async function restrictToRole(workspaceId: string, user: string, id: string, role: WorkspaceRole) {
  for (let attempt = 0; ; attempt++) {
    let current: TokenItem;
    try {
      current = await getToken(workspaceId, user, id);
    } catch (err) {
      if (err instanceof NotFoundError) return; // gone (TTL) since the query
      throw err;
    }
    if (current.revoked_at || current.expires_at <= new Date().toISOString()) return;
    const deactivate =
      current.is_active && scopesBeyondRole(current.scopes, role, current.operator === true).length > 0;
    if (!deactivate && current.role === role) return;
    const counted = deactivate ? [activeToken(current.expires_at, -1)] : [];
    const values: Record<string, unknown> = { ':role': role, ':v': current.version };
    const sets = ['#role = :role'];
    if (deactivate) {
      sets.push('is_active = :f');
      values[':f'] = false;
    }
    try {
      await db().send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: tableName(),
                Key: keys.apiToken(workspaceId, user, id),
                UpdateExpression: `SET ${sets.join(', ')}, updated_at = :now, version = :next`,
                ConditionExpression: 'version = :v AND attribute_not_exists(revoked_at)',
                ExpressionAttributeNames: { '#role': 'role' },
                ExpressionAttributeValues: {
                  ...values,
                  ':now': new Date().toISOString(),
                  ':next': current.version + 1,
                },
              },
            },
            {
              Update: {
                TableName: tableName(),
                Key: keys.apiTokenHash(current.token_hash),
                UpdateExpression: `SET ${sets.join(', ')}`,
                ConditionExpression: 'attribute_exists(pk)',
                ExpressionAttributeNames: { '#role': 'role' },
                ExpressionAttributeValues: deactivate ? { ':role': role, ':f': false } : { ':role': role },
              },
            },
            ...counterTransactItems(workspaceId, counted),
          ],
        }),
      );
      await addServiceCounters(counted);
      if (deactivate) logger.info('token deactivated: scopes beyond the new role', { token_id: id, role });
      return;
    } catch (err) {
      // The token moved (rotated, renamed, revoked) in between: read it again.
      if (attempt >= 5 || !isTransactionCanceled(err)) throw err;
    }
  }
}
