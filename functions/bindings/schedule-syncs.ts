import { recoverStalledRuns, startDueRuns } from '#shared/bindings/schedule.ts';
import { scheduledWorker } from '#shared/queue-worker.ts';

/**
 * Starts the runs of scheduled bindings that are due (found through the schedule index, no scan),
 * then puts stalled runs back on the sync queue (the active-runs index, no scan).
 */
export const handler = scheduledWorker('schedule-syncs', 10_000, async (shouldStop) => ({
  ...(await startDueRuns({ shouldStop })),
  ...(await recoverStalledRuns({ shouldStop })),
}));
