import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { config } from '#shared/config.ts';
import { logger } from '#shared/logger.ts';

/**
 * Builds an SQS worker handler: each record is processed on its own and failures are reported
 * as `batchItemFailures`, so one bad record never makes the others run again.
 */
export function queueWorker(name: string, processRecord: (record: SQSRecord) => Promise<unknown>) {
  config(); // a bad setting fails at init, naming the variable
  return async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
    // A processor per invocation: it holds the batch's results, and the local runtime may run
    // invocations of one worker side by side.
    const processor = new BatchProcessor(EventType.SQS);
    logger.resetKeys();
    logger.appendKeys({ worker: name });
    return processPartialResponse(event, processRecord, processor, { context });
  };
}
