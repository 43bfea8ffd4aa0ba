/**
 * Background workers: what a worker row of a feature (`functions/<feature>/feature.ts`) says. The
 * CDK app gives each worker an event source on its queue or a schedule, in its feature's nested
 * stack; the local runtime polls the same queues into the same handlers and runs the schedules.
 * Deployed code never imports this module (it re-exports the registry's workers).
 */
import type { Grant } from '#shared/http/route.ts';
import type { QueueId } from '#shared/queue-catalog.ts';
import { workers } from './features.ts';

export { type QueueDef, type QueueId, queues } from '#shared/queue-catalog.ts';

export interface WorkerDef {
  id: string;
  /** Handler module under `functions/`, without extension. */
  handler: string;
  description: string;
  /**
   * The queue it consumes, a schedule expression (`rate(5 minutes)`), or `afterDeploy`: run once
   * after every deployment that changes it (a CDK trigger; locally, once at each start, before the
   * service answers). An `afterDeploy` job must be idempotent and finish within its timeout.
   */
  trigger:
    | {
        queue: QueueId;
        batchSize: number;
        maxBatchingWindowSeconds?: number;
        /**
         * The most batches of the queue handled at once (2–1000): the event source mapping's
         * maximum concurrency in AWS (Lambda otherwise scales its SQS pollers on its own), and
         * the number of concurrent pollers of the local runtime (infra/local/poller.ts), which
         * otherwise runs the stack's default. One declaration drives both.
         */
        maxConcurrency?: number;
      }
    | { schedule: string }
    | { afterDeploy: true };
  timeoutSeconds: number;
  memoryMb?: number;
  grants: Grant[];
}

/**
 * Every worker, in registry order: for tests and tools (the rows live in each feature's
 * `feature.ts`; the registry is functions/features.ts).
 */
export { workers };

/** A queue's consumer timeout when it has none yet (seconds). */
export const DEFAULT_WORKER_TIMEOUT_SECONDS = 30;

/**
 * Visibility timeout of a queue: six times its slowest consumer's timeout plus the batching
 * window (AWS guidance for Lambda event sources). Used by the CDK stack and the local runtime
 * alike, so a slow local worker never sees its own message delivered twice.
 */
export function visibilityTimeoutSeconds(
  queueId: QueueId,
  workerTable: readonly WorkerDef[] = workers,
): number {
  const consumers = workerTable.flatMap((w) =>
    'queue' in w.trigger && w.trigger.queue === queueId ? [w] : [],
  );
  if (!consumers.length) return 6 * DEFAULT_WORKER_TIMEOUT_SECONDS;
  return Math.max(
    ...consumers.map(
      (w) => 6 * w.timeoutSeconds + ('queue' in w.trigger ? (w.trigger.maxBatchingWindowSeconds ?? 0) : 0),
    ),
  );
}
