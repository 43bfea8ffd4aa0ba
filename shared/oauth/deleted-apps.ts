/**
 * OAuth apps PronaFlow deleted (`oauth_app.deleted`, written by the cascade's mark): `OAUTHAPP#<id>`
 * / `DELETED` (access pattern O8). From that moment the app's connections are no longer served
 * (404, left out of lists) and no new one is made, although the app may still be in the catalog
 * file; the cascade's sweep then revokes and deletes them. Costs one small read on the OAuth
 * connection routes, none on authentication.
 */
import { BatchGetCommand, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { db, tableName } from '#shared/db/client.ts';
import { NotFoundError } from '#shared/errors.ts';

export const deletedAppKey = (appId: string) => ({
  pk: `OAUTHAPP#${encodeURIComponent(appId)}`,
  sk: 'DELETED',
});

/** Records that the app was deleted (idempotent). */
export async function markAppDeleted(appId: string, at: string, eventId: string): Promise<void> {
  await db().send(
    new PutCommand({
      TableName: tableName(),
      Item: {
        ...deletedAppKey(appId),
        entity: 'OAuthAppDeleted',
        app_id: appId,
        deleted_at: at,
        event_id: eventId,
      },
    }),
  );
}

/** The ids among `appIds` of deleted apps (one BatchGetItem; none for an empty list). */
export async function deletedAppsAmong(appIds: readonly string[]): Promise<Set<string>> {
  const ids = [...new Set(appIds)];
  if (!ids.length) return new Set();
  const out = await db().send(
    new BatchGetCommand({
      RequestItems: { [tableName()]: { Keys: ids.map(deletedAppKey), ProjectionExpression: 'app_id' } },
    }),
  );
  // Keys left unprocessed (throttling) count as deleted: refusing beats serving a deleted app.
  const unprocessed = (out.UnprocessedKeys?.[tableName()]?.Keys ?? []).length ? ids : [];
  return new Set([...(out.Responses?.[tableName()] ?? []).map((i) => String(i.app_id)), ...unprocessed]);
}

/** 404 when the app was deleted (new authorizations and direct connections). */
export async function assertAppNotDeleted(appId: string): Promise<void> {
  const { Item } = await db().send(new GetCommand({ TableName: tableName(), Key: deletedAppKey(appId) }));
  if (Item) throw new NotFoundError(`The OAuth app '${appId}' was deleted.`);
}
