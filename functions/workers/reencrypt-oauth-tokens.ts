import type { Context } from 'aws-lambda';
import { logger } from '#shared/logger.ts';
import { reencryptConnections } from '#shared/oauth/reencrypt.ts';

/** Scheduled (rate(1 hour)): re-seals OAuth tokens under the current data key after a rotation. */
export const handler = async (_event: unknown, context?: Context) => {
  logger.resetKeys();
  logger.appendKeys({ worker: 'reencrypt-oauth-tokens' });
  const shouldStop = () => (context?.getRemainingTimeInMillis?.() ?? Number.POSITIVE_INFINITY) < 60_000;
  return reencryptConnections({ shouldStop });
};
