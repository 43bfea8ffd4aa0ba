import { sweepExpiredConsents } from '#shared/consents/jobs.ts';
import { scheduledWorker } from '#shared/queue-worker.ts';

/** Scheduled (rate(15 minutes)): records in the audit trail the expiry of consents whose end date passed. */
export const handler = scheduledWorker('expire-consents', 10_000, (shouldStop) =>
  sweepExpiredConsents({ shouldStop }),
);
