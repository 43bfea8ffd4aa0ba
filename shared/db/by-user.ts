import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { db, tableName } from './client.ts';

/** What the `byUser` index projects: the keys, the entity and the workspace. */
export interface UserItemRef {
  pk: string;
  sk: string;
  user_id: string;
  entity?: string;
  workspace_id?: string;
}

/**
 * One page of a user's items in every workspace (access pattern U1, the `byUser` index, sorted
 * by the items' `sk`): those whose `sk` begins with `skPrefix` (a key condition: read units are
 * spent on those only) and, when given, of the given entities (a filter). The index is
 * eventually consistent: an item written a moment ago may be missing, one deleted a moment ago
 * may still show (so sweeps page on with `start` rather than reading from the top again).
 * `limit` bounds the items read, before the filter.
 */
export async function userItemsPage(
  userId: string,
  opts: { skPrefix?: string; entities?: readonly string[]; limit: number; start?: Record<string, unknown> },
): Promise<{ items: UserItemRef[]; next?: Record<string, unknown> }> {
  const entities = opts.entities ?? [];
  const out = await db().send(
    new QueryCommand({
      TableName: tableName(),
      IndexName: 'byUser',
      KeyConditionExpression: opts.skPrefix ? 'user_id = :u AND begins_with(sk, :p)' : 'user_id = :u',
      ...(entities.length
        ? { FilterExpression: `entity IN (${entities.map((_, i) => `:e${i}`).join(', ')})` }
        : {}),
      ExpressionAttributeValues: {
        ':u': userId,
        ...(opts.skPrefix ? { ':p': opts.skPrefix } : {}),
        ...Object.fromEntries(entities.map((e, i) => [`:e${i}`, e])),
      },
      Limit: opts.limit,
      ExclusiveStartKey: opts.start,
    }),
  );
  return { items: (out.Items ?? []) as UserItemRef[], next: out.LastEvaluatedKey };
}
