/**
 * Scheduled bindings: every binding with a schedule has a marker sorted by its next run in one
 * gsi1 partition (B8), so the scheduler reads exactly the due ones (`gsi1sk <= now`), oldest
 * first, and never scans. Starting a run moves the marker one interval on (the run's end sets it
 * from the end time); a busy or paused binding's marker is moved on without a run. A scheduled run
 * is full once a day ({@link scheduledRunIsFull}), so deletions at the provider are seen. The same
 * worker sweeps stalled runs ({@link recoverStalledRuns}).
 */
import { DeleteCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { db, tableName } from '#shared/db/client.ts';
import { isConditionFailed } from '#shared/db/conditions.ts';
import { LEASE_FREE, leaseHeld, leaseValues } from '#shared/db/lease.ts';
import { ConflictError } from '#shared/errors.ts';
import { logger } from '#shared/logger.ts';
import { bindingKeys } from './keys.ts';
import { type ActiveRunItem, enqueueRun, isTerminal, MAX_RUN_RECOVERIES, startRun } from './runs.ts';
import { type BindingItem, getBindingAt, getRunAt, scheduleMarkerItem } from './store.ts';

interface ScheduleMarker {
  pk: string;
  sk: string;
  binding_id: string;
  connection_id: string;
  next_run_at: string;
}

/** Writes (or moves) a binding's schedule marker; removes it when the binding has no schedule. */
export async function writeScheduleMarker(binding: BindingItem, nextRunAt: string | null): Promise<void> {
  const key = bindingKeys.schedule(binding.connection_id, binding.id);
  if (!binding.schedule || !nextRunAt) {
    await db().send(new DeleteCommand({ TableName: tableName(), Key: key }));
    return;
  }
  await db().send(
    new PutCommand({
      TableName: tableName(),
      Item: scheduleMarkerItem(binding, nextRunAt),
    }),
  );
}

const later = (binding: BindingItem, now: Date) =>
  new Date(now.getTime() + (binding.schedule?.every_minutes ?? 60) * 60_000).toISOString();

/** A scheduled binding gets a full run at least this often (hours; the schedule may say otherwise). */
export const FULL_RUN_EVERY_HOURS = 24;

/**
 * Whether a binding's scheduled run at `now` is a full one: incremental runs never see what was
 * deleted at the provider (GitHub lists no deleted issue), only a full run's comparison of the seen
 * set does. Full when the binding's last complete full run (`last_full_run_at`, written by
 * finishRun for a SUCCEEDED or PARTIAL full run) is older than the period, or there never was one.
 */
export function scheduledRunIsFull(binding: BindingItem, now: Date): boolean {
  const hours = (binding.schedule as { full_every_hours?: number } | null)?.full_every_hours;
  const periodMs = (typeof hours === 'number' && hours > 0 ? hours : FULL_RUN_EVERY_HOURS) * 3600_000;
  const last = (binding as BindingItem & { last_full_run_at?: string }).last_full_run_at;
  return !last || now.getTime() - Date.parse(last) >= periodMs;
}

/** Starts the runs of every due scheduled binding; returns how many it started and moved on. */
export async function startDueRuns(
  opts: { now?: Date; shouldStop?: () => boolean } = {},
): Promise<{ started: number; deferred: number; removed: number }> {
  const now = opts.now ?? new Date();
  const stats = { started: 0, deferred: 0, removed: 0 };
  let start: Record<string, unknown> | undefined;
  do {
    const page = await db().send(
      new QueryCommand({
        TableName: tableName(),
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :pk AND gsi1sk <= :due',
        ExpressionAttributeValues: { ':pk': bindingKeys.schedulePartition, ':due': `${now.toISOString()}#~` },
        Limit: 100,
        ExclusiveStartKey: start,
      }),
    );
    for (const marker of (page.Items ?? []) as ScheduleMarker[]) {
      if (opts.shouldStop?.()) return stats;
      const binding = await getBindingAt(marker.connection_id, marker.binding_id);
      if (!binding?.schedule) {
        await db().send(new DeleteCommand({ TableName: tableName(), Key: { pk: marker.pk, sk: marker.sk } }));
        stats.removed += 1;
        continue;
      }
      await writeScheduleMarker(binding, later(binding, now));
      if (binding.status !== 'ACTIVE' || binding.active_run_id) {
        stats.deferred += 1;
        continue;
      }
      try {
        await startRun(binding, { trigger: 'schedule', now, full: scheduledRunIsFull(binding, now) });
        stats.started += 1;
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
        stats.deferred += 1;
      }
    }
    start = page.LastEvaluatedKey;
  } while (start);
  if (stats.started || stats.deferred || stats.removed) logger.info('scheduled syncs', stats);
  return stats;
}

/** A run whose entry (queued time or lease end) is this far past is stalled (its worker died). */
export const STALL_MARGIN_MS = 15 * 60_000;

/**
 * Stalled runs: an invocation that times out or runs out of memory on every receive sends its
 * message to the DLQ without the worker's last-receive catch, leaving the run QUEUED or RUNNING and
 * its binding busy for good. Every active run has an entry in one gsi1 partition (B9) sorted by when
 * it should have moved by (its queued time, then its lease's end), so this reads exactly the entries
 * more than {@link STALL_MARGIN_MS} past, and never scans. A run still active with its lease free is
 * put on the sync queue again (resuming is crash-safe: its pages are stamped) and its entry moved to
 * now; once it has been recovered {@link MAX_RUN_RECOVERIES} times it is marked `stalled` and put on
 * the queue once more, where its claim finishes it FAILED `stalled` (the sync worker raises
 * `sync.failed`: this worker needs no grant beyond the table and the sync queue). Each step is
 * conditional on the entry not having moved, so two schedulers never both recover one run.
 */
export async function recoverStalledRuns(
  opts: { now?: Date; shouldStop?: () => boolean } = {},
): Promise<{ recovered: number; stalled: number; cleared: number }> {
  const now = opts.now ?? new Date();
  const before = `${new Date(now.getTime() - STALL_MARGIN_MS).toISOString()}#~`;
  const stats = { recovered: 0, stalled: 0, cleared: 0 };
  let start: Record<string, unknown> | undefined;
  do {
    const page = await db().send(
      new QueryCommand({
        TableName: tableName(),
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :pk AND gsi1sk <= :before',
        ExpressionAttributeValues: { ':pk': bindingKeys.activeRunPartition, ':before': before },
        ProjectionExpression: 'pk, sk, gsi1pk, gsi1sk, connection_id, binding_id, id',
        Limit: 100,
        ExclusiveStartKey: start,
      }),
    );
    for (const entry of (page.Items ?? []) as Pick<
      ActiveRunItem,
      'pk' | 'sk' | 'gsi1sk' | 'connection_id' | 'binding_id' | 'id'
    >[]) {
      if (opts.shouldStop?.()) return stats;
      const outcome = await recoverOne(entry, now, before);
      if (outcome) stats[outcome] += 1;
    }
    start = page.LastEvaluatedKey;
  } while (start);
  if (stats.recovered || stats.stalled || stats.cleared) logger.warn('stalled sync runs', stats);
  return stats;
}

async function recoverOne(
  entry: Pick<ActiveRunItem, 'gsi1sk' | 'connection_id' | 'binding_id' | 'id'>,
  now: Date,
  before: string,
): Promise<'recovered' | 'stalled' | 'cleared' | undefined> {
  const run = (await getRunAt(entry.connection_id, entry.binding_id, entry.id)) as ActiveRunItem | undefined;
  // The index is read eventually consistent: the run may have moved on or finished meanwhile.
  if (!run?.gsi1sk || run.gsi1sk > before) return undefined;
  const key = { pk: run.pk, sk: run.sk };
  if (isTerminal(run.status)) {
    // Finished without leaving the index (not by finishRun): only the entry goes.
    await db()
      .send(
        new UpdateCommand({
          TableName: tableName(),
          Key: key,
          UpdateExpression: 'REMOVE gsi1pk, gsi1sk',
          ConditionExpression: 'gsi1sk = :seen',
          ExpressionAttributeValues: { ':seen': run.gsi1sk },
        }),
      )
      .catch((err) => {
        if (!isConditionFailed(err)) throw err;
      });
    return 'cleared';
  }
  if (leaseHeld(run.lease_until, now)) return undefined;
  const waitsUntil = run.resume_at && run.resume_at > now.getTime() ? run.resume_at : undefined;
  const stalled = !waitsUntil && (run.recoveries ?? 0) >= MAX_RUN_RECOVERIES;
  // Waiting out a long rate limit: not stalled, looked at again past its resume time.
  const at = new Date(waitsUntil ?? now.getTime()).toISOString();
  try {
    await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: key,
        UpdateExpression: waitsUntil
          ? 'SET gsi1sk = :next'
          : stalled
            ? 'SET gsi1sk = :next, stalled = :t'
            : 'SET gsi1sk = :next, recoveries = if_not_exists(recoveries, :zero) + :one',
        ConditionExpression: `gsi1sk = :seen AND #st IN (:queued, :running) AND ${LEASE_FREE}`,
        ExpressionAttributeNames: { '#st': 'status' },
        ExpressionAttributeValues: {
          ':next': bindingKeys.activeRun(at, run.id).gsi1sk,
          ':seen': run.gsi1sk,
          ':queued': 'QUEUED',
          ':running': 'RUNNING',
          ...leaseValues(now),
          ...(waitsUntil ? {} : stalled ? { ':t': true } : { ':zero': 0, ':one': 1 }),
        },
      }),
    );
  } catch (err) {
    if (isConditionFailed(err)) return undefined;
    throw err;
  }
  if (waitsUntil) return undefined;
  await enqueueRun(run);
  logger.warn(stalled ? 'stalled sync run given up' : 'stalled sync run recovered', {
    run_id: run.id,
    binding_id: run.binding_id,
    status: run.status,
    recoveries: (run.recoveries ?? 0) + (stalled ? 0 : 1),
  });
  return stalled ? 'stalled' : 'recovered';
}
