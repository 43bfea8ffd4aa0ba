import { config } from '#shared/config.ts';
import { keys } from '#shared/db/keys.ts';
import { leaseHeld } from '#shared/db/lease.ts';
import { logger } from '#shared/logger.ts';
import type { Reconciler, ReconcileStats } from '#shared/reconcile.ts';
import { type ExpiryMarker, markersUpTo, moveDueMarker } from './delivery-markers.ts';
import { getDelivery } from './delivery-store.ts';
import { bucketsUpTo } from './expiry.ts';
import { enqueueJob } from './jobs.ts';

/**
 * A PENDING delivery that has not moved on this long after it was due has lost its job. Longer
 * than the deliveries queue's visibility timeout (6 × 60 s + 1 s), so a job that SQS is about to
 * hand out again after a crashed attempt is not duplicated, and far above normal queue latency.
 */
export const OVERDUE_AFTER_SECONDS = 10 * 60;

/**
 * Re-queues of one delivery before the reconciler gives up on it: a job that keeps failing (one
 * that crashes the worker ends in the DLQ after `maxReceiveCount`, its delivery still PENDING) must
 * not be fed back every period until its expiry. Past this the delivery is left to the expiry
 * sweeper (and the DLQ's alarm), logged as an error.
 */
export const MAX_REQUEUES = 3;

export interface DeliveryReconcileStats extends ReconcileStats {
  buckets: number;
  markers: number;
  /** The index lagged behind the delivery (its retry moved `next_attempt_at`): moved to the real time. */
  caughtUp: number;
  /** Markers of deliveries that finished, restarted or vanished: taken out of the due index. */
  dropped: number;
  /** An attempt holds the lease, or another run moved the marker first. */
  busy: number;
  /** Past its expiry: the expiry sweeper's. */
  expiring: number;
  /** Re-queued {@link MAX_REQUEUES} times already: left to the expiry sweeper. */
  abandoned: number;
}

/**
 * Puts back on the deliveries queue the job of every PENDING delivery overdue by more than
 * `overdueAfterSeconds` (its job was purged, dropped, or vanished with an emulator): finds them
 * through the due index (W7, one gsi1 Query per hour bucket, no scan), re-reads each delivery
 * (consistent) and decides from the delivery, never from the index, which may lag behind:
 * - finished, restarted or gone: taken out of the index (the expiry marker stays for the sweeper);
 * - past its expiry: left to the expiry sweeper; an attempt in flight (lease held): left alone;
 * - due later than the cutoff (a retry moved it): the index catches up, to look again then;
 * - overdue: the marker moves to now (conditionally, so one run wins), then the job for the
 *   delivery's current attempt is sent. If that job is lost too, the next look is one period on.
 * Idempotent: a second run finds nothing due. A re-queued job that meets the original is harmless:
 * the worker's claim lets one attempt through and the other copy is stale.
 * Looks back `WEBHOOK_DELIVERY_TTL_HOURS` (+1) hours: older entries belong to expired deliveries.
 */
export async function requeueLostDeliveries(
  opts: { now?: Date; overdueAfterSeconds?: number; shouldStop?: () => boolean; lookbackHours?: number } = {},
): Promise<DeliveryReconcileStats> {
  const now = opts.now ?? new Date();
  const cutoff = new Date(now.getTime() - (opts.overdueAfterSeconds ?? OVERDUE_AFTER_SECONDS) * 1000);
  const lookback = opts.lookbackHours ?? config().WEBHOOK_DELIVERY_TTL_HOURS + 1;
  const stats: DeliveryReconcileStats = {
    buckets: 0,
    markers: 0,
    requeued: 0,
    caughtUp: 0,
    dropped: 0,
    busy: 0,
    expiring: 0,
    abandoned: 0,
    stopped: false,
  };
  const buckets = bucketsUpTo(cutoff, lookback, keys.webhookDeliveryDuePrefix);
  stats.buckets = buckets.length;
  for await (const m of markersUpTo('due', buckets, cutoff, opts.shouldStop)) {
    stats.markers++;
    stats[await reconcileOne(m, now, cutoff)]++;
  }
  stats.stopped = !!opts.shouldStop?.();
  return stats;
}

async function reconcileOne(
  m: ExpiryMarker,
  now: Date,
  cutoff: Date,
): Promise<'requeued' | 'caughtUp' | 'dropped' | 'busy' | 'expiring' | 'abandoned'> {
  const d = await getDelivery(m.delivery_id, now);
  if (d?.status !== 'PENDING' || d.expires_at !== m.expires_at) {
    return (await moveDueMarker(m, undefined)) ? 'dropped' : 'busy';
  }
  if (Date.parse(d.expires_at) <= now.getTime()) return 'expiring';
  if (leaseHeld(d.lease_until, now)) return 'busy';
  const dueAt = d.next_attempt_at ?? d.updated_at;
  if (Date.parse(dueAt) > cutoff.getTime()) {
    return (await moveDueMarker(m, dueAt)) ? 'caughtUp' : 'busy';
  }
  if ((m.requeues ?? 0) >= MAX_REQUEUES) {
    if (!(await moveDueMarker(m, undefined))) return 'busy';
    logger.error('webhook delivery left to expire: its job was re-queued and lost again too often', {
      delivery_id: d.id,
      endpoint_id: d.endpoint_id,
      requeues: m.requeues,
      expires_at: d.expires_at,
    });
    return 'abandoned';
  }
  // Overdue. Claim the re-queue first (only one run gets it), then send the job.
  if (!(await moveDueMarker(m, now.toISOString(), { requeued: true }))) return 'busy';
  await enqueueJob({ kind: 'deliver', delivery_id: d.id, cycle: d.cycle, attempt: d.attempt_count });
  logger.warn('webhook delivery job re-queued: it was overdue, its job was lost', {
    delivery_id: d.id,
    endpoint_id: d.endpoint_id,
    cycle: d.cycle,
    attempt: d.attempt_count,
    due_at: dueAt,
    requeues: (m.requeues ?? 0) + 1,
  });
  return 'requeued';
}

/** The webhook deliveries' reconciler (see {@link requeueLostDeliveries}). */
export const webhookDeliveriesReconciler: Reconciler = {
  name: 'webhooks.deliveries',
  run: ({ now, shouldStop }) => requeueLostDeliveries({ now, shouldStop }),
};
