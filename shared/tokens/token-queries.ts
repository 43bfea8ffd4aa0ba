/** The token list of the API (T3): a user's tokens in a workspace, newest first, by status. */
import { keys } from '#shared/db/keys.ts';
import { type Page, queryPage } from '#shared/db/pagination.ts';
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
  const page = await queryPage(
    {
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :sk)',
      FilterExpression: filter,
      ExpressionAttributeNames: { '#ttl': 'ttl' },
      ExpressionAttributeValues: values,
      ScanIndexForward: false,
    },
    {
      scope: { list: 'tokens', key: { pk, sk: { prefix: keys.apiTokensOfUser(userId) } } },
      limit: opts.limit,
      cursor: opts.cursor,
    },
  );
  return {
    data: page.items.map((item) => toView(item as unknown as TokenItem, now)),
    next_cursor: page.next_cursor,
  };
}
