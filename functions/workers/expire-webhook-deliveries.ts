import type { Context } from 'aws-lambda';
import { logger } from '#shared/logger.ts';
import { expireLostDeliveries } from '#shared/webhooks/expiry.ts';

/** Scheduled (rate(15 minutes)): marks EXPIRED the PENDING deliveries past expiry whose job was lost. */
export const handler = async (_event: unknown, context?: Context) => {
  logger.resetKeys();
  logger.appendKeys({ worker: 'expire-webhook-deliveries' });
  // Stop with 15 s left; the rest is picked up by the next run.
  const shouldStop = () => (context?.getRemainingTimeInMillis?.() ?? Number.POSITIVE_INFINITY) < 15_000;
  const stats = await expireLostDeliveries({ shouldStop });
  logger.info('webhook expiry sweep done', { ...stats });
  return stats;
};
