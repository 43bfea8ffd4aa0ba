/**
 * Scheduled bindings: every binding with a schedule has a marker sorted by its next run in one
 * gsi1 partition (B8), so the scheduler reads exactly the due ones (`gsi1sk <= now`), oldest
 * first, and never scans. Starting a run moves the marker one interval on (the run's end sets it
 * from the end time); a busy or paused binding's marker is moved on without a run.
 */
import { DeleteCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { db, tableName } from '#shared/db/client.ts';
import { ConflictError } from '#shared/errors.ts';
import { logger } from '#shared/logger.ts';
import { bindingKeys } from './keys.ts';
import { startRun } from './runs.ts';
import { type BindingItem, getBindingAt } from './store.ts';

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
      Item: {
        ...key,
        ...bindingKeys.scheduleIndex(nextRunAt, binding.id),
        entity: 'SyncSchedule',
        binding_id: binding.id,
        connection_id: binding.connection_id,
        next_run_at: nextRunAt,
      },
    }),
  );
}

const later = (binding: BindingItem, now: Date) =>
  new Date(now.getTime() + (binding.schedule?.every_minutes ?? 60) * 60_000).toISOString();

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
        await startRun(binding, { trigger: 'schedule', now });
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
