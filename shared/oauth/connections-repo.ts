import {
  BatchWriteCommand,
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { db, tableName } from '#shared/db/client.ts';
import { isConditionFailed } from '#shared/db/conditions.ts';
import { keys } from '#shared/db/keys.ts';
import { LEASE_FREE, leaseValues } from '#shared/db/lease.ts';
import { type Page, queryPage } from '#shared/db/pagination.ts';
import { updateExpression } from '#shared/db/update.ts';
import { ConflictError, NotFoundError } from '#shared/errors.ts';
import { countConnection } from './counters.ts';

export type ConnectionStatus = 'ACTIVE' | 'ERROR' | 'EXPIRED';

/** A stored OAuth connection. Tokens are only ever held sealed (shared/crypto.ts, AAD = `<id>#access` / `<id>#refresh`). */
export interface ConnectionItem {
  pk: string;
  sk: string;
  entity: 'OAuthConnection';
  id: string;
  workspace_id: string;
  user_id: string;
  app_id: string;
  source: 'direct' | 'authorization_code';
  status: ConnectionStatus;
  scopes: string[];
  token_type: string;
  access_token_sealed: string;
  refresh_token_sealed?: string;
  /** Key id of the sealed values (both are sealed together), for the re-encrypt job. */
  sealed_key_id: string;
  token_expires_at: string;
  refresh_token_issued_at?: string;
  last_refreshed_at?: string;
  next_refresh_at?: string;
  refresh_attempts: number;
  last_error?: { code: string; description?: string; at: string };
  lease_owner?: string;
  /** Epoch ms until which `lease_owner` alone may refresh. */
  lease_until?: number;
  /** Incremented on every token write (optimistic concurrency for re-sealing). */
  version: number;
  created_at: string;
  updated_at: string;
  gsi1pk?: string;
  gsi1sk?: string;
}

export type ConnectionKey = Pick<ConnectionItem, 'pk' | 'sk'>;

/** Stores a new connection (conditional create), then counts it (shared/oauth/counters.ts). */
export async function insertConnection(item: ConnectionItem): Promise<void> {
  await db().send(
    new PutCommand({ TableName: tableName(), Item: item, ConditionExpression: 'attribute_not_exists(pk)' }),
  );
  await countConnection(undefined, item);
}

/** A user's connection in a workspace; undefined for an unknown id or another user's connection. */
export async function getConnection(
  workspaceId: string,
  userId: string,
  id: string,
): Promise<ConnectionItem | undefined> {
  const { Item } = await db().send(
    new GetCommand({
      TableName: tableName(),
      Key: keys.oauthConnection(workspaceId, userId, id),
      ConsistentRead: true,
    }),
  );
  const item = Item as ConnectionItem | undefined;
  return item && item.user_id === userId && item.workspace_id === workspaceId ? item : undefined;
}

/** Re-reads a connection by its key (strongly consistent). */
export async function reload(key: ConnectionKey): Promise<ConnectionItem | undefined> {
  const { Item } = await db().send(
    new GetCommand({ TableName: tableName(), Key: { pk: key.pk, sk: key.sk }, ConsistentRead: true }),
  );
  return Item as ConnectionItem | undefined;
}

/** A page of a user's connections in a workspace, newest first, optionally filtered. */
export async function listConnections(
  workspaceId: string,
  userId: string,
  opts: { limit: number; cursor?: string; appId?: string },
): Promise<Page<ConnectionItem>> {
  const { pk, skPrefix } = keys.oauthConnectionsOf(workspaceId, userId);
  const filters: string[] = [];
  const values: Record<string, unknown> = { ':pk': pk, ':prefix': skPrefix };
  if (opts.appId) {
    filters.push('app_id = :app');
    values[':app'] = opts.appId;
  }
  // Users share the workspace partition: the cursor must also point into the caller's own range.
  const page = await queryPage(
    {
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: values,
      ScanIndexForward: false,
      ...(filters.length ? { FilterExpression: filters.join(' AND ') } : {}),
    },
    {
      scope: { list: 'oauth-connections', key: { pk, sk: { prefix: skPrefix } } },
      limit: opts.limit,
      cursor: opts.cursor,
    },
  );
  return { data: page.items as unknown as ConnectionItem[], next_cursor: page.next_cursor };
}

/**
 * Deletes a connection and every item it owns (the partition `keys.oauthConnectionOwned(id)`,
 * where bindings live). The owned items go first and the connection last, conditionally: should
 * this stop half way, the connection is still there and deleting it again finishes the job (no
 * orphans). A connection already gone is a NotFoundError. Returns the number of owned items deleted.
 */
export async function deleteConnection(item: ConnectionItem): Promise<number> {
  const ownedPk = keys.oauthConnectionOwned(item.id);
  let deleted = 0;
  let start: Record<string, unknown> | undefined;
  do {
    const page = await db().send(
      new QueryCommand({
        TableName: tableName(),
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': ownedPk },
        ProjectionExpression: 'pk, sk',
        ConsistentRead: true,
        ExclusiveStartKey: start,
      }),
    );
    const keysToDelete = (page.Items ?? []) as { pk: string; sk: string }[];
    for (let i = 0; i < keysToDelete.length; i += 25) {
      let requests = keysToDelete.slice(i, i + 25).map((k) => ({ DeleteRequest: { Key: k } }));
      for (let attempt = 0; requests.length && attempt < 8; attempt++) {
        const out = await db().send(new BatchWriteCommand({ RequestItems: { [tableName()]: requests } }));
        requests = (out.UnprocessedItems?.[tableName()] ?? []) as typeof requests;
        if (requests.length) await new Promise((r) => setTimeout(r, 50 * 2 ** attempt));
      }
      if (requests.length) throw new Error('Could not delete every item of the connection');
    }
    deleted += keysToDelete.length;
    start = page.LastEvaluatedKey;
  } while (start);
  let old: ConnectionItem | undefined;
  try {
    const out = await db().send(
      new DeleteCommand({
        TableName: tableName(),
        Key: { pk: item.pk, sk: item.sk },
        ConditionExpression: 'attribute_exists(pk)',
        ReturnValues: 'ALL_OLD',
      }),
    );
    old = out.Attributes as ConnectionItem | undefined;
  } catch (err) {
    if (isConditionFailed(err)) throw new NotFoundError(`There is no connection ${item.id}.`, { cause: err });
    throw err;
  }
  // Only the delete that removed it gets it back: counted out once.
  await countConnection(old, undefined);
  return deleted;
}

/**
 * Takes the refresh lease of a connection when nobody holds a live one; returns the connection
 * as it is now (with its freshest tokens) or undefined when someone else holds the lease.
 */
export async function acquireLease(
  key: ConnectionKey,
  owner: string,
  nowMs: number,
  leaseMs: number,
): Promise<ConnectionItem | undefined> {
  try {
    const out = await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: { pk: key.pk, sk: key.sk },
        UpdateExpression: 'SET lease_owner = :me, lease_until = :leaseUntil',
        ConditionExpression: `attribute_exists(pk) AND ${LEASE_FREE}`,
        ExpressionAttributeValues: { ':me': owner, ...leaseValues(nowMs, leaseMs) },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return out.Attributes as ConnectionItem;
  } catch (err) {
    if (isConditionFailed(err)) return undefined;
    throw err;
  }
}

/** Gives the lease back without changing anything else (no-op when it is no longer ours). */
export async function releaseLease(key: ConnectionKey, owner: string): Promise<void> {
  try {
    await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: { pk: key.pk, sk: key.sk },
        UpdateExpression: 'REMOVE lease_owner, lease_until',
        ConditionExpression: 'lease_owner = :me',
        ExpressionAttributeValues: { ':me': owner },
      }),
    );
  } catch (err) {
    if (!isConditionFailed(err)) throw err;
  }
}

/**
 * Writes the outcome of a refresh and releases the lease: `set` attributes are written, `remove`
 * ones dropped. Written only while we hold the lease, or, should it have lapsed, while the stored
 * refresh token is still the one we used: a newer token is never overwritten, and a rotated one
 * we received is never lost to a lapsed lease.
 */
export async function writeRefreshOutcome(
  key: ConnectionKey,
  owner: string,
  usedRefreshSealed: string | undefined,
  set: Record<string, unknown>,
  remove: string[],
): Promise<ConnectionItem> {
  const update = updateExpression({
    set,
    remove: [...remove, 'lease_owner', 'lease_until'],
    clauses: ['version = version + :one'],
  });
  // The item as it was (ALL_OLD): the counts move from exactly that; the new one is built from it.
  const attempt = async (condition: string, extra: Record<string, unknown>) => {
    const out = await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: { pk: key.pk, sk: key.sk },
        ...update,
        ConditionExpression: condition,
        ExpressionAttributeValues: { ...update.ExpressionAttributeValues, ':one': 1, ...extra },
        ReturnValues: 'ALL_OLD',
      }),
    );
    const old = out.Attributes as ConnectionItem;
    const saved = { ...old, ...set, version: old.version + 1 } as ConnectionItem & Record<string, unknown>;
    for (const name of [...remove, 'lease_owner', 'lease_until']) delete saved[name];
    await countConnection(old, saved);
    return saved as ConnectionItem;
  };
  try {
    return await attempt('lease_owner = :me', { ':me': owner });
  } catch (err) {
    if (!isConditionFailed(err) || !usedRefreshSealed) throw mapMissing(err);
  }
  try {
    return await attempt('refresh_token_sealed = :used', { ':used': usedRefreshSealed });
  } catch (err) {
    throw mapMissing(err);
  }
}

function mapMissing(err: unknown): unknown {
  return isConditionFailed(err)
    ? new ConflictError('The connection changed while it was being refreshed; try again.', { cause: err })
    : err;
}

/** Connections whose refresh is due by `until`, from one gsi1 hour bucket. */
export async function dueInBucket(bucket: string, until: Date, limit = 100): Promise<ConnectionItem[]> {
  const items: ConnectionItem[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const out = await db().send(
      new QueryCommand({
        TableName: tableName(),
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :b AND gsi1sk <= :until',
        ExpressionAttributeValues: { ':b': bucket, ':until': `${until.toISOString()}#~` },
        ExclusiveStartKey: start,
        Limit: limit,
      }),
    );
    items.push(...((out.Items ?? []) as ConnectionItem[]));
    start = out.LastEvaluatedKey;
  } while (start && items.length < limit);
  return items;
}

/** One page of connections sealed with another key than `currentKid` (re-encrypt job; consistent read, so a verification pass misses no recent write). */
export async function sealedWithOtherKey(
  currentKid: string,
  start: Record<string, unknown> | undefined,
): Promise<{ items: ConnectionItem[]; next: Record<string, unknown> | undefined }> {
  const out = await db().send(
    new ScanCommand({
      TableName: tableName(),
      FilterExpression: 'entity = :e AND sealed_key_id <> :kid',
      ExpressionAttributeValues: { ':e': 'OAuthConnection', ':kid': currentKid },
      ExclusiveStartKey: start,
      ConsistentRead: true,
      Limit: 200,
    }),
  );
  return { items: (out.Items ?? []) as ConnectionItem[], next: out.LastEvaluatedKey };
}

/** Replaces the sealed tokens if the connection is still at `version`; false when it moved on. */
export async function reseal(
  item: ConnectionItem,
  sealed: { access: string; refresh?: string; kid: string },
): Promise<boolean> {
  try {
    await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: { pk: item.pk, sk: item.sk },
        UpdateExpression: `SET access_token_sealed = :a, sealed_key_id = :kid, version = version + :one${
          sealed.refresh ? ', refresh_token_sealed = :r' : ''
        }`,
        ConditionExpression: 'version = :v',
        ExpressionAttributeValues: {
          ':a': sealed.access,
          ':kid': sealed.kid,
          ':one': 1,
          ':v': item.version,
          ...(sealed.refresh ? { ':r': sealed.refresh } : {}),
        },
      }),
    );
    return true;
  } catch (err) {
    if (isConditionFailed(err)) return false;
    throw err;
  }
}
