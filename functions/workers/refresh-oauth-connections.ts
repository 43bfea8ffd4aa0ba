import type { Context } from 'aws-lambda';
import { logger } from '#shared/logger.ts';
import { refreshDueConnections } from '#shared/oauth/refresh.ts';

/** Scheduled (rate(5 minutes)): refreshes the OAuth connections whose tokens expire soon. */
export const handler = async (_event: unknown, context?: Context) => {
  logger.resetKeys();
  logger.appendKeys({ worker: 'refresh-oauth-connections' });
  // Stop taking new connections with 30 s left; the rest are picked up by the next run.
  const shouldStop = () => (context?.getRemainingTimeInMillis?.() ?? Number.POSITIVE_INFINITY) < 30_000;
  const stats = await refreshDueConnections({ shouldStop });
  logger.info('oauth scheduled refresh done', stats);
  return stats;
};
