/**
 * Re-encryption of OAuth tokens after a data-key rotation: the OAuth feature's target for the
 * platform's re-encrypt job (shared/reencrypt.ts, which runs the resumable passes and decides
 * when the old keys are provably unused). Each connection's tokens are re-sealed with the same
 * values, conditional on the connection's version, re-read and retried when a refresh wrote
 * meanwhile. Progress lives in `OAUTHJOB#REENCRYPT` (O7).
 */
import { keys } from '#shared/db/keys.ts';
import {
  type ReencryptStats,
  type ReencryptTarget,
  type ResealResult,
  runReencryptJob,
} from '#shared/reencrypt.ts';
import { openAccessToken, openRefreshToken, sealTokens } from './connections.ts';
import { type ConnectionItem, reload, reseal, sealedWithOtherKey } from './connections-repo.ts';

export { KEY_SETTLE_SECONDS, type ReencryptStats } from '#shared/reencrypt.ts';

/** Re-seal attempts of one connection whose version moved (a refresh wrote meanwhile). */
const RESEAL_ATTEMPTS = 3;

/** Re-seals one connection, re-reading it when a concurrent write moved its version. */
async function resealConnection(first: ConnectionItem, kid: string): Promise<ResealResult> {
  let item = first;
  for (let attempt = 0; attempt < RESEAL_ATTEMPTS; attempt++) {
    const sealed = await sealTokens(item.id, await openAccessToken(item), await openRefreshToken(item));
    const written = await reseal(item, {
      access: sealed.access_token_sealed,
      refresh: sealed.refresh_token_sealed,
      kid: sealed.sealed_key_id,
    });
    if (written) return 'resealed';
    const fresh = await reload(item);
    // Deleted, or re-sealed with the current key by a refresh meanwhile: nothing left to do.
    if (!fresh || fresh.sealed_key_id === kid) return 'current';
    item = fresh;
  }
  return 'skipped';
}

/** The OAuth feature's target for the platform's re-encrypt job. */
export const oauthTokensTarget: ReencryptTarget<ConnectionItem> = {
  name: 'oauth tokens',
  state: { key: keys.oauthReencryptJob(), entity: 'OAuthReencryptJob' },
  findPage: sealedWithOtherKey,
  reseal: resealConnection,
  describe: (c) => ({ connection_id: c.id, key_id: c.sealed_key_id }),
};

/**
 * The re-encrypt job of OAuth tokens: `done` (and `done_kid` recorded, after which runs are a
 * single read) once a pass started after the settle time found no connection under another key;
 * only then may old keys leave the keyring (see the README's rotation procedure).
 */
export function reencryptConnections(
  opts: { shouldStop?: () => boolean; now?: () => Date } = {},
): Promise<ReencryptStats> {
  return runReencryptJob(oauthTokensTarget, opts);
}
