/**
 * The life of a sync run: started (one per binding at a time, in the same transaction that marks
 * the binding busy), worked through the sync queue by the engine, cancelled, finished (the
 * binding's checkpoint, last run and next scheduled run written with it, then `sync.completed`
 * or `sync.failed` raised).
 */
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import * as v from 'valibot';
import { addServiceCounters, type CounterChange, counterTransactItems } from '#shared/counters.ts';
import { db, tableName } from '#shared/db/client.ts';
import { conditionFailedAt, isConditionFailed } from '#shared/db/conditions.ts';
import { ttlIn } from '#shared/db/keys.ts';
import { LEASE_FREE, leaseHeld, leaseValues } from '#shared/db/lease.ts';
import { transactWrite } from '#shared/db/transact.ts';
import { updateExpression } from '#shared/db/update.ts';
import { ConflictError, NotFoundError } from '#shared/errors.ts';
import { publishEvent } from '#shared/events/publish.ts';
import { newId } from '#shared/ids.ts';
import { logger } from '#shared/logger.ts';
import { metrics } from '#shared/metrics.ts';
import { sendJson } from '#shared/queues.ts';
import { bindingKeys } from './keys.ts';
import {
  type BindingItem,
  getBindingAt,
  getRunAt,
  type RunItem,
  type RunStatus,
  type RunTrigger,
  scheduleMarkerItem,
  TERMINAL_RUN_STATUSES,
  zeroCounts,
} from './store.ts';

/** Runs are kept for 90 days. */
const RUN_RETENTION_SECONDS = 90 * 24 * 3600;

/** How many times the scheduler re-enqueues a stalled run before it is finished FAILED `stalled`. */
export const MAX_RUN_RECOVERIES = 3;

/**
 * What an active run holds besides its {@link RunItem} fields: its entry in the stalled-runs index
 * (B9; removed when it finishes), how often the scheduler recovered it, its lease (engine.ts), and
 * `stalled` once recovered {@link MAX_RUN_RECOVERIES} times (its next claim finishes it FAILED).
 */
export type ActiveRunItem = RunItem & {
  gsi1pk?: string;
  gsi1sk?: string;
  recoveries?: number;
  stalled?: boolean;
  lease_owner?: string;
  lease_until?: number;
};

/** The sync queue's message: work on this run (start it, or go on where it stands). */
export const runMessage = v.object({
  kind: v.literal('run'),
  connection_id: v.pipe(v.string(), v.minLength(1), v.maxLength(100)),
  binding_id: v.pipe(v.string(), v.minLength(1), v.maxLength(100)),
  run_id: v.pipe(v.string(), v.minLength(1), v.maxLength(100)),
});
export type RunMessage = v.InferOutput<typeof runMessage>;

export const isTerminal = (status: RunStatus) => TERMINAL_RUN_STATUSES.includes(status);

function newRunItem(binding: BindingItem, trigger: RunTrigger, full: boolean, now: Date): ActiveRunItem {
  const id = newId('run', now.getTime());
  return {
    ...bindingKeys.run(binding.connection_id, binding.id, id),
    ...bindingKeys.activeRun(now.toISOString(), id),
    recoveries: 0,
    entity: 'SyncRun',
    id,
    binding_id: binding.id,
    workspace_id: binding.workspace_id,
    connection_id: binding.connection_id,
    status: 'QUEUED',
    trigger,
    full,
    inbound: zeroCounts(),
    outbound: zeroCounts(),
    errors: [],
    errors_total: 0,
    error: null,
    checkpoint_from: full ? null : binding.checkpoint,
    checkpoint_to: null,
    pages_fetched: 0,
    provider_calls: 0,
    rate_limit_waits: 0,
    rate_limit_wait_ms: 0,
    not_modified: 0,
    invocations: 0,
    phase: 'inbound',
    cursor: null,
    page_seq: 0,
    resume_at: null,
    cancel_requested: false,
    queued_at: now.toISOString(),
    started_at: null,
    finished_at: null,
    duration_ms: null,
    ttl: ttlIn(RUN_RETENTION_SECONDS, now.getTime()),
  };
}

export const enqueueRun = (run: Pick<RunItem, 'connection_id' | 'binding_id' | 'id'>, delaySeconds = 0) =>
  sendJson(
    'SYNC_QUEUE_URL',
    { kind: 'run', connection_id: run.connection_id, binding_id: run.binding_id, run_id: run.id },
    delaySeconds,
  );

/** Refuses a run of a binding that is not ACTIVE (409, with the reason). */
function assertRunnable(binding: BindingItem): void {
  if (binding.status !== 'ACTIVE') {
    throw new ConflictError(
      `The binding ${binding.id} is ${binding.status}${binding.status_reason ? ` (${binding.status_reason.message})` : ''}: resume it with PATCH { "active": true } first.`,
      { extra: { binding_status: binding.status, status_reason: binding.status_reason } },
    );
  }
}

function alreadyRunning(binding: BindingItem): ConflictError {
  return new ConflictError(`The binding ${binding.id} has a run in progress (${binding.active_run_id}).`, {
    extra: { run_id: binding.active_run_id },
  });
}

/**
 * Starts a run: the run and the binding's `active_run_id` are written in one transaction that
 * holds only while no run is active, so of concurrent requests exactly one starts a run and the
 * others get 409 with its `run_id`. The run is then put on the sync queue; should that fail, the
 * run is finished FAILED at once (nothing stays busy).
 */
export async function startRun(
  binding: BindingItem,
  opts: { trigger: RunTrigger; full?: boolean; now?: Date },
): Promise<RunItem> {
  assertRunnable(binding);
  if (binding.active_run_id) throw alreadyRunning(binding);
  const now = opts.now ?? new Date();
  const run = newRunItem(binding, opts.trigger, opts.full ?? false, now);
  try {
    await transactWrite([
      {
        Update: {
          TableName: tableName(),
          Key: { pk: binding.pk, sk: binding.sk },
          UpdateExpression: 'SET active_run_id = :run REMOVE rerun_requested',
          ConditionExpression:
            'attribute_exists(pk) AND attribute_not_exists(active_run_id) AND #s = :active',
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: { ':run': run.id, ':active': 'ACTIVE' },
        },
      },
      { Put: { TableName: tableName(), Item: run, ConditionExpression: 'attribute_not_exists(pk)' } },
    ]);
  } catch (err) {
    if (!conditionFailedAt(err, 0)) throw err;
    const current = await getBindingAt(binding.connection_id, binding.id);
    if (!current) throw new NotFoundError(`There is no binding ${binding.id}.`);
    assertRunnable(current);
    throw alreadyRunning(current);
  }
  try {
    await enqueueRun(run);
  } catch (err) {
    await finishRun(run, {
      status: 'FAILED',
      error: { code: 'enqueue_failed', message: 'The run could not be queued' },
    });
    throw err;
  }
  return run;
}

/**
 * A run asked for by PronaFlow changes: started when none is active, else noted on the binding
 * (`rerun_requested`) so the active run's end starts the next one. Never throws for a busy or
 * paused binding (the change waits in its pending item).
 */
export async function requestRunForChanges(binding: BindingItem): Promise<void> {
  if (binding.status !== 'ACTIVE') return;
  if (!binding.active_run_id) {
    try {
      await startRun(binding, { trigger: 'events' });
      return;
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
    }
  }
  try {
    await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: { pk: binding.pk, sk: binding.sk },
        UpdateExpression: 'SET rerun_requested = :t',
        ConditionExpression: 'attribute_exists(active_run_id)',
        ExpressionAttributeValues: { ':t': true },
      }),
    );
  } catch (err) {
    if (!isConditionFailed(err)) throw err;
    // The run ended meanwhile: start the next one now.
    const current = await getBindingAt(binding.connection_id, binding.id);
    if (current && current.status === 'ACTIVE' && !current.active_run_id) {
      await startRun(current, { trigger: 'events' }).catch((e) => {
        if (!(e instanceof ConflictError)) throw e;
      });
    }
  }
}

/** Writes part of a run (progress, counters), optionally only while it is at `expectedPageSeq`. */
export async function updateRun(
  run: RunItem,
  set: Partial<RunItem>,
  opts: { expectedPageSeq?: number } = {},
): Promise<RunItem> {
  const expr = updateExpression({ set });
  const out = await db().send(
    new UpdateCommand({
      TableName: tableName(),
      Key: { pk: run.pk, sk: run.sk },
      ...expr,
      ConditionExpression:
        opts.expectedPageSeq === undefined
          ? 'attribute_exists(pk)'
          : 'attribute_exists(pk) AND page_seq = :seq',
      ExpressionAttributeValues: {
        ...expr.ExpressionAttributeValues,
        ...(opts.expectedPageSeq === undefined ? {} : { ':seq': opts.expectedPageSeq }),
      },
      ReturnValues: 'ALL_NEW',
    }),
  );
  return out.Attributes as RunItem;
}

/**
 * `POST /bindings/{id}/runs/{run_id}/cancel`: a QUEUED run is CANCELLED at once, and so is a
 * RUNNING one that no invocation holds (its lease free or expired: between shares, or its worker
 * died; conditional on that, so no invocation is working on it); a RUNNING one an invocation holds
 * is asked to stop and stops after the page it is on. Its counts stay true either way. A finished
 * run is returned as it is.
 */
export async function cancelRun(binding: BindingItem, runId: string, now = new Date()): Promise<RunItem> {
  const run = await getRunAt(binding.connection_id, binding.id, runId);
  if (!run) throw new NotFoundError(`There is no run ${runId} of the binding ${binding.id}.`);
  if (isTerminal(run.status)) return run;
  if (run.status === 'QUEUED') {
    const done = await finishRun(run, {
      status: 'CANCELLED',
      error: { code: 'cancelled', message: 'Cancelled before it started' },
      onlyIf: 'QUEUED',
      now,
    });
    if (done) return done;
  }
  if (run.status === 'RUNNING' && !leaseHeld((run as ActiveRunItem).lease_until, now)) {
    const done = await finishRun(run, {
      status: 'CANCELLED',
      error: { code: 'cancelled', message: 'Cancelled' },
      onlyIf: 'RUNNING',
      onlyIfLeaseFree: true,
      now,
    });
    if (done) return done;
  }
  return updateRun(run, { cancel_requested: true });
}

export interface RunOutcome {
  status: Extract<RunStatus, 'SUCCEEDED' | 'PARTIAL' | 'FAILED' | 'CANCELLED'>;
  error?: { code: string; message: string } | null;
  /** The checkpoint the next incremental run starts from (only for a run that read every page). */
  checkpoint?: string | null;
  etags?: Record<string, string>;
  /** Move the binding to ERROR or PAUSED with this reason (a dead connection, revoked consent). */
  bindingStatus?: { status: 'ERROR' | 'PAUSED'; reason: { code: string; message: string } };
  /** Only while the run is still in this status (a cancel racing the worker's start). */
  onlyIf?: RunStatus;
  /** Only while no invocation holds the run's lease (at `now`): a cancel of a RUNNING run. */
  onlyIfLeaseFree?: boolean;
  now?: Date;
}

/**
 * Ends a run: the run's final status and the binding's release (active run cleared, last run,
 * checkpoint, ETags, next scheduled run, status) in one transaction, conditional on the run not
 * being finished already and on the binding still pointing at it. Then raises `sync.completed`
 * (also for a run that only deleted, or changed nothing) or `sync.failed`, and starts the next
 * run when PronaFlow changes arrived meanwhile. Returns the finished run, or undefined when it
 * was finished already (a replayed message).
 */
export async function finishRun(run: RunItem, outcome: RunOutcome): Promise<RunItem | undefined> {
  const now = outcome.now ?? new Date();
  const binding = await getBindingAt(run.connection_id, run.binding_id);
  const finishedAt = now.toISOString();
  const started = run.started_at ?? run.queued_at;
  const runSet: Partial<RunItem> = {
    status: outcome.status,
    error: outcome.error ?? null,
    finished_at: finishedAt,
    duration_ms: Math.max(0, now.getTime() - Date.parse(started)),
    phase: 'done',
    ...(outcome.checkpoint !== undefined ? { checkpoint_to: outcome.checkpoint } : {}),
  };
  // A finished run leaves the stalled-runs index (B9).
  const runExpr = updateExpression({ set: runSet, remove: ['gsi1pk', 'gsi1sk'] });
  const leaseFree = outcome.onlyIfLeaseFree ? ` AND ${LEASE_FREE}` : '';
  const items: Parameters<typeof transactWrite>[0] = [
    {
      Update: {
        TableName: tableName(),
        Key: { pk: run.pk, sk: run.sk },
        ...runExpr,
        ConditionExpression: `${outcome.onlyIf ? '#st = :only' : 'NOT (#st IN (:t1, :t2, :t3, :t4))'}${leaseFree}`,
        ExpressionAttributeNames: { ...runExpr.ExpressionAttributeNames, '#st': 'status' },
        ExpressionAttributeValues: {
          ...runExpr.ExpressionAttributeValues,
          ...(outcome.onlyIfLeaseFree ? leaseValues(now) : {}),
          ...(outcome.onlyIf
            ? { ':only': outcome.onlyIf }
            : { ':t1': 'SUCCEEDED', ':t2': 'PARTIAL', ':t3': 'FAILED', ':t4': 'CANCELLED' }),
        },
      },
    },
  ];
  let rerun = false;
  if (binding && binding.active_run_id === run.id) {
    rerun = binding.rerun_requested === true;
    const nextRunAt = binding.schedule
      ? new Date(now.getTime() + binding.schedule.every_minutes * 60_000).toISOString()
      : null;
    const set: Record<string, unknown> = {
      last_run: { id: run.id, status: outcome.status, finished_at: finishedAt, trigger: run.trigger },
      next_run_at: nextRunAt,
      updated_at: finishedAt,
    };
    if (outcome.checkpoint !== undefined && outcome.checkpoint !== null) set.checkpoint = outcome.checkpoint;
    // A full run that read every page (and so compared the seen set): the scheduler's next full
    // run is due a period after it (schedule.ts).
    if (run.full && (outcome.status === 'SUCCEEDED' || outcome.status === 'PARTIAL'))
      set.last_full_run_at = finishedAt;
    if (outcome.etags) set.etags = outcome.etags;
    if (outcome.bindingStatus) {
      set.status = outcome.bindingStatus.status;
      set.status_reason = outcome.bindingStatus.reason;
    }
    const expr = updateExpression({
      set,
      remove: ['active_run_id', 'rerun_requested'],
      clauses: ['version = version + :one'],
    });
    items.push({
      Update: {
        TableName: tableName(),
        Key: { pk: binding.pk, sk: binding.sk },
        ...expr,
        ConditionExpression: 'active_run_id = :run',
        ExpressionAttributeValues: { ...expr.ExpressionAttributeValues, ':run': run.id, ':one': 1 },
      },
    });
    if (nextRunAt) {
      items.push({
        Put: { TableName: tableName(), Item: scheduleMarkerItem(binding, nextRunAt) },
      });
    }
  }
  // The status view's counters (GET /status/workspace): runs of the last 24 h by outcome and the
  // workspace's bindings by the outcome of their last run, moved in the same transaction.
  const counters: CounterChange[] = [
    {
      feature: 'bindings',
      counter: 'runs_24h',
      status: outcome.status,
      delta: 1,
      recent: { at: finishedAt, hours: 24 },
    },
    ...(binding && binding.active_run_id === run.id
      ? [
          ...(binding.last_run
            ? [{ feature: 'bindings', counter: 'by_last_run', status: binding.last_run.status, delta: -1 }]
            : []),
          { feature: 'bindings', counter: 'by_last_run', status: outcome.status, delta: 1 },
        ]
      : []),
  ];
  items.push(...counterTransactItems(run.workspace_id, counters));
  try {
    await transactWrite(items);
  } catch (err) {
    if (conditionFailedAt(err, 0)) return undefined;
    throw err;
  }
  await addServiceCounters(counters);
  const finished: RunItem = { ...run, ...runSet };
  // The sync worker's outcome line: CloudWatch metric filters count failed runs and records synced
  // from it (infra/constructs/monitoring.ts LOG_METRICS; the sync-failures alarm).
  metrics.count('SyncRunsFinished', 1, { outcome: outcome.status });
  metrics.count('SyncRecordsRead', run.inbound.added + run.inbound.updated + run.inbound.deleted);
  metrics.count('SyncRecordsWritten', run.outbound.added + run.outbound.updated + run.outbound.deleted);
  logger.info('sync run finished', {
    run_id: run.id,
    binding_id: run.binding_id,
    status: outcome.status,
    trigger: run.trigger,
    failed: outcome.status === 'FAILED' ? 1 : 0,
    records_in: run.inbound.added + run.inbound.updated + run.inbound.deleted,
    records_out: run.outbound.added + run.outbound.updated + run.outbound.deleted,
    record_errors: run.errors_total,
    ...(outcome.error ? { error_code: outcome.error.code } : {}),
  });
  await raiseRunEvent(finished, binding).catch((err) =>
    logger.warn('sync event not raised', { run_id: run.id, error: (err as Error).message }),
  );
  if (rerun && binding && !outcome.bindingStatus && outcome.status !== 'CANCELLED') {
    await startFollowUp(run, binding);
  }
  return finished;
}

/**
 * The run PronaFlow changes asked for while this one was active. A busy binding (another start
 * won) is fine; any other failure is logged and the binding's `rerun_requested` put back, so the
 * next schedule or event starts it.
 */
async function startFollowUp(run: RunItem, binding: BindingItem): Promise<void> {
  try {
    const current = await getBindingAt(binding.connection_id, binding.id);
    if (current) await startRun(current, { trigger: 'events' });
  } catch (err) {
    if (err instanceof ConflictError) return;
    logger.warn('follow-up sync run not started', {
      run_id: run.id,
      binding_id: run.binding_id,
      error: (err as Error).message,
    });
    await db()
      .send(
        new UpdateCommand({
          TableName: tableName(),
          Key: { pk: binding.pk, sk: binding.sk },
          UpdateExpression: 'SET rerun_requested = :t',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: { ':t': true },
        }),
      )
      .catch((e) =>
        logger.warn('rerun_requested not kept', {
          run_id: run.id,
          binding_id: run.binding_id,
          error: (e as Error).message,
        }),
      );
  }
}

/** `sync.completed` for a run that ended (counts, also when it only deleted), `sync.failed` otherwise. */
async function raiseRunEvent(run: RunItem, binding: BindingItem | undefined): Promise<void> {
  if (run.status === 'CANCELLED') return;
  const failed = run.status === 'FAILED';
  await publishEvent({
    type: failed ? 'sync.failed' : 'sync.completed',
    workspace_id: run.workspace_id,
    data: {
      binding_id: run.binding_id,
      run_id: run.id,
      connection_id: run.connection_id,
      ...(binding ? { resource: binding.resource, entity: binding.sync_entity } : {}),
      status: run.status,
      trigger: run.trigger,
      full: run.full,
      inbound: run.inbound,
      outbound: run.outbound,
      errors_total: run.errors_total,
      ...(failed ? { error: run.error } : {}),
      checkpoint_from: run.checkpoint_from,
      checkpoint_to: run.checkpoint_to ?? null,
      duration_ms: run.duration_ms,
      finished_at: run.finished_at,
    },
  });
}

/** Marks a run of a binding that is being removed to stop (the delete route's helper). */
export async function stopActiveRun(binding: BindingItem): Promise<void> {
  if (!binding.active_run_id) return;
  await db()
    .send(
      new UpdateCommand({
        TableName: tableName(),
        Key: bindingKeys.run(binding.connection_id, binding.id, binding.active_run_id),
        UpdateExpression: 'SET cancel_requested = :t',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':t': true },
      }),
    )
    .catch((err) => {
      if (!isConditionFailed(err)) throw err;
    });
}
