import { logger } from '#shared/logger.ts';
import { scheduledWorker } from '#shared/queue-worker.ts';
import { type Reconciler, runReconcilers } from '#shared/reconcile.ts';
import { webhookDeliveriesReconciler } from '#shared/webhooks/reconcile.ts';

/**
 * Every feature's reconciler. A feature whose queued work can be lost adds its own here, and the
 * send grant of its queue to the `reconcileJobs` row of functions/workers.ts.
 */
export const reconcilers: Reconciler[] = [
  // ── Webhooks ──
  webhookDeliveriesReconciler,
  // ── Other features (sync runs) ──
];

/** Scheduled (rate(5 minutes)): puts back on their queues the jobs of overdue work whose message was lost. */
// Stop with 15 s left; the rest is picked up by the next run.
export const handler = scheduledWorker('reconcile-jobs', 15_000, async (shouldStop) => {
  const stats = await runReconcilers(reconcilers, { shouldStop });
  logger.info('reconcile run done', { ...stats });
  return stats;
});
