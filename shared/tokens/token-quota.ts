/**
 * The token quota of a user in a workspace (T8): the slot a token write takes or frees inside its
 * own transaction, and the pruning of expired tokens' slots when the cap is reached.
 */
import { GetCommand, type TransactWriteCommandInput, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { db, tableName } from '#shared/db/client.ts';
import { keys } from '#shared/db/keys.ts';
import { ConflictError } from '#shared/errors.ts';

type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

const epoch = (iso: string) => Math.floor(Date.parse(iso) / 1000);

/** At most this many tokens per user and workspace hold a slot: those neither revoked nor expired. */
export const MAX_ACTIVE_TOKENS = 50;

/**
 * The token quota of a user in a workspace (`WS#<ws>` / `TOKENQUOTA#<user>`): a map `slots` of
 * token id → expiry (epoch seconds). Creating a token adds its slot under `size(slots) < max` in
 * the create transaction; revoking removes it; expired slots are pruned when the cap is reached.
 * (The sort key does not start with `APITOKEN#`, so token queries never see it.)
 */
export const quotaKey = keys.apiTokenQuota;

/** Creates the quota item with an empty slot map unless it exists (slot updates need the map). */
export async function ensureQuota(workspaceId: string, userId: string): Promise<void> {
  await db().send(
    new UpdateCommand({
      TableName: tableName(),
      Key: quotaKey(workspaceId, userId),
      UpdateExpression:
        'SET entity = if_not_exists(entity, :e), workspace_id = :ws, user_id = :u, slots = if_not_exists(slots, :empty)',
      ExpressionAttributeValues: { ':e': 'ApiTokenQuota', ':ws': workspaceId, ':u': userId, ':empty': {} },
    }),
  );
}

/**
 * Takes (or keeps) the slot of token `id` with its expiry, under the cap: a token that already
 * holds a slot keeps it; a new one needs `size(slots) < MAX_ACTIVE_TOKENS`.
 */
export function takeSlot(workspaceId: string, userId: string, id: string, expiresAt: string): TransactItem {
  return {
    Update: {
      TableName: tableName(),
      Key: quotaKey(workspaceId, userId),
      UpdateExpression: 'SET slots.#id = :exp',
      ConditionExpression: 'attribute_exists(slots.#id) OR size(slots) < :max',
      ExpressionAttributeNames: { '#id': id },
      ExpressionAttributeValues: { ':exp': epoch(expiresAt), ':max': MAX_ACTIVE_TOKENS },
    },
  };
}

/**
 * Frees the slots of expired tokens; true when at least one was freed. Called when the cap is
 * reached, so expired tokens never hold slots for long.
 */
export async function pruneExpiredSlots(
  workspaceId: string,
  userId: string,
  now = new Date(),
): Promise<boolean> {
  const { Item } = await db().send(
    new GetCommand({ TableName: tableName(), Key: quotaKey(workspaceId, userId), ConsistentRead: true }),
  );
  const slots = (Item?.slots ?? {}) as Record<string, number>;
  const nowSec = Math.floor(now.getTime() / 1000);
  const expired = Object.keys(slots).filter((id) => Number(slots[id]) <= nowSec);
  if (!expired.length) return false;
  await db().send(
    new UpdateCommand({
      TableName: tableName(),
      Key: quotaKey(workspaceId, userId),
      UpdateExpression: `REMOVE ${expired.map((_, i) => `slots.#s${i}`).join(', ')}`,
      ExpressionAttributeNames: Object.fromEntries(expired.map((id, i) => [`#s${i}`, id])),
    }),
  );
  return true;
}

/** The 409 of a token write that found the quota full. */
export const quotaFull = () =>
  new ConflictError(
    `You have ${MAX_ACTIVE_TOKENS} tokens in this workspace, the most one user may hold; revoke one you no longer need first.`,
    { extra: { max_active_tokens: MAX_ACTIVE_TOKENS } },
  );
