import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { KEYRING_SECRET, keyringSchema } from '#shared/crypto.ts';
import { db, tableName } from '#shared/db/client.ts';
import { keys } from '#shared/db/keys.ts';
import { logger } from '#shared/logger.ts';
import { secrets } from '#shared/secrets.ts';
import { openAccessToken, openRefreshToken, sealTokens } from './connections.ts';
import { reseal, sealedWithOtherKey } from './connections-repo.ts';

interface JobState {
  /** The key id every connection was re-sealed with when the last pass finished. */
  done_kid?: string;
  /** Where an unfinished pass resumes (for `pass_kid`). */
  cursor?: Record<string, unknown>;
  pass_kid?: string;
}

async function currentKeyId(): Promise<string> {
  const raw = await secrets().get(KEYRING_SECRET);
  if (!raw) throw new Error(`The data-key secret '${KEYRING_SECRET}' is missing`);
  return keyringSchema.parse(JSON.parse(raw)).current;
}

/**
 * The re-encrypt job after a data-key rotation: re-seals every connection whose tokens were
 * sealed with another key than the keyring's current one. A no-op (one read) once a pass for the
 * current key has finished; a pass resumes where the last run stopped (`shouldStop`). Each
 * re-seal is conditional on the connection's version, so a refresh running at the same time
 * wins (it seals with the current key anyway). Old keys may leave the keyring once `done_kid`
 * names the current key and the authorization states sealed before (minutes) have expired.
 */
export async function reencryptConnections(
  opts: { shouldStop?: () => boolean } = {},
): Promise<{ kid: string; resealed: number; skipped: number; finished: boolean }> {
  const kid = await currentKeyId();
  const key = keys.oauthReencryptJob();
  const { Item } = await db().send(
    new GetCommand({ TableName: tableName(), Key: key, ConsistentRead: true }),
  );
  const state = (Item ?? {}) as JobState;
  const stats = { kid, resealed: 0, skipped: 0, finished: false };
  if (state.done_kid === kid) return { ...stats, finished: true };
  let cursor = state.pass_kid === kid ? state.cursor : undefined;
  for (;;) {
    const page = await sealedWithOtherKey(kid, cursor);
    for (const item of page.items) {
      const sealed = await sealTokens(item.id, await openAccessToken(item), await openRefreshToken(item));
      const done = await reseal(item, {
        access: sealed.access_token_sealed,
        refresh: sealed.refresh_token_sealed,
        kid: sealed.sealed_key_id,
      });
      if (done) stats.resealed += 1;
      else stats.skipped += 1;
    }
    cursor = page.next;
    const finished = !cursor;
    await db().send(
      new PutCommand({
        TableName: tableName(),
        Item: {
          ...key,
          entity: 'OAuthReencryptJob',
          ...(finished ? { done_kid: kid } : { done_kid: state.done_kid, pass_kid: kid, cursor }),
          updated_at: new Date().toISOString(),
        },
      }),
    );
    if (finished) {
      stats.finished = true;
      break;
    }
    if (opts.shouldStop?.()) break;
  }
  logger.info('oauth token re-encryption', stats);
  return stats;
}
