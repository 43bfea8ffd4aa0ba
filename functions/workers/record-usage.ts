import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { logger } from '#shared/logger.ts';
import { recordUsageBatch } from '#shared/tokens/usage.ts';

/**
 * Writes API usage records in batches (one BatchWriteItem per 25 logs rather than one write per
 * message, hence a whole-batch handler instead of `queueWorker`); reports the messages that could
 * not be written as batch item failures.
 */
export const handler = async (event: SQSEvent): Promise<SQSBatchResponse> => {
  logger.resetKeys();
  logger.appendKeys({ worker: 'record-usage' });
  try {
    const failed = await recordUsageBatch(
      event.Records.map((r) => ({ messageId: r.messageId, body: r.body })),
    );
    return { batchItemFailures: failed.map((itemIdentifier) => ({ itemIdentifier })) };
  } catch (err) {
    logger.error('usage batch failed', { error: err as Error });
    return { batchItemFailures: event.Records.map((r) => ({ itemIdentifier: r.messageId })) };
  }
};
