import { randomUUID } from 'node:crypto';
import { ConfigError, config } from '#shared/config.ts';
import { loadKeyring } from '#shared/crypto.ts';
import { keys } from '#shared/db/keys.ts';
import { AppError, ConflictError, ServiceUnavailableError } from '#shared/errors.ts';
import { logger } from '#shared/logger.ts';
import { metrics } from '#shared/metrics.ts';
import { findApp, type OAuthApp } from './catalog.ts';
import {
  accessExpiry,
  effectiveStatus,
  normalizeTokenType,
  openAccessToken,
  openRefreshToken,
  refreshDueAt,
  refreshTokenTooOld,
  sealTokens,
} from './connections.ts';
import {
  acquireLease,
  type ConnectionItem,
  dueInBucket,
  releaseLease,
  reload,
  writeRefreshOutcome,
} from './connections-repo.ts';
import { type ClientCredentials, clientCredentials } from './credentials.ts';
import { publishConnectionEvent } from './events.ts';
import { ProviderError, parseScopes, refreshGrant } from './provider.ts';

/** Failed refreshes before a connection stops being retried automatically (stays ERROR). */
export const MAX_REFRESH_ATTEMPTS = 5;
/** First cooldown after a failure; doubles with each further failure. */
export const REFRESH_COOLDOWN_SECONDS = 60;
/** How far back the scheduled refresh looks for overdue connections (hour buckets). */
export const REFRESH_LOOKBACK_HOURS = 24;
/** The schedule's period: connections due before the next run are refreshed now. */
export const REFRESH_LOOKAHEAD_SECONDS = 300;
/**
 * Longest a refresh waits for another process refreshing the same connection before answering
 * 409 "try again": well under the API Lambda's 20 s timeout, which must still leave room for a
 * provider call of its own (OAUTH_HTTP_TIMEOUT_SECONDS, 10 s by default) when the holder failed.
 */
export const MAX_WAIT_FOR_HOLDER_MS = 5_000;
/** Provider errors that mean the refresh token is dead: the user must connect again. */
const DEAD_GRANT_ERRORS = new Set(['invalid_grant', 'bad_refresh_token']);

/** Lease length: longer than one provider call can take, so a live holder never loses it. */
const leaseMs = () => (config().OAUTH_HTTP_TIMEOUT_SECONDS * 2 + 10) * 1000;

/** The connection cannot give a usable token: the user must connect again. */
export class ConnectionExpiredError extends AppError {
  override name = 'ConnectionExpiredError';
  constructor(id: string, reason: string) {
    super(
      409,
      'oauth-connection-expired',
      'Connection expired',
      `Connection ${id} ${reason}; connect the app again.`,
      {
        extra: { connection_id: id },
      },
    );
  }
}

/**
 * The access token has expired and the automatic refresh is paused: the connection is cooling
 * down after failed refreshes (try later) or has used up its attempts (refresh it manually or
 * connect again). 409 problem+json, with `Retry-After` during a cooldown.
 */
export class RefreshPausedError extends AppError {
  override name = 'RefreshPausedError';
  constructor(item: ConnectionItem, now: Date) {
    const retryAt =
      item.next_refresh_at && Date.parse(item.next_refresh_at) > now.getTime()
        ? item.next_refresh_at
        : undefined;
    const failure = item.last_error?.code ?? 'unknown_error';
    super(
      409,
      'oauth-refresh-paused',
      'Connection cannot be refreshed now',
      retryAt
        ? `Connection ${item.id} failed to refresh (${failure}) and its access token has expired; the next attempt is after ${retryAt}: try again later, or connect the app again.`
        : `Connection ${item.id} failed to refresh ${item.refresh_attempts} times (${failure}) and its access token has expired; refresh it manually or connect the app again.`,
      {
        extra: {
          connection_id: item.id,
          last_error_code: failure,
          ...(retryAt ? { retry_at: retryAt } : {}),
        },
        headers: retryAt
          ? { 'Retry-After': String(Math.ceil((Date.parse(retryAt) - now.getTime()) / 1000)) }
          : {},
      },
    );
  }
}

export type RefreshOutcome =
  | { kind: 'refreshed'; connection: ConnectionItem }
  /** Someone else refreshed (or was refreshing) it, or it is not due; `connection` is what is stored now. */
  | { kind: 'not_needed' | 'busy'; connection: ConnectionItem };

interface RefreshOptions {
  now?: () => Date;
  /** Refresh even when the token is not due, during a cooldown or after the last attempt (manual refresh). */
  force?: boolean;
  /** When another process holds the lease: wait for it and return its result (else `busy`). */
  wait?: boolean;
  /** Longest wait for another holder (default and maximum: MAX_WAIT_FOR_HOLDER_MS). */
  maxWaitMs?: number;
  /** Refresh tokens due by this time (default: now); the scheduled refresh looks one period ahead. */
  dueBy?: Date;
}

const isDue = (item: ConnectionItem, at: Date) => refreshDueAt(new Date(item.token_expires_at)) <= at;

/**
 * Whether an automatic (not forced) refresh may run `now`: the token is due by `dueBy` (the
 * schedule looks one period ahead), or, for a connection in ERROR, its cooldown
 * (`next_refresh_at`) has passed by `now` and attempts are left. A connection in ERROR is retried
 * whatever its expiry, but never before its cooldown ends nor after MAX_REFRESH_ATTEMPTS, whoever
 * asks (the schedule or a use).
 */
export function automaticRefreshAllowed(item: ConnectionItem, now: Date, dueBy: Date = now): boolean {
  if (item.status === 'EXPIRED') return false;
  if (item.status === 'ERROR') {
    return (
      (item.refresh_attempts ?? 0) < MAX_REFRESH_ATTEMPTS &&
      !!item.next_refresh_at &&
      Date.parse(item.next_refresh_at) <= now.getTime()
    );
  }
  return isDue(item, dueBy);
}

/** What a refresh needs besides the refresh token, loaded before the lease is taken. */
type Prepared = { ok: true; app: OAuthApp; creds: ClientCredentials } | { ok: false; error: unknown };

/**
 * Loads the app, its client credentials and the keyring (through their caches) before the lease:
 * the lease then covers only the provider call and the write. A failure is kept, to be recorded
 * on the connection under the lease.
 */
async function prepare(conn: ConnectionItem): Promise<Prepared> {
  try {
    const app = findApp(conn.app_id);
    if (!app) throw new ConflictError(`The OAuth app '${conn.app_id}' is no longer in the catalog.`);
    const creds = await clientCredentials(app.id);
    await loadKeyring();
    return { ok: true, app, creds };
  } catch (error) {
    // A bad setting is the operator's to fix, not the connection's failure: nothing is recorded on it.
    if (error instanceof ConfigError) throw error;
    return { ok: false, error };
  }
}

/** A failure's description safe to store and show: our own errors' messages, else only the error's name. */
const describe = (err: unknown) =>
  err instanceof AppError ? err.message : `Internal failure (${(err as Error)?.name ?? 'Error'}).`;

/**
 * Takes the refresh lease, waiting (at most `maxWaitMs`, real time) for another holder when
 * `wait` is set. Returns the connection as stored under our lease, or the outcome to return
 * without refreshing (busy, or the holder's result).
 */
async function takeLease(
  conn: ConnectionItem,
  owner: string,
  opts: RefreshOptions,
  clock: () => Date,
): Promise<ConnectionItem | RefreshOutcome> {
  const waitMs = Math.min(opts.maxWaitMs ?? MAX_WAIT_FOR_HOLDER_MS, MAX_WAIT_FOR_HOLDER_MS);
  const deadline = Date.now() + waitMs;
  let delay = 50;
  for (;;) {
    const current = await acquireLease(conn, owner, clock().getTime(), leaseMs());
    if (current) return current;
    if (!opts.wait) return { kind: 'busy', connection: conn };
    if (Date.now() + delay > deadline) {
      throw new ConflictError(`Connection ${conn.id} is being refreshed by another request; try again.`);
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 500);
    const now = await reload(conn);
    if (!now) throw new ConflictError(`Connection ${conn.id} was deleted.`);
    // The holder finished: use its result unless the caller wants a refresh regardless.
    if (!now.lease_owner) {
      // A forced refresh takes a refresh completed meanwhile; others check whether one is still due.
      const refreshedMeanwhile = now.status === 'ACTIVE' && now.last_refreshed_at !== conn.last_refreshed_at;
      if (opts.force ? refreshedMeanwhile : !automaticRefreshAllowed(now, clock(), opts.dueBy)) {
        return { kind: 'not_needed', connection: now };
      }
    }
  }
}

/**
 * Refreshes a connection's access token, at most one process at a time per connection: a
 * conditional write takes a lease; the holder reads the freshest refresh token under it, calls
 * the provider and writes the new tokens while releasing the lease. Others wait for the holder
 * (at most MAX_WAIT_FOR_HOLDER_MS) and use its result instead of spending an already rotated
 * refresh token. Client credentials and the keyring are loaded before the lease.
 *
 * Failures are recorded on the connection: `invalid_grant` (or a refresh token older than
 * OAUTH_REFRESH_TOKEN_EXPIRY_DAYS) makes it EXPIRED; anything else, the provider's errors as well
 * as our own (`configuration_error`: no client credentials, app removed from the catalog, tokens
 * that cannot be decrypted), makes it ERROR and schedules a retry after a doubling cooldown, up to
 * MAX_REFRESH_ATTEMPTS. The original error is rethrown (a failure to record it is only logged).
 * Without `force`, a connection that is not due, cooling down or out of attempts is not refreshed
 * (`not_needed`).
 */
export async function refreshConnection(
  conn: ConnectionItem,
  opts: RefreshOptions = {},
): Promise<RefreshOutcome> {
  const clock = opts.now ?? (() => new Date());
  if (!conn.refresh_token_sealed) {
    throw new ConflictError(`Connection ${conn.id} has no refresh token; connect the app again to renew it.`);
  }
  const prepared = await prepare(conn);
  const owner = randomUUID();
  const leased = await takeLease(conn, owner, opts, clock);
  if ('kind' in leased) return leased;
  const current = leased;
  const now = clock();
  if (!opts.force && !automaticRefreshAllowed(current, now, opts.dueBy)) {
    await releaseLease(current, owner);
    return { kind: 'not_needed', connection: current };
  }
  const usedSealed = current.refresh_token_sealed;
  const fail = (code: string, description: string | undefined, expired: boolean) =>
    recordFailure(current, owner, usedSealed, now, code, description, expired);

  if (!usedSealed || refreshTokenTooOld(current.refresh_token_issued_at, now)) {
    await fail('refresh_token_expired', 'The refresh token is older than the configured lifetime.', true);
    throw new ConnectionExpiredError(conn.id, 'has a refresh token too old to use');
  }
  if (!prepared.ok) {
    await fail('configuration_error', describe(prepared.error), false);
    throw prepared.error;
  }
  let refreshToken: string;
  try {
    refreshToken = (await openRefreshToken(current)) as string;
  } catch (err) {
    await fail('configuration_error', 'The stored refresh token could not be decrypted.', false);
    logger.error('oauth refresh token could not be decrypted', {
      connection_id: current.id,
      key_id: current.sealed_key_id,
      error: (err as Error)?.name,
    });
    throw new ServiceUnavailableError(
      `The tokens of connection ${current.id} cannot be read right now; an operator must check the data keys.`,
      { cause: err },
    );
  }
  let set: Record<string, unknown>;
  try {
    const tokens = await refreshGrant(prepared.app, prepared.creds, refreshToken);
    const rotated = tokens.refresh_token !== undefined && tokens.refresh_token !== refreshToken;
    const expiresAt = accessExpiry(now, tokens.expires_in);
    const due = refreshDueAt(expiresAt);
    set = {
      ...(await sealTokens(current.id, tokens.access_token, tokens.refresh_token ?? refreshToken)),
      token_type: normalizeTokenType(tokens.token_type ?? current.token_type),
      token_expires_at: expiresAt.toISOString(),
      scopes: parseScopes(tokens.scope) ?? current.scopes,
      status: 'ACTIVE',
      refresh_attempts: 0,
      last_refreshed_at: now.toISOString(),
      next_refresh_at: due.toISOString(),
      ...keys.oauthRefreshDue(due, current.id),
      updated_at: now.toISOString(),
      ...(rotated ? { refresh_token_issued_at: now.toISOString() } : {}),
    };
  } catch (err) {
    if (err instanceof ProviderError) {
      const expired = DEAD_GRANT_ERRORS.has(err.providerError);
      await fail(err.providerError, err.providerDescription, expired);
      metrics.count('OAuthRefreshFailed');
      logger.warn('oauth refresh failed', {
        connection_id: current.id,
        oauth_app_id: current.app_id,
        provider_error: err.providerError,
        expired,
      });
    } else {
      await releaseLease(current, owner);
    }
    throw err;
  }
  const saved = await writeRefreshOutcome(current, owner, usedSealed, set, []);
  metrics.count('OAuthRefreshSucceeded');
  logger.info('oauth connection refreshed', { connection_id: saved.id, oauth_app_id: saved.app_id });
  return { kind: 'refreshed', connection: saved };
}

/**
 * Records a failed refresh and releases the lease. Never throws: the failure being reported
 * matters more to the caller than our bookkeeping (a write refused because another process
 * wrote meanwhile, or a table error, is logged; the lease then lapses on its own).
 */
async function recordFailure(
  item: ConnectionItem,
  owner: string,
  usedSealed: string | undefined,
  now: Date,
  code: string,
  description: string | undefined,
  expired: boolean,
): Promise<void> {
  const attempts = (item.refresh_attempts ?? 0) + 1;
  const retry = !expired && attempts < MAX_REFRESH_ATTEMPTS;
  const retryAt = new Date(now.getTime() + REFRESH_COOLDOWN_SECONDS * 1000 * 2 ** (attempts - 1));
  const set: Record<string, unknown> = {
    status: expired ? 'EXPIRED' : 'ERROR',
    refresh_attempts: attempts,
    last_error: { code, ...(description ? { description } : {}), at: now.toISOString() },
    updated_at: now.toISOString(),
    ...(retry ? { next_refresh_at: retryAt.toISOString(), ...keys.oauthRefreshDue(retryAt, item.id) } : {}),
  };
  try {
    await writeRefreshOutcome(
      item,
      owner,
      usedSealed,
      set,
      retry ? [] : ['next_refresh_at', 'gsi1pk', 'gsi1sk'],
    );
  } catch (err) {
    logger.warn('oauth refresh failure not recorded', {
      connection_id: item.id,
      failure: code,
      error: (err as Error)?.name,
    });
    return;
  }
  // Raised once the failure is recorded (never a token in it); a send failure is only logged.
  await publishConnectionEvent(
    expired ? 'oauth_connection.expired' : 'oauth_connection.refresh_failed',
    item,
    {
      status: set.status,
      error: { code, ...(description ? { description } : {}) },
      refresh_attempts: attempts,
      ...(retry ? { next_refresh_at: set.next_refresh_at } : {}),
    },
  );
}

/** A usable access token of a connection. */
export interface AccessToken {
  accessToken: string;
  tokenType: string;
  expiresAt: string;
}

/**
 * The access token to call the provider with, refreshed first when it expires within
 * OAUTH_REFRESH_MARGIN_SECONDS (one refresh per connection at a time, see refreshConnection).
 * A connection in ERROR is refreshed only after its cooldown and while attempts are left; when no
 * refresh happens or a refresh fails but the current token is still valid, the current token is
 * returned. Throws ConnectionExpiredError or RefreshPausedError (409) when no usable token can
 * be had.
 */
export async function accessTokenFor(
  connection: ConnectionItem,
  opts: { now?: () => Date } = {},
): Promise<AccessToken> {
  const clock = opts.now ?? (() => new Date());
  let item = connection;
  const usable = (c: ConnectionItem) => Date.parse(c.token_expires_at) > clock().getTime();
  const result = async (c: ConnectionItem): Promise<AccessToken> => ({
    accessToken: await openAccessToken(c),
    tokenType: c.token_type,
    expiresAt: c.token_expires_at,
  });
  const unusable = (c: ConnectionItem) =>
    effectiveStatus(c, clock()) === 'EXPIRED'
      ? new ConnectionExpiredError(c.id, 'has expired')
      : new RefreshPausedError(c, clock());
  if (effectiveStatus(item, clock()) === 'EXPIRED') throw new ConnectionExpiredError(item.id, 'has expired');
  if (!isDue(item, clock()) || !item.refresh_token_sealed) {
    if (usable(item)) return result(item);
    throw new ConnectionExpiredError(item.id, 'has an expired access token and no refresh token');
  }
  if (!automaticRefreshAllowed(item, clock())) {
    if (usable(item)) return result(item);
    throw unusable(item);
  }
  try {
    item = (await refreshConnection(item, { now: opts.now, wait: true })).connection;
  } catch (err) {
    if (usable(item)) return result(item);
    throw err;
  }
  if (usable(item)) return result(item);
  throw unusable(item);
}

/**
 * The scheduled refresh: every connection whose refresh is due before the next run, found in the
 * gsi1 hour buckets (`OAUTHEXP#<hour>`) from REFRESH_LOOKBACK_HOURS ago to now, is refreshed a few
 * at a time. A connection another process is refreshing, or still cooling down after a failure, is
 * skipped; failures (the provider's and our own, such as missing client credentials) are recorded
 * on the connection and counted, never thrown, so one bad provider does not stop the others.
 */
export async function refreshDueConnections(
  opts: { now?: () => Date; concurrency?: number; shouldStop?: () => boolean } = {},
): Promise<{ due: number; refreshed: number; failed: number; skipped: number }> {
  const clock = opts.now ?? (() => new Date());
  const start = clock();
  const until = new Date(start.getTime() + REFRESH_LOOKAHEAD_SECONDS * 1000);
  const items: ConnectionItem[] = [];
  for (let h = REFRESH_LOOKBACK_HOURS; h >= 0; h--) {
    items.push(
      ...(await dueInBucket(keys.oauthRefreshBucket(new Date(start.getTime() - h * 3_600_000)), until)),
    );
  }
  if (until.toISOString().slice(0, 13) !== start.toISOString().slice(0, 13)) {
    items.push(...(await dueInBucket(keys.oauthRefreshBucket(until), until)));
  }
  const stats = { due: items.length, refreshed: 0, failed: 0, skipped: 0 };
  const queue = [...items];
  const worker = async () => {
    for (let item = queue.shift(); item; item = queue.shift()) {
      // Stopping, or cooling down after a failure (the index holds its retry time, which the
      // lookahead may reach early): left to a later run, without taking the lease.
      if (opts.shouldStop?.() || !automaticRefreshAllowed(item, clock(), until)) {
        stats.skipped += 1;
        continue;
      }
      try {
        const outcome = await refreshConnection(item, { now: opts.now, dueBy: until });
        if (outcome.kind === 'refreshed') stats.refreshed += 1;
        else stats.skipped += 1;
      } catch (err) {
        // A bad setting stops the run (a Lambda error the operator sees), recorded on no connection.
        if (err instanceof ConfigError) throw err;
        stats.failed += 1;
        if (!(err instanceof ProviderError)) {
          logger.error('oauth scheduled refresh failed', { connection_id: item.id, error: err as Error });
        }
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency ?? 4 }, worker));
  return stats;
}
