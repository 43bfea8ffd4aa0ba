import { randomUUID } from 'node:crypto';
import { config } from '#shared/config.ts';
import { keys } from '#shared/db/keys.ts';
import { AppError, ConflictError } from '#shared/errors.ts';
import { logger } from '#shared/logger.ts';
import { findApp } from './catalog.ts';
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
import { clientCredentials } from './credentials.ts';
import { ProviderError, parseScopes, refreshGrant } from './provider.ts';

/** Failed refreshes before a connection stops being retried automatically (stays ERROR). */
export const MAX_REFRESH_ATTEMPTS = 5;
/** First cooldown after a transient failure; doubles with each further failure. */
export const REFRESH_COOLDOWN_SECONDS = 60;
/** How far back the scheduled refresh looks for overdue connections (hour buckets). */
export const REFRESH_LOOKBACK_HOURS = 24;
/** The schedule's period: connections due before the next run are refreshed now. */
export const REFRESH_LOOKAHEAD_SECONDS = 300;

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

export type RefreshOutcome =
  | { kind: 'refreshed'; connection: ConnectionItem }
  /** Someone else refreshed (or was refreshing) it; `connection` is what is stored now. */
  | { kind: 'not_needed' | 'busy'; connection: ConnectionItem };

interface RefreshOptions {
  now?: () => Date;
  /** Refresh even when the token is not due (manual refresh). */
  force?: boolean;
  /** When another process holds the lease: wait for it and return its result (else `busy`). */
  wait?: boolean;
  /** Refresh tokens due by this time (default: now); the scheduled refresh looks one period ahead. */
  dueBy?: Date;
}

const isDue = (item: ConnectionItem, at: Date) => refreshDueAt(new Date(item.token_expires_at)) <= at;
/** A connection in ERROR is a retry: due whatever its expiry. */
const needsRefresh = (item: ConnectionItem, at: Date) => item.status === 'ERROR' || isDue(item, at);

/**
 * Refreshes a connection's access token, at most one process at a time per connection: a
 * conditional write takes a lease; the holder reads the freshest refresh token under it, calls
 * the provider and writes the new tokens while releasing the lease. Others wait for the holder
 * and use its result instead of spending an already rotated refresh token.
 *
 * Failures are recorded on the connection: `invalid_grant` (or a refresh token older than
 * OAUTH_REFRESH_TOKEN_EXPIRY_DAYS) makes it EXPIRED; anything else makes it ERROR and schedules
 * a retry after a doubling cooldown, up to MAX_REFRESH_ATTEMPTS. The provider error is rethrown.
 */
export async function refreshConnection(
  conn: ConnectionItem,
  opts: RefreshOptions = {},
): Promise<RefreshOutcome> {
  const clock = opts.now ?? (() => new Date());
  if (!conn.refresh_token_sealed) {
    throw new ConflictError(`Connection ${conn.id} has no refresh token; connect the app again to renew it.`);
  }
  const owner = randomUUID();
  // Real time, not the injected clock: this bounds how long we actually wait.
  const deadline = Date.now() + leaseMs();
  let current: ConnectionItem | undefined;
  let delay = 50;
  for (;;) {
    current = await acquireLease(conn, owner, clock().getTime(), leaseMs());
    if (current) break;
    if (!opts.wait) return { kind: 'busy', connection: conn };
    if (Date.now() > deadline) {
      throw new ConflictError(`Connection ${conn.id} is being refreshed by another request; try again.`);
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 500);
    const now = await reload(conn);
    if (!now) throw new ConflictError(`Connection ${conn.id} was deleted.`);
    // The holder finished: use its result unless the caller wants a refresh regardless.
    if (!now.lease_owner) {
      // A refresh completed meanwhile: a forced refresh takes its result; others check the expiry.
      const refreshedMeanwhile = now.status === 'ACTIVE' && now.last_refreshed_at !== conn.last_refreshed_at;
      if (opts.force ? refreshedMeanwhile : !needsRefresh(now, opts.dueBy ?? clock())) {
        return { kind: 'not_needed', connection: now };
      }
    }
  }
  const now = clock();
  if (!opts.force && !needsRefresh(current, opts.dueBy ?? now)) {
    await releaseLease(current, owner);
    return { kind: 'not_needed', connection: current };
  }
  const usedSealed = current.refresh_token_sealed;
  const fail = (code: string, description: string | undefined, expired: boolean) =>
    recordFailure(current as ConnectionItem, owner, usedSealed, now, code, description, expired);

  if (!usedSealed || refreshTokenTooOld(current.refresh_token_issued_at, now)) {
    await fail('refresh_token_expired', 'The refresh token is older than the configured lifetime.', true);
    throw new ConnectionExpiredError(conn.id, 'has a refresh token too old to use');
  }
  let set: Record<string, unknown>;
  try {
    const app = findApp(current.app_id);
    if (!app) throw new ConflictError(`The OAuth app '${current.app_id}' is no longer in the catalog.`);
    const creds = await clientCredentials(app.id);
    const refreshToken = (await openRefreshToken(current)) as string;
    const tokens = await refreshGrant(app, creds, refreshToken);
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
      const expired = err.providerError === 'invalid_grant';
      await fail(err.providerError, err.providerDescription, expired);
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
  logger.info('oauth connection refreshed', { connection_id: saved.id, oauth_app_id: saved.app_id });
  return { kind: 'refreshed', connection: saved };
}

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
  await writeRefreshOutcome(
    item,
    owner,
    usedSealed,
    set,
    retry ? [] : ['next_refresh_at', 'gsi1pk', 'gsi1sk'],
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
 * When a refresh fails but the current token is still valid, the current token is returned.
 * Throws ConnectionExpiredError (409) when no usable token can be had.
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
  if (effectiveStatus(item, clock()) === 'EXPIRED') throw new ConnectionExpiredError(item.id, 'has expired');
  if (!isDue(item, clock()) || !item.refresh_token_sealed) {
    if (usable(item)) return result(item);
    throw new ConnectionExpiredError(item.id, 'has an expired access token and no refresh token');
  }
  try {
    item = (await refreshConnection(item, { now: opts.now, wait: true })).connection;
  } catch (err) {
    if (usable(item)) return result(item);
    throw err;
  }
  return result(item);
}

/**
 * The scheduled refresh: every connection whose refresh is due before the next run, found in the
 * gsi1 hour buckets (`OAUTHEXP#<hour>`) from REFRESH_LOOKBACK_HOURS ago to now, is refreshed a few
 * at a time. A connection another process is refreshing is skipped; failures are recorded on the
 * connection and counted, never thrown, so one bad provider does not stop the others.
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
      if (opts.shouldStop?.()) {
        stats.skipped += 1;
        continue;
      }
      try {
        const outcome = await refreshConnection(item, { now: opts.now, dueBy: until });
        if (outcome.kind === 'refreshed') stats.refreshed += 1;
        else stats.skipped += 1;
      } catch (err) {
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
