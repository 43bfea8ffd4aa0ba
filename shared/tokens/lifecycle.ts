/**
 * The tokens feature in the lifecycle cascades (shared/cascade.ts):
 * - `user.deleted`: MARK deactivates the authentication record of each of the user's tokens in
 *   every workspace (found through the `byUser` index), so the very next request with one is a
 *   401 and authentication still costs one GetItem; SWEEP deletes the user's tokens, their
 *   authentication records, quotas, membership records and usage logs (same index) and the
 *   rate-limit counters of the current and previous window; each active token's metadata is
 *   deleted on its own and counted out of its workspace's status counters (shared/counters.ts).
 * - `workspace.deleted`: MARK deactivates every token of the workspace (strongly consistent
 *   query of its partition); SWEEP deletes the tokens and their records, then each user's quota,
 *   usage logs and counters, the membership records, and the plan item.
 */
import { DeleteCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { CascadeParticipant, CascadeSubject, SweepCursor, SweepPage } from '#shared/cascade.ts';
import { config } from '#shared/config.ts';
import { addCounters } from '#shared/counters.ts';
import { batchDelete, forEachLimit, type ItemKey } from '#shared/db/batch.ts';
import { userItemsPage } from '#shared/db/by-user.ts';
import { db, tableName } from '#shared/db/client.ts';
import { isConditionFailed } from '#shared/db/conditions.ts';
import { keys } from '#shared/db/keys.ts';
import { queryAll } from '#shared/db/query.ts';
import { rateSubject } from './rate-limit.ts';
import { activeToken } from './token-counters.ts';
import type { TokenItem } from './token-store.ts';

/** Entities of this feature that carry `user_id` (so the `byUser` index finds them). */
export const TOKEN_USER_ENTITIES = [
  'ApiToken',
  'ApiTokenAuth',
  'ApiTokenQuota',
  'ApiTokenMembership',
  'ApiUsageLog',
] as const;

/** Authentication records deactivated side by side. */
const MARK_PARALLEL = 16;
/** After the last page, the index is read once more after this long (it lags behind writes). */
const RECHECK_SECONDS = 5;

/** Switches an authentication record off (absent records, already revoked, are fine). */
async function deactivate(authKey: ItemKey): Promise<void> {
  try {
    await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: authKey,
        UpdateExpression: 'SET is_active = :f, deactivated_by = :why',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':f': false, ':why': 'lifecycle' },
      }),
    );
  } catch (err) {
    if (!isConditionFailed(err)) throw err;
  }
}

async function markUser(userId: string): Promise<void> {
  let start: Record<string, unknown> | undefined;
  do {
    // Authentication records are the user's items whose sort key is TOKENHASH: a key condition.
    const page = await userItemsPage(userId, {
      skPrefix: 'TOKENHASH',
      entities: ['ApiTokenAuth'],
      limit: 500,
      start,
    });
    await forEachLimit(page.items, MARK_PARALLEL, (i) => deactivate({ pk: i.pk, sk: i.sk }));
    start = page.next;
  } while (start);
}

async function markWorkspace(workspaceId: string): Promise<void> {
  const hashes: string[] = [];
  for await (const t of queryAll({
    KeyConditionExpression: 'pk = :pk AND begins_with(sk, :sk)',
    ExpressionAttributeValues: { ':pk': keys.workspace(workspaceId), ':sk': keys.apiTokensOfWorkspace() },
    ProjectionExpression: 'token_hash, revoked_at',
    // A token created a moment before the event is seen (its auth record was written with it).
    ConsistentRead: true,
  })) {
    if (!t.revoked_at && typeof t.token_hash === 'string') hashes.push(t.token_hash);
  }
  await forEachLimit(hashes, MARK_PARALLEL, (h) => deactivate(keys.apiTokenHash(h)));
}

/** The rate-limit counters of a user in a workspace that can still be live (current and previous window). */
function counterKeys(workspaceId: string, userId: string, now = Date.now()): ItemKey[] {
  const w = config().RATE_LIMIT_WINDOW_SECONDS;
  const sec = Math.floor(now / 1000);
  const current = sec - (sec % w);
  return [current, current - w].flatMap((start) =>
    (['api', 'management'] as const).map((b) =>
      keys.rateWindow(rateSubject({ workspaceId, userId }, b), start),
    ),
  );
}

/**
 * Deletes a deleted user's token metadata one by one and takes each active one out of its
 * workspace's count: only the delete that removed the item gets it back, so a page run again
 * counts nothing twice.
 */
async function deleteCounted(key: ItemKey): Promise<void> {
  const out = await db().send(
    new DeleteCommand({ TableName: tableName(), Key: key, ReturnValues: 'ALL_OLD' }),
  );
  const old = out.Attributes as TokenItem | undefined;
  if (old?.is_active && !old.revoked_at)
    await addCounters(old.workspace_id, [activeToken(old.expires_at, -1)]);
}

async function sweepUser(
  s: CascadeSubject,
  cursor: SweepCursor | undefined,
  max: number,
): Promise<SweepPage> {
  const start = cursor?.start as Record<string, unknown> | undefined;
  const page = await userItemsPage(s.id, { entities: TOKEN_USER_ENTITIES, limit: max, start });
  const found: ItemKey[] = page.items.map((i) => ({ pk: i.pk, sk: i.sk }));
  const workspaces = new Set(page.items.flatMap((i) => (i.workspace_id ? [i.workspace_id] : [])));
  const counters = [...workspaces].flatMap((ws) => counterKeys(ws, s.id));
  const metadata = page.items.filter((i) => i.entity === 'ApiToken').map((i) => ({ pk: i.pk, sk: i.sk }));
  await forEachLimit(metadata, MARK_PARALLEL, deleteCounted);
  await batchDelete([
    ...page.items.filter((i) => i.entity !== 'ApiToken').map((i) => ({ pk: i.pk, sk: i.sk })),
    ...counters,
  ]);
  if (page.next) return { deleted: found.length, next: { start: page.next } };
  // Index pages done: read it once more a little later (writes of the last moment show then).
  if (cursor?.recheck && found.length === 0) return { deleted: 0 };
  return { deleted: found.length, next: { recheck: true }, delaySeconds: RECHECK_SECONDS };
}

type WorkspacePhase = 'tokens' | 'users' | 'members' | 'plan';

/** First page of what is left under a prefix of the workspace partition (strongly consistent). */
async function firstPage(workspaceId: string, prefix: string, limit: number) {
  const out = await db().send(
    new QueryCommand({
      TableName: tableName(),
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :sk)',
      ExpressionAttributeValues: { ':pk': keys.workspace(workspaceId), ':sk': prefix },
      Limit: limit,
      ConsistentRead: true,
    }),
  );
  return (out.Items ?? []) as (ItemKey & Record<string, unknown>)[];
}

async function sweepWorkspace(
  s: CascadeSubject,
  cursor: SweepCursor | undefined,
  max: number,
): Promise<SweepPage> {
  const ws = s.id;
  const phase = (cursor?.phase as WorkspacePhase | undefined) ?? 'tokens';
  if (phase === 'tokens') {
    // Deleted items leave the partition at once, so the first page is always what is left.
    const tokens = await firstPage(ws, keys.apiTokensOfWorkspace(), Math.max(1, Math.floor(max / 2)));
    // A revoked token's authentication record went with the revocation.
    const auth = tokens.flatMap((t) =>
      typeof t.token_hash === 'string' && !t.revoked_at ? [keys.apiTokenHash(t.token_hash)] : [],
    );
    await batchDelete([...auth, ...tokens.map((t) => ({ pk: t.pk, sk: t.sk }))]);
    return { deleted: auth.length + tokens.length, next: { phase: tokens.length ? 'tokens' : 'users' } };
  }
  if (phase === 'users') {
    // One user's quota at a time: their usage logs (a page per message), counters, then the quota.
    const [quota] = await firstPage(ws, 'TOKENQUOTA#', 1);
    if (!quota) return { deleted: 0, next: { phase: 'members' } };
    const user = String(quota.user_id);
    const logs = await db().send(
      new QueryCommand({
        TableName: tableName(),
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': keys.usageOfUser(ws, user) },
        ProjectionExpression: 'pk, sk',
        Limit: max,
        ConsistentRead: true,
      }),
    );
    const logKeys = (logs.Items ?? []) as ItemKey[];
    if (logKeys.length) return { deleted: await batchDelete(logKeys), next: { phase: 'users' } };
    await batchDelete([...counterKeys(ws, user), { pk: quota.pk, sk: quota.sk }]);
    return { deleted: 1, next: { phase: 'users' } };
  }
  if (phase === 'members') {
    const members = await firstPage(ws, 'TOKENMEMBER#', Math.max(1, Math.floor(max / 5)));
    const counters = members.flatMap((m) => counterKeys(ws, String(m.user_id)));
    await batchDelete([...counters, ...members.map((m) => ({ pk: m.pk, sk: m.sk }))]);
    return { deleted: members.length, next: { phase: members.length ? 'members' : 'plan' } };
  }
  await batchDelete([keys.workspacePlan(ws)]);
  return { deleted: 0 };
}

/** The tokens feature's participant (registered in functions/lifecycle/participants.ts). */
export const tokensParticipant: CascadeParticipant = {
  name: 'tokens',
  kinds: ['user', 'workspace'],
  mark: async (s) => {
    if (s.kind === 'user') await markUser(s.id);
    else if (s.kind === 'workspace') await markWorkspace(s.id);
  },
  sweep: async (s, cursor, { maxItems }) =>
    s.kind === 'user' ? sweepUser(s, cursor, maxItems) : sweepWorkspace(s, cursor, maxItems),
};
