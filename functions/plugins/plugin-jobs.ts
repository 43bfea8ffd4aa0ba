import { logger } from '#shared/logger.ts';
import { parsePluginJob, runPluginJob } from '#shared/plugins/jobs.ts';
import { queueWorker } from '#shared/queue-worker.ts';

/** Plugin marketplace jobs (rollouts of new versions, deleted plugins' cascades), a page per message. */
export const handler = queueWorker('plugin-jobs', async (record) => {
  const job = parsePluginJob(record.body);
  // Only this service sends these: a message that is not a job is dropped, never retried forever.
  if (!job) {
    logger.error('plugin job message dropped: not a job', { message_id: record.messageId });
    return;
  }
  await runPluginJob(job);
});
