import type { Context, SQSRecord } from 'aws-lambda';
import { runSyncMessage } from '#shared/bindings/worker.ts';
import { queueWorker } from '#shared/queue-worker.ts';

/** Sync runs, one message per invocation's share of a run (the engine re-enqueues the rest). */
export const handler = queueWorker('sync-runs', (record: SQSRecord, context?: Context) =>
  runSyncMessage(record, context?.getRemainingTimeInMillis?.()),
);
