import { currentKeyId } from '#shared/crypto.ts';
import { logger } from '#shared/logger.ts';
import { SECRETS_CACHE_SECONDS } from '#shared/secrets.ts';
import { openAccessToken, openRefreshToken, sealTokens } from './connections.ts';
import { type ConnectionItem, reload, reseal, sealedWithOtherKey } from './connections-repo.ts';
import { loadReencryptJob, type ReencryptJobState, saveReencryptJob } from './reencrypt-repo.ts';

/**
 * How long after a key becomes current a writer may still seal with the previous key: a warm
 * function keeps the keyring SECRETS_CACHE_SECONDS, plus one refresh (provider call and write)
 * started just before its cache expired. Only a pass started after this can prove the job done.
 */
export const KEY_SETTLE_SECONDS = SECRETS_CACHE_SECONDS + 60;
/** Passes one run may make (a pass that found connections to re-seal is followed by another). */
const MAX_PASSES_PER_RUN = 3;
/** Re-seal attempts of one connection whose version moved (a refresh wrote meanwhile). */
const RESEAL_ATTEMPTS = 3;

export interface ReencryptStats {
  kid: string;
  /** Connections re-sealed under `kid` by this run. */
  resealed: number;
  /** Connections still under an old key after this run's attempts (retried by the next pass). */
  skipped: number;
  /** Connections whose tokens could not be opened (logged with their ids): the old key must stay. */
  failed: number;
  /** Complete passes this run made. */
  passes: number;
  /** True once a pass started after the settle time found no connection under another key. */
  done: boolean;
}

type ResealResult = 'resealed' | 'current' | 'skipped' | 'failed';

/** Re-seals one connection, re-reading it when a concurrent write moved its version. */
async function resealOne(first: ConnectionItem, kid: string): Promise<ResealResult> {
  let item = first;
  try {
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
  } catch (err) {
    logger.error('oauth token re-encryption failed for a connection', {
      connection_id: item.id,
      key_id: item.sealed_key_id,
      error: (err as Error)?.name,
    });
    return 'failed';
  }
}

/**
 * The re-encrypt job after a data-key rotation: re-seals every connection whose tokens were
 * sealed with another key than the keyring's current one (paged, consistent scan; resumable
 * across runs with `shouldStop`; each re-seal conditional on the connection's version, re-read
 * and retried when a refresh wrote meanwhile).
 *
 * It reports `done` (and records `done_kid`, after which runs are a single read) only when a
 * complete pass found no connection under another key, and that pass started at least
 * KEY_SETTLE_SECONDS after the job first saw the key as current: before then a function with a
 * cached older keyring may still seal with the old key behind the scan. Only then may old keys
 * leave the keyring (see the README's rotation procedure).
 */
export async function reencryptConnections(
  opts: { shouldStop?: () => boolean; now?: () => Date } = {},
): Promise<ReencryptStats> {
  const clock = opts.now ?? (() => new Date());
  const kid = await currentKeyId();
  let state: ReencryptJobState = await loadReencryptJob();
  const stats: ReencryptStats = { kid, resealed: 0, skipped: 0, failed: 0, passes: 0, done: false };
  if (state.done_kid === kid) return { ...stats, done: true };
  if (state.kid !== kid) {
    state = {
      ...(state.done_kid ? { done_kid: state.done_kid } : {}),
      kid,
      current_since: clock().toISOString(),
    };
  }
  const settledAt = Date.parse(state.current_since as string) + KEY_SETTLE_SECONDS * 1000;
  for (;;) {
    if (!state.cursor) {
      state.pass_started_at = clock().toISOString();
      state.pass_found = 0;
    }
    const page = await sealedWithOtherKey(kid, state.cursor);
    for (const item of page.items) {
      const result = await resealOne(item, kid);
      if (result === 'resealed') stats.resealed += 1;
      else if (result === 'skipped') stats.skipped += 1;
      else if (result === 'failed') stats.failed += 1;
    }
    state.pass_found = (state.pass_found ?? 0) + page.items.length;
    state.cursor = page.next;
    if (!state.cursor) {
      stats.passes += 1;
      const clean = state.pass_found === 0;
      if (clean && Date.parse(state.pass_started_at as string) >= settledAt) {
        stats.done = true;
        await saveReencryptJob({ done_kid: kid, kid, current_since: state.current_since }, clock());
        break;
      }
      await saveReencryptJob(state, clock());
      // A clean pass before the settle time proves nothing yet: the next run verifies again.
      if (clean || stats.passes >= MAX_PASSES_PER_RUN) break;
    } else {
      await saveReencryptJob(state, clock());
    }
    if (opts.shouldStop?.()) break;
  }
  logger.info('oauth token re-encryption', { ...stats });
  return stats;
}
