/**
 * The sync worker's part around the engine: reads the queue message, gives the engine its
 * deadline, and ends a run FAILED when our own side keeps failing on it (the last receive before
 * the DLQ). An invocation that dies without running this (a timeout, out of memory) leaves the run
 * to the scheduler's sweep of stalled runs (schedule.ts `recoverStalledRuns`), so no run stays
 * QUEUED or RUNNING for ever.
 */
import type { SQSRecord } from 'aws-lambda';
import { config } from '#shared/config.ts';
import { logger } from '#shared/logger.ts';
import { queues } from '#shared/queue-catalog.ts';
import { check } from '#shared/validation.ts';
import { type InvocationResult, workOnRun } from './engine.ts';
import { finishRun, runMessage } from './runs.ts';
import { getRunAt } from './store.ts';

/** Time kept back from the Lambda's remaining time for the run's last writes. */
const RESERVE_MS = 15_000;

export async function runSyncMessage(
  record: SQSRecord,
  remainingMs?: number,
): Promise<InvocationResult | undefined> {
  let body: unknown;
  try {
    body = JSON.parse(record.body);
  } catch {
    body = undefined;
  }
  const msg = check(runMessage, body);
  // Only this service sends these: a message that is not one is dropped, never retried for ever.
  if (!msg.success) {
    logger.error('sync message dropped: not a run', { message_id: record.messageId });
    return undefined;
  }
  const cfg = config();
  const budget = cfg.SYNC_INVOCATION_SECONDS * 1000;
  const deadline =
    Date.now() + Math.min(budget, remainingMs === undefined ? budget : remainingMs - RESERVE_MS);
  try {
    const result = await workOnRun(msg.data, { deadline, maxPages: cfg.SYNC_MAX_PAGES_PER_INVOCATION });
    logger.info('sync invocation', { run_id: msg.data.run_id, binding_id: msg.data.binding_id, result });
    return result;
  } catch (err) {
    const receives = Number(record.attributes?.ApproximateReceiveCount ?? '1');
    if (receives < queues.sync.maxReceiveCount) throw err;
    logger.error('sync run failed on our side', { run_id: msg.data.run_id, error: (err as Error).message });
    const run = await getRunAt(msg.data.connection_id, msg.data.binding_id, msg.data.run_id);
    if (run) {
      await finishRun(run, {
        status: 'FAILED',
        error: { code: 'internal_error', message: 'The run failed on the service side; start it again' },
      });
    }
    return 'finished';
  }
}
