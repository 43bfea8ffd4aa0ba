import { DeleteCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { db, tableName } from '#shared/db/client.ts';
import { isConditionFailed } from '#shared/db/conditions.ts';
import { keys } from '#shared/db/keys.ts';

/** A pending authorization (authorization code + PKCE), keyed by the SHA-256 of its state. */
export interface StateItem {
  pk: string;
  sk: string;
  entity: 'OAuthState';
  user_id: string;
  workspace_id: string;
  app_id: string;
  scopes: string[];
  redirect_uri: string;
  /** The PKCE code_verifier, sealed with the state hash as AAD. */
  code_verifier_sealed: string;
  created_at: string;
  expires_at: string;
  ttl: number;
}

export async function insertState(item: StateItem): Promise<void> {
  await db().send(
    new PutCommand({ TableName: tableName(), Item: item, ConditionExpression: 'attribute_not_exists(pk)' }),
  );
}

/**
 * Consumes a state: deletes it and returns it only if it exists, has not expired and belongs to
 * `owner` (user and workspace). The conditional delete makes it single use even under concurrent
 * callbacks; a state presented by someone else is left untouched.
 */
export async function consumeState(
  stateHash: string,
  now: Date,
  owner: { userId: string; workspaceId: string },
): Promise<StateItem | undefined> {
  const condition = ['attribute_exists(pk)', 'expires_at > :now', 'user_id = :u', 'workspace_id = :ws'];
  const values = { ':now': now.toISOString(), ':u': owner.userId, ':ws': owner.workspaceId };
  try {
    const out = await db().send(
      new DeleteCommand({
        TableName: tableName(),
        Key: keys.oauthState(stateHash),
        ConditionExpression: condition.join(' AND '),
        ExpressionAttributeValues: values,
        ReturnValues: 'ALL_OLD',
      }),
    );
    return out.Attributes as StateItem | undefined;
  } catch (err) {
    if (isConditionFailed(err)) return undefined;
    throw err;
  }
}
