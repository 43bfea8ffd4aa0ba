import { reencryptPluginSecrets } from '#shared/plugins/reencrypt.ts';
import { scheduledWorker } from '#shared/queue-worker.ts';

/** Scheduled (rate(1 hour)): re-seals plugin installations' secret settings under the current data key after a rotation. */
export const handler = scheduledWorker('reencrypt-plugin-secrets', 60_000, (shouldStop) =>
  reencryptPluginSecrets({ shouldStop }),
);
