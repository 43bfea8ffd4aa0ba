/**
 * The re-encryption job after a data-key rotation, for the sealed values of any feature (platform
 * code: it knows no feature). A feature describes its values as a {@link ReencryptTarget} (how to
 * find items sealed with another key, how to re-seal one, where the job keeps its progress); this
 * module runs the resumable passes and decides when the old keys are provably unused.
 */
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { currentKeyId } from '#shared/crypto.ts';
import { db, tableName } from '#shared/db/client.ts';
import { logger } from '#shared/logger.ts';
import { SECRETS_CACHE_SECONDS } from '#shared/secrets.ts';

/**
 * How long after a key becomes current a writer may still seal with the previous key: a warm
 * function keeps the keyring SECRETS_CACHE_SECONDS, plus one write started just before its cache
 * expired. Only a pass started after this can prove the job done.
 */
export const KEY_SETTLE_SECONDS = SECRETS_CACHE_SECONDS + 60;
/** Passes one run may make (a pass that found items to re-seal is followed by another). */
const MAX_PASSES_PER_RUN = 3;

/** Progress of a re-encrypt job (one item per job). */
export interface ReencryptJobState {
  /** The key id under which every item was verified sealed: the job has nothing left to do. */
  done_kid?: string;
  /** The key id the job is working towards (the keyring's current key when it started). */
  kid?: string;
  /** When the job first saw `kid` as current (ISO): writers with an older cached keyring may seal with the old key until this plus the settle time. */
  current_since?: string;
  /** When the pass in progress started (ISO). */
  pass_started_at?: string;
  /** Items found under another key so far in the pass in progress. */
  pass_found?: number;
  /** Where the pass in progress resumes; absent between passes. */
  cursor?: Record<string, unknown>;
}

export interface ReencryptStats {
  kid: string;
  /** Items re-sealed under `kid` by this run. */
  resealed: number;
  /** Items still under an old key after this run's attempts (retried by the next pass). */
  skipped: number;
  /** Items whose values could not be opened (logged with their ids): the old key must stay. */
  failed: number;
  /** Complete passes this run made. */
  passes: number;
  /** True once a pass started after the settle time found no item under another key. */
  done: boolean;
}

/**
 * What re-sealing one item did: `resealed` (written under the current key), `current` (nothing
 * left to do: re-sealed or deleted meanwhile), `skipped` (it kept changing: the next pass retries).
 * A value that cannot be opened throws: the job logs the item and counts it as failed.
 */
export type ResealResult = 'resealed' | 'current' | 'skipped';

/** A feature's sealed values, as the re-encrypt job sees them. */
export interface ReencryptTarget<T> {
  /** Names the job in logs, e.g. `webhook signing secrets`. */
  name: string;
  /** The item holding the job's progress, and its `entity`. */
  state: { key: { pk: string; sk: string }; entity: string };
  /** One page (strongly consistent) of items holding a value sealed with another key than `kid`. */
  findPage: (
    kid: string,
    cursor: Record<string, unknown> | undefined,
  ) => Promise<{ items: T[]; next: Record<string, unknown> | undefined }>;
  /** Re-seals one item's values under the current key, conditionally on them being unchanged. */
  reseal: (item: T, kid: string) => Promise<ResealResult>;
  /** What identifies an item in logs: ids only, never a value. */
  describe: (item: T) => Record<string, unknown>;
}

/** A job's state (strongly consistent); empty before its first run. */
export async function loadReencryptState(key: { pk: string; sk: string }): Promise<ReencryptJobState> {
  const { Item } = await db().send(
    new GetCommand({ TableName: tableName(), Key: key, ConsistentRead: true }),
  );
  if (!Item) return {};
  const { pk: _pk, sk: _sk, entity: _e, updated_at: _u, ...state } = Item;
  return state as ReencryptJobState;
}

/** Replaces a job's state. */
export async function saveReencryptState(
  target: Pick<ReencryptTarget<unknown>, 'state'>,
  state: ReencryptJobState,
  now: Date,
): Promise<void> {
  await db().send(
    new PutCommand({
      TableName: tableName(),
      Item: { ...target.state.key, entity: target.state.entity, ...state, updated_at: now.toISOString() },
    }),
  );
}

async function resealOne<T>(target: ReencryptTarget<T>, item: T, kid: string) {
  try {
    return await target.reseal(item, kid);
  } catch (err) {
    logger.error(`re-encryption of ${target.name} failed for an item`, {
      ...target.describe(item),
      error: (err as Error)?.name,
    });
    return 'failed' as const;
  }
}

/**
 * Runs the re-encrypt job of `target`: re-seals every item holding a value sealed with another
 * key than the keyring's current one (paged consistent reads; resumable across runs with
 * `shouldStop`, the cursor being saved after each page).
 *
 * It reports `done` (and records `done_kid`, after which runs are a single read) only when a
 * complete pass found no item under another key, and that pass started at least
 * KEY_SETTLE_SECONDS after the job first saw the key as current: before then a function with a
 * cached older keyring may still seal with the old key behind the scan. Only then may old keys
 * leave the keyring (as far as this target is concerned).
 */
export async function runReencryptJob<T>(
  target: ReencryptTarget<T>,
  opts: { shouldStop?: () => boolean; now?: () => Date } = {},
): Promise<ReencryptStats> {
  const clock = opts.now ?? (() => new Date());
  const kid = await currentKeyId();
  let state = await loadReencryptState(target.state.key);
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
    const page = await target.findPage(kid, state.cursor);
    for (const item of page.items) {
      const result = await resealOne(target, item, kid);
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
        await saveReencryptState(target, { done_kid: kid, kid, current_since: state.current_since }, clock());
        break;
      }
      await saveReencryptState(target, state, clock());
      // A clean pass before the settle time proves nothing yet: the next run verifies again.
      if (clean || stats.passes >= MAX_PASSES_PER_RUN) break;
    } else {
      await saveReencryptState(target, state, clock());
    }
    if (opts.shouldStop?.()) break;
  }
  logger.info(`re-encryption of ${target.name}`, { ...stats });
  return stats;
}
