/**
 * The OAuth feature's counters of the status view (shared/counters.ts):
 * - `connections`, by stored status (`ACTIVE`, `ERROR`, `EXPIRED`): +1 ACTIVE on create, moved by
 *   each refresh outcome that changes the status, -1 on delete. Stored, not effective: a
 *   connection without a refresh token whose access token lapsed reads EXPIRED in the API but is
 *   counted as stored (nothing is written when it lapses);
 * - `expiring` / `expiring_7d`: connections not EXPIRED whose grant ends on a known day, by that
 *   day: the refresh token's lifetime (OAUTH_REFRESH_TOKEN_EXPIRY_DAYS after it was issued), or
 *   for a connection without a refresh token its access token's expiry. Moved by the same writes.
 * Each change follows the conditional write of the transition, from the item as it was before
 * (the write's own ALL_OLD), so a retry or a race counts nothing twice.
 */
import { config } from '#shared/config.ts';
import { addCounters, type CounterChange } from '#shared/counters.ts';
import type { ConnectionItem } from './connections-repo.ts';

type Counted = Pick<
  ConnectionItem,
  'status' | 'refresh_token_sealed' | 'refresh_token_issued_at' | 'token_expires_at' | 'workspace_id'
>;

/** When a connection's grant ends, if that is known: what `effectiveStatus` turns EXPIRED at. */
export function grantEndsAt(c: Counted): string | undefined {
  if (!c.refresh_token_sealed) return c.token_expires_at;
  if (!c.refresh_token_issued_at) return undefined;
  return new Date(
    Date.parse(c.refresh_token_issued_at) + config().OAUTH_REFRESH_TOKEN_EXPIRY_DAYS * 86_400_000,
  ).toISOString();
}

/** What a connection in this state counts for (`+1`) or no longer counts for (`-1`). */
export function connectionCounts(c: Counted, delta: 1 | -1): CounterChange[] {
  const out: CounterChange[] = [{ feature: 'oauth', counter: 'connections', status: c.status, delta }];
  const ends = c.status === 'EXPIRED' ? undefined : grantEndsAt(c);
  if (ends) {
    out.push({
      feature: 'oauth',
      counter: 'expiring',
      delta,
      until: { at: ends, soon: 'expiring_7d', days: 7 },
    });
  }
  return out;
}

/** Moves the counts of a connection from `before` to `after` (a create: no `before`; a delete: no `after`). */
export async function countConnection(
  before: Counted | undefined,
  after: Counted | undefined,
): Promise<void> {
  const workspaceId = (after ?? before)?.workspace_id;
  if (!workspaceId) return;
  await addCounters(workspaceId, [
    ...(before ? connectionCounts(before, -1) : []),
    ...(after ? connectionCounts(after, 1) : []),
  ]);
}
