import { queueBatchWorker } from '#shared/queue-worker.ts';
import { recordUsageBatch } from '#shared/tokens/usage.ts';

/**
 * Writes API usage records in batches (one BatchWriteItem per 25 logs rather than one write per
 * message, hence the whole-batch kit rather than `queueWorker`); reports the messages that could
 * not be written as batch item failures, and the whole batch when it throws.
 */
export const handler = queueBatchWorker('record-usage', (records) =>
  recordUsageBatch(records.map((r) => ({ messageId: r.messageId, body: r.body }))),
);
