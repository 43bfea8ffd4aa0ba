import { keys } from '#shared/db/keys.ts';
import { ForbiddenError, UnauthorizedError } from '#shared/errors.ts';

/**
 * Tombstones of deleted users and workspaces (written by the lifecycle cascade's mark, the
 * moment a `user.deleted` or `workspace.deleted` event is accepted). Whoever loads a session's
 * context reads them in the same BatchGetItem as the membership record and the plan, so a
 * session request costs no extra round trip; API tokens need no read, the mark deactivates
 * their authentication records.
 */
export type DeletedSubject = 'user' | 'workspace';

/** The tombstone keys to read with a session's context (add them to its BatchGetItem). */
export function tombstoneKeys(workspaceId: string, userId: string): { pk: string; sk: string }[] {
  return [keys.deletedUser(userId), keys.deletedWorkspace(workspaceId)];
}

/** Which subject of a session is deleted, from the items its BatchGetItem returned. */
export function deletedAmong(
  items: readonly Record<string, unknown>[],
  workspaceId: string,
  userId: string,
): DeletedSubject | undefined {
  const user = keys.deletedUser(userId).pk;
  const workspace = keys.deletedWorkspace(workspaceId).pk;
  if (items.some((i) => i.pk === user)) return 'user';
  if (items.some((i) => i.pk === workspace)) return 'workspace';
  return undefined;
}

/** Refuses a session whose user (401) or workspace (403) PronaFlow deleted, whatever its `iat`. */
export function refuseDeleted(deleted: DeletedSubject, workspaceId: string): never {
  if (deleted === 'user') {
    throw new UnauthorizedError('PronaFlow deleted the user of this session.', { error: 'invalid_token' });
  }
  throw new ForbiddenError(`PronaFlow deleted workspace '${workspaceId}'.`, {
    extra: { workspace_id: workspaceId, reason: 'workspace_deleted' },
  });
}
