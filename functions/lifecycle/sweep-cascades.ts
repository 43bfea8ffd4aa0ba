import { participants } from '#shared/lifecycle/participants.ts';
import { parseKick, runCascadePage } from '#shared/lifecycle/sweep.ts';
import { logger } from '#shared/logger.ts';
import { queueWorker } from '#shared/queue-worker.ts';

/** Lifecycle cascades: one page of a deleted subject's items per message, then the next message. */
export const handler = queueWorker('sweep-cascades', async (record) => {
  const kick = parseKick(record.body);
  // Only this service sends these: a message that is not one is dropped, never retried forever.
  if (!kick) {
    logger.error('cascade message dropped: not a cascade page', { message_id: record.messageId });
    return;
  }
  await runCascadePage(kick, participants);
});
