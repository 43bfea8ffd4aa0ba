/** The token list of the API (T3): a user's tokens in a workspace, newest first, by status. */
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { db, tableName } from '#shared/db/client.ts';
import { keys } from '#shared/db/keys.ts';
import { listCursor, type Page } from '#shared/db/pagination.ts';
import type { TokenView } from './schemas.ts';
import type { TokenItem } from './token-store.ts';
import { toView } from './token-views.ts';

const STATUS_FILTERS: Record<TokenView['status'], string> = {
  active: 'attribute_not_exists(revoked_at) AND is_active = :t AND expires_at > :now',
  inactive: 'attribute_not_exists(revoked_at) AND is_active = :f AND expires_at > :now',
  expired: 'attribute_not_exists(revoked_at) AND expires_at <= :now',
  revoked: 'attribute_exists(revoked_at)',
};

/** The user's tokens in the workspace, newest first, optionally by status. */
export async function listTokens(
  workspaceId: string,
  userId: string,
  opts: { limit: number; cursor?: string; status?: TokenView['status']; now?: Date },
): Promise<Page<TokenView>> {
  const now = opts.now ?? new Date();
  const pk = keys.workspace(workspaceId);
  const cursor = listCursor({ list: 'tokens', key: { pk, sk: { prefix: keys.apiTokensOfUser(userId) } } });
  let start = cursor.decode(opts.cursor);
  const values: Record<string, unknown> = {
    ':pk': pk,
    ':sk': keys.apiTokensOfUser(userId),
    ':nowe': Math.floor(now.getTime() / 1000),
  };
  let filter = '#ttl > :nowe';
  if (opts.status) {
    filter += ` AND ${STATUS_FILTERS[opts.status]}`;
    if (opts.status !== 'revoked') values[':now'] = now.toISOString();
    if (opts.status === 'active') values[':t'] = true;
    if (opts.status === 'inactive') values[':f'] = false;
  }
  const data: TokenView[] = [];
  // Filters can thin a page: read on (bounded) until the page is full, never past it.
  for (let round = 0; round < 10 && data.length < opts.limit; round++) {
    const page = await db().send(
      new QueryCommand({
        TableName: tableName(),
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :sk)',
        FilterExpression: filter,
        ExpressionAttributeNames: { '#ttl': 'ttl' },
        ExpressionAttributeValues: values,
        ScanIndexForward: false,
        Limit: opts.limit - data.length,
        ExclusiveStartKey: start,
      }),
    );
    for (const item of page.Items ?? []) data.push(toView(item as TokenItem, now));
    start = page.LastEvaluatedKey as typeof start;
    if (!start) break;
  }
  return { data, next_cursor: cursor.encode(start) };
}
