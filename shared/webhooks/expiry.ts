import { leaseHeld } from '#shared/db/lease.ts';
import { logger } from '#shared/logger.ts';
import {
  deleteExpiryMarker,
  EXPIRY_BUCKET_PREFIX,
  type ExpiryMarker,
  markersUpTo,
} from './delivery-markers.ts';
import { getDelivery, logDisabled, recordAttempt } from './delivery-store.ts';

/**
 * Hour buckets the sweeper looks back through. A marker is deleted when its delivery finishes,
 * so past buckets are normally empty (one cheap Query each); a week covers a sweeper that was
 * down for days. Markers carry the delivery's TTL, so older leftovers disappear on their own.
 */
export const SWEEP_LOOKBACK_HOURS = 7 * 24;

export interface SweepStats {
  buckets: number;
  markers: number;
  expired: number;
  /** Markers of deliveries that finished, restarted or vanished: deleted. */
  cleaned: number;
  /** Deliveries with an attempt in flight (lease held): left for the attempt to record. */
  busy: number;
  stopped: boolean;
}

/**
 * The hour buckets (`<prefix><yyyy-mm-ddThh>`) from `lookbackHours` before `now` up to its hour,
 * oldest first: the expiry markers' (W6) by default, or the due index's (W7).
 */
export function bucketsUpTo(
  now: Date,
  lookbackHours = SWEEP_LOOKBACK_HOURS,
  prefix: string = EXPIRY_BUCKET_PREFIX,
): string[] {
  const hour = Math.floor(now.getTime() / 3600_000) * 3600_000;
  const out: string[] = [];
  for (let h = lookbackHours; h >= 0; h--) {
    out.push(`${prefix}${new Date(hour - h * 3600_000).toISOString().slice(0, 13)}`);
  }
  return out;
}

/**
 * Marks EXPIRED every PENDING delivery past its `expires_at` whose job was lost (dropped after
 * too many defers, or parked in the DLQ after `maxReceiveCount`): finds them through their
 * expiry markers (W6, one Query per hour bucket, no scan), re-reads each delivery and records the
 * expiry conditionally (still PENDING in that cycle and attempt, no lease held), so it never races
 * a live attempt. EXPIRED counts toward the endpoint's failure streak like any other, and may
 * disable it, in the same transaction. Idempotent: a second run finds nothing.
 */
export async function expireLostDeliveries(
  opts: { now?: Date; shouldStop?: () => boolean; lookbackHours?: number } = {},
): Promise<SweepStats> {
  const now = opts.now ?? new Date();
  const stats: SweepStats = { buckets: 0, markers: 0, expired: 0, cleaned: 0, busy: 0, stopped: false };
  const buckets = bucketsUpTo(now, opts.lookbackHours);
  stats.buckets = buckets.length;
  for await (const m of markersUpTo('expiry', buckets, now, opts.shouldStop)) {
    stats.markers++;
    stats[await expireOne(m, now)]++;
  }
  stats.stopped = !!opts.shouldStop?.();
  return stats;
}

async function expireOne(m: ExpiryMarker, now: Date): Promise<'expired' | 'cleaned' | 'busy'> {
  const d = await getDelivery(m.delivery_id, now);
  if (d?.status !== 'PENDING' || d.expires_at !== m.expires_at) {
    await deleteExpiryMarker(m);
    return 'cleaned';
  }
  if (leaseHeld(d.lease_until, now)) return 'busy';
  const done = await recordAttempt({
    d,
    requireFreeLease: true,
    status: 'EXPIRED',
    now,
    error: 'Not delivered within WEBHOOK_DELIVERY_TTL_HOURS (its delivery job was lost)',
  });
  if (!done) return 'busy'; // it moved on meanwhile; the next run looks again if still needed
  logDisabled(d, done);
  logger.info('webhook delivery expired by the sweeper', { delivery_id: d.id, endpoint_id: d.endpoint_id });
  return 'expired';
}
