import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { config } from '#shared/config.ts';
import { withCounterBuffer } from '#shared/counters.ts';
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
    // The status view's counters of the batch's transitions are written once, at its end.
    return withCounterBuffer(() => processPartialResponse(event, processRecord, processor, { context }));
  };
}

/**
 * Builds a scheduled worker handler (an EventBridge rule invokes it): settings are checked at init
 * like every other function's, and `run` gets a `shouldStop()` that turns true `marginMs` before
 * the Lambda timeout, so a run stops taking new work and leaves the rest to the next one.
 */
export function scheduledWorker<T>(
  name: string,
  marginMs: number,
  run: (shouldStop: () => boolean) => Promise<T>,
) {
  config(); // a bad setting fails at init, naming the variable
  return async (_event: unknown, context?: Context): Promise<T> => {
    logger.resetKeys();
    logger.appendKeys({ worker: name });
    return withCounterBuffer(() =>
      run(() => (context?.getRemainingTimeInMillis?.() ?? Number.POSITIVE_INFINITY) < marginMs),
    );
  };
}
