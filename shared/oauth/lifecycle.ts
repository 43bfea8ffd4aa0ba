/**
 * OAuth connections in the lifecycle cascades (shared/cascade.ts):
 * - `user.deleted`: SWEEP revokes each of the user's connections at its provider (RFC 7009, best
 *   effort, as `DELETE /oauth/connections/{id}` does), deletes what it owns (its bindings) and
 *   the connection, in every workspace (the `byUser` index), then the user's pending
 *   authorizations. No mark: only the user could reach them, and authentication refuses the
 *   user from the tombstone on.
 * - `oauth_app.deleted`: MARK records the app as deleted, so its connections are no longer served
 *   and no new one is made (./deleted-apps.ts); SWEEP finds its connections with a Scan (no index
 *   by app: app deletions are rare, a page per message) and revokes and deletes each.
 */
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { CascadeParticipant, CascadeSubject, SweepCursor, SweepPage } from '#shared/cascade.ts';
import { batchDelete } from '#shared/db/batch.ts';
import { userItemsPage } from '#shared/db/by-user.ts';
import { db, tableName } from '#shared/db/client.ts';
import { NotFoundError } from '#shared/errors.ts';
import { logger } from '#shared/logger.ts';
import { type ConnectionItem, reload } from './connections-repo.ts';
import { markAppDeleted } from './deleted-apps.ts';
import { revokeAndDelete } from './service.ts';

/** Connections per page: each may call its provider (two revocations), so pages are small. */
const CONNECTIONS_PER_PAGE = 10;
/** Items a Scan page of the app sweep reads (before its filter). */
const SCAN_PAGE = 1000;

/** Revokes and deletes one connection (true when it was still there). */
async function remove(key: { pk: string; sk: string }): Promise<boolean> {
  const item = await reload(key);
  if (!item) return false;
  try {
    await revokeAndDelete(item);
    return true;
  } catch (err) {
    if (err instanceof NotFoundError) return false; // deleted meanwhile
    throw err;
  }
}

async function sweepUser(s: CascadeSubject, cursor: SweepCursor | undefined): Promise<SweepPage> {
  const start = cursor?.start as Record<string, unknown> | undefined;
  if (cursor?.phase !== 'states') {
    const page = await userItemsPage(s.id, {
      skPrefix: 'OAUTHCONN#',
      entities: ['OAuthConnection'],
      limit: CONNECTIONS_PER_PAGE,
      start,
    });
    let deleted = 0;
    for (const c of page.items) if (await remove(c)) deleted++;
    return { deleted, next: page.next ? { start: page.next } : { phase: 'states' } };
  }
  const page = await userItemsPage(s.id, { skPrefix: 'STATE', entities: ['OAuthState'], limit: 200, start });
  await batchDelete(page.items.map((i) => ({ pk: i.pk, sk: i.sk })));
  return {
    deleted: page.items.length,
    ...(page.next ? { next: { phase: 'states', start: page.next } } : {}),
  };
}

async function sweepApp(s: CascadeSubject, cursor: SweepCursor | undefined): Promise<SweepPage> {
  const out = await db().send(
    new ScanCommand({
      TableName: tableName(),
      FilterExpression: 'entity = :e AND app_id = :a',
      ExpressionAttributeValues: { ':e': 'OAuthConnection', ':a': s.id },
      ProjectionExpression: 'pk, sk',
      Limit: SCAN_PAGE,
      ExclusiveStartKey: cursor?.start as Record<string, unknown> | undefined,
    }),
  );
  let deleted = 0;
  for (const c of (out.Items ?? []) as Pick<ConnectionItem, 'pk' | 'sk'>[]) if (await remove(c)) deleted++;
  if (deleted) logger.info('connections of a deleted app removed', { oauth_app_id: s.id, deleted });
  return { deleted, ...(out.LastEvaluatedKey ? { next: { start: out.LastEvaluatedKey } } : {}) };
}

/** The OAuth feature's participant (registered in shared/lifecycle/participants.ts). */
export const oauthParticipant: CascadeParticipant = {
  name: 'oauth',
  kinds: ['user', 'oauth_app'],
  mark: async (s) => {
    if (s.kind === 'oauth_app') await markAppDeleted(s.id, s.acceptedAt, s.eventId);
  },
  sweep: (s, cursor) => (s.kind === 'user' ? sweepUser(s, cursor) : sweepApp(s, cursor)),
};
