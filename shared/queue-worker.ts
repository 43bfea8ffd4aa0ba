import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { config } from '#shared/config.ts';
import {
  type Correlation,
  correlationFromAttributes,
  MAX_ID_LENGTH,
  withCorrelation,
} from '#shared/correlation.ts';
import { withCounterBuffer } from '#shared/counters.ts';
import { logger } from '#shared/logger.ts';
import { flushMetrics, metrics } from '#shared/metrics.ts';
import { inSubsegment } from '#shared/tracing.ts';

/** Ids a job body may name at its top level, added to the record's correlation (and log lines). */
const BODY_IDS = ['event_id', 'delivery_id', 'run_id'] as const;

/**
 * The correlation of one record: the ids its message attributes carry (set by shared/queues.ts
 * from the sender's correlation: `correlation_id`, `event_id`), the job's own ids from its body,
 * which win (a carried id is the sender's, the body's is this job's), and, for a message sent
 * outside any correlation (an external event source), its message id as the correlation id.
 */
export function recordCorrelation(record: SQSRecord): Correlation {
  const carried = correlationFromAttributes(record.messageAttributes);
  const fromBody: Partial<Correlation> = {};
  try {
    const body: unknown = JSON.parse(record.body);
    if (body && typeof body === 'object') {
      for (const k of BODY_IDS) {
        const v = (body as Record<string, unknown>)[k];
        if (typeof v === 'string' && v && v.length <= MAX_ID_LENGTH) fromBody[k] = v;
      }
    }
  } catch {
    // Not JSON: the worker will say so.
  }
  return { ...carried, ...fromBody, correlation_id: carried.correlation_id ?? record.messageId };
}

/**
 * One invocation of a worker, as every kit below runs it: fresh log keys with the Lambda context
 * (Powertools `addContext`, where there is one) and the worker's name, and the metrics the
 * invocation recorded flushed at its end, whatever happened.
 */
async function workerInvocation<T>(
  name: string,
  context: Context | undefined,
  fn: () => Promise<T>,
): Promise<T> {
  logger.resetKeys();
  if (context?.awsRequestId) logger.addContext(context);
  logger.appendKeys({ worker: name });
  try {
    return await fn();
  } finally {
    flushMetrics();
  }
}

/** A record SQS handed over before (ApproximateReceiveCount above 1): a retry. */
const isRetry = (record: SQSRecord) => Number(record.attributes?.ApproximateReceiveCount ?? '1') > 1;

/** The correlation of an invocation that is not about one record: its Lambda request id, else a new id. */
const invocationCorrelationId = (context: Context | undefined) =>
  context?.awsRequestId || crypto.randomUUID();

/**
 * Builds an SQS worker handler: each record is processed on its own and failures are reported
 * as `batchItemFailures`, so one bad record never makes the others run again. Each record runs in
 * its correlation ({@link recordCorrelation}): its log lines and the messages it sends carry it.
 * Per record it counts `QueueRecordsSucceeded` / `QueueRecordsFailed`, `QueueRecordRetries`
 * (received before) and `QueueRecordDuration`, by worker; metrics are flushed at the batch's end.
 */
export function queueWorker(
  name: string,
  processRecord: (record: SQSRecord, context?: Context) => Promise<unknown>,
) {
  config(); // a bad setting fails at init, naming the variable
  const dims = { worker: name };
  const handle = async (record: SQSRecord, context?: Context): Promise<unknown> => {
    const started = Date.now();
    if (isRetry(record)) metrics.count('QueueRecordRetries', 1, dims);
    try {
      const out = await withCorrelation(recordCorrelation(record), () => processRecord(record, context));
      metrics.count('QueueRecordsSucceeded', 1, dims);
      return out;
    } catch (err) {
      metrics.count('QueueRecordsFailed', 1, dims);
      throw err;
    } finally {
      metrics.duration('QueueRecordDuration', Date.now() - started, dims);
    }
  };
  return async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
    // A processor per invocation: it holds the batch's results, and the local runtime may run
    // invocations of one worker side by side.
    const processor = new BatchProcessor(EventType.SQS);
    // The status view's counters of the batch's transitions are written once, at its end.
    return workerInvocation(name, context, () =>
      inSubsegment(name, { worker: name }, () =>
        withCounterBuffer(() => processPartialResponse(event, handle, processor, { context })),
      ),
    );
  };
}

/**
 * Builds an SQS worker handler that takes the batch whole (e.g. one BatchWriteItem per 25 records
 * rather than one write per record): `processBatch` returns the message ids that failed, reported
 * as `batchItemFailures`; a throw fails the whole batch (logged). Around it, the kit's platform
 * work: the Lambda context and worker on every log line, one subsegment, `QueueRecordsSucceeded` /
 * `QueueRecordsFailed` / `QueueRecordRetries` by worker (no `QueueRecordDuration`: the records are
 * processed together, there is no time of one), the metrics flushed at the end. The batch
 * runs in one correlation of its own (the Lambda request id), as its records carry many: its log
 * lines name the records they are about (`message_id`).
 */
export function queueBatchWorker(
  name: string,
  processBatch: (records: SQSRecord[], context?: Context) => Promise<readonly string[]>,
) {
  config(); // a bad setting fails at init, naming the variable
  const dims = { worker: name };
  return (event: SQSEvent, context?: Context): Promise<SQSBatchResponse> =>
    workerInvocation(name, context, async () => {
      const records = event.Records;
      const retries = records.filter(isRetry).length;
      if (retries) metrics.count('QueueRecordRetries', retries, dims);
      const correlationId = invocationCorrelationId(context);
      const failed = await withCorrelation({ correlation_id: correlationId }, async () => {
        try {
          const ids = await inSubsegment(name, { worker: name, correlation_id: correlationId }, () =>
            processBatch(records, context),
          );
          return new Set(ids);
        } catch (err) {
          logger.error('batch failed', { error: err as Error });
          return new Set(records.map((r) => r.messageId));
        }
      });
      const failures = records.filter((r) => failed.has(r.messageId));
      if (failures.length) metrics.count('QueueRecordsFailed', failures.length, dims);
      if (records.length > failures.length) {
        metrics.count('QueueRecordsSucceeded', records.length - failures.length, dims);
      }
      return { batchItemFailures: failures.map((r) => ({ itemIdentifier: r.messageId })) };
    });
}

/**
 * Builds a scheduled worker handler (an EventBridge rule invokes it): settings are checked at init
 * like every other function's, and `run` gets a `shouldStop()` that turns true `marginMs` before
 * the Lambda timeout, so a run stops taking new work and leaves the rest to the next one. Each
 * run is its own correlation (the Lambda request id, else a new one); it counts `ScheduledRuns`
 * and `ScheduledRunsFailed` by worker, and flushes the run's metrics at its end.
 */
export function scheduledWorker<T>(
  name: string,
  marginMs: number,
  run: (shouldStop: () => boolean) => Promise<T>,
) {
  config(); // a bad setting fails at init, naming the variable
  const dims = { worker: name };
  return (_event: unknown, context?: Context): Promise<T> =>
    workerInvocation(name, context, async () => {
      metrics.count('ScheduledRuns', 1, dims);
      try {
        const correlationId = invocationCorrelationId(context);
        return await withCorrelation({ correlation_id: correlationId }, () =>
          inSubsegment(name, { worker: name, correlation_id: correlationId }, () =>
            withCounterBuffer(() =>
              run(() => (context?.getRemainingTimeInMillis?.() ?? Number.POSITIVE_INFINITY) < marginMs),
            ),
          ),
        );
      } catch (err) {
        metrics.count('ScheduledRunsFailed', 1, dims);
        throw err;
      }
    });
}
