import { reencryptConnections } from '#shared/oauth/reencrypt.ts';
import { scheduledWorker } from '#shared/queue-worker.ts';

/** Scheduled (rate(1 hour)): re-seals OAuth tokens under the current data key after a rotation. */
export const handler = scheduledWorker('reencrypt-oauth-tokens', 60_000, (shouldStop) =>
  reencryptConnections({ shouldStop }),
);
