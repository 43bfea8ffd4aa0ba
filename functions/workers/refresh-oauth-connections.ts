import { logger } from '#shared/logger.ts';
import { refreshDueConnections } from '#shared/oauth/refresh.ts';
import { scheduledWorker } from '#shared/queue-worker.ts';

/** Scheduled (rate(5 minutes)): refreshes the OAuth connections whose tokens expire soon. */
// Stop taking new connections with 30 s left; the rest are picked up by the next run.
export const handler = scheduledWorker('refresh-oauth-connections', 30_000, async (shouldStop) => {
  const stats = await refreshDueConnections({ shouldStop });
  logger.info('oauth scheduled refresh done', stats);
  return stats;
});
