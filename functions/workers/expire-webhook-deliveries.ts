import { logger } from '#shared/logger.ts';
import { scheduledWorker } from '#shared/queue-worker.ts';
import { expireLostDeliveries } from '#shared/webhooks/expiry.ts';

/** Scheduled (rate(15 minutes)): marks EXPIRED the PENDING deliveries past expiry whose job was lost. */
// Stop with 15 s left; the rest is picked up by the next run.
export const handler = scheduledWorker('expire-webhook-deliveries', 15_000, async (shouldStop) => {
  const stats = await expireLostDeliveries({ shouldStop });
  logger.info('webhook expiry sweep done', { ...stats });
  return stats;
});
