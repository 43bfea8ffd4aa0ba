import { scheduledWorker } from '#shared/queue-worker.ts';
import { reencryptWebhookSecrets } from '#shared/webhooks/reencrypt.ts';

/** Scheduled (rate(1 hour)): re-seals webhook signing secrets under the current data key after a rotation. */
export const handler = scheduledWorker('reencrypt-webhook-secrets', 60_000, (shouldStop) =>
  reencryptWebhookSecrets({ shouldStop }),
);
