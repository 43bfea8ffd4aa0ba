/**
 * The items of an API token and their single-item access: the metadata item (T2) and the
 * authentication record (T1), read by authentication (hot path), the usage recorder, the membership
 * consumer and the token writes; the latest use recorded on the metadata.
 */
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { sha256Hex } from '#shared/crypto.ts';
import { db, tableName } from '#shared/db/client.ts';
import { isConditionFailed } from '#shared/db/conditions.ts';
import { keys } from '#shared/db/keys.ts';
import { NotFoundError } from '#shared/errors.ts';
import type { WorkspaceRole } from '#shared/http/caller.ts';
import type { Plan } from './plans.ts';

/** The metadata item of a token (`WS#<ws>` / `APITOKEN#<user>#<id>`). */
export interface TokenItem {
  id: string;
  name: string;
  user_id: string;
  workspace_id: string;
  /** Role of the user when the token was made (routes that need the admin role check it). */
  role: WorkspaceRole;
  scopes: string[];
  /** Created in a PronaFlow operator's session: the token acts as an operator (plugin publishing). */
  operator?: boolean;
  is_active: boolean;
  created_at: string;
  updated_at: string;
  expires_at: string;
  last_used_at?: string;
  last_used_ip?: string;
  rotated_at?: string;
  revoked_at?: string;
  token_hash: string;
  version: number;
  ttl: number;
}

/** The authentication record (`TOKENHASH#<sha256>`): all the hot path needs, in one item. */
export interface TokenAuthRecord {
  token_id: string;
  user_id: string;
  workspace_id: string;
  role: WorkspaceRole;
  scopes: string[];
  operator?: boolean;
  is_active: boolean;
  expires_at: string;
  plan: Plan;
  plan_changed_at?: string;
  ttl: number;
}

/** Token hash under API_TOKEN_HASH_ALGORITHM (only sha256 today). */
export const hashToken = (value: string): string => sha256Hex(value);

const notFound = (id: string) => new NotFoundError(`No token '${id}' of yours in this workspace.`);

/** A token of this user in this workspace (404 for anyone else's, expired-by-TTL included). */
export async function getToken(workspaceId: string, userId: string, id: string): Promise<TokenItem> {
  const { Item } = await db().send(
    new GetCommand({
      TableName: tableName(),
      Key: keys.apiToken(workspaceId, userId, id),
      ConsistentRead: true,
    }),
  );
  if (!Item || Item.user_id !== userId || (Item.ttl && Item.ttl <= Date.now() / 1000)) throw notFound(id);
  return Item as TokenItem;
}

/** The authentication record for a token hash: one strongly consistent GetItem. */
export async function findAuthRecord(hash: string): Promise<TokenAuthRecord | undefined> {
  const { Item } = await db().send(
    new GetCommand({ TableName: tableName(), Key: keys.apiTokenHash(hash), ConsistentRead: true }),
  );
  return Item as TokenAuthRecord | undefined;
}

/** Records the latest use of a token; an older use never overwrites a newer one. */
export async function touchLastUsed(input: {
  workspaceId: string;
  userId: string;
  tokenId: string;
  at: string;
  ip?: string;
}): Promise<void> {
  try {
    await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: keys.apiToken(input.workspaceId, input.userId, input.tokenId),
        UpdateExpression: 'SET last_used_at = :at, last_used_ip = :ip',
        ConditionExpression:
          'attribute_exists(pk) AND (attribute_not_exists(last_used_at) OR last_used_at < :at)',
        ExpressionAttributeValues: { ':at': input.at, ':ip': input.ip ?? null },
      }),
    );
  } catch (err) {
    if (!isConditionFailed(err)) throw err;
  }
}
