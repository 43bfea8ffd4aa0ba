import { logger } from '#shared/logger.ts';

/**
 * What a reconciler reports: `requeued` jobs put back, `stopped` when it ran out of time, and
 * whatever else it counts (markers read, entries caught up, …).
 */
export interface ReconcileStats {
  requeued: number;
  stopped: boolean;
  [count: string]: number | boolean;
}

/**
 * A feature's reconciler: finds its work that should have moved on by now but did not, because
 * its queue message was lost (a purge, a dropped job, an emulator restart, an operator's
 * mistake), and puts the job back. It must read through an index (never a scan) and be
 * idempotent: a second run finds nothing to do, and a job it sends while the original still
 * exists must be harmless to the worker (a claim, a lease, a conditional record).
 */
export interface Reconciler {
  /** Name in logs and stats, e.g. `webhooks.deliveries`. */
  name: string;
  run: (opts: { now: Date; shouldStop: () => boolean }) => Promise<ReconcileStats>;
}

/**
 * Runs every reconciler in turn; one that fails does not keep the others from running. Throws
 * afterwards when any failed (the invocation then counts as an error, retried by its schedule).
 */
export async function runReconcilers(
  reconcilers: readonly Reconciler[],
  opts: { now?: Date; shouldStop?: () => boolean } = {},
): Promise<Record<string, ReconcileStats>> {
  const results: Record<string, ReconcileStats> = {};
  const failures: { name: string; err: unknown }[] = [];
  for (const r of reconcilers) {
    if (opts.shouldStop?.()) break;
    try {
      results[r.name] = await r.run({
        now: opts.now ?? new Date(),
        shouldStop: opts.shouldStop ?? (() => false),
      });
    } catch (err) {
      logger.error('reconciler failed', { reconciler: r.name, error: err as Error });
      failures.push({ name: r.name, err });
    }
  }
  if (failures.length) {
    throw new AggregateError(
      failures.map((f) => f.err),
      `Reconcilers failed: ${failures.map((f) => f.name).join(', ')}`,
    );
  }
  return results;
}
