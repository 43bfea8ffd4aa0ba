/**
 * The stored items of data sync bindings and the one way they are read and written (keys in
 * ./keys.ts, access patterns B1–B9 in shared/db/README.md). The run state machine is ./runs.ts,
 * the sync itself ./engine.ts.
 */
import { DeleteCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { batchDelete, batchGet, batchPut } from '#shared/db/batch.ts';
import { db, tableName } from '#shared/db/client.ts';
import { isConditionFailed } from '#shared/db/conditions.ts';
import { queryPage } from '#shared/db/pagination.ts';
import { queryAll } from '#shared/db/query.ts';
import { updateExpression } from '#shared/db/update.ts';
import { ConflictError, NotFoundError } from '#shared/errors.ts';
import type { Resource } from './adapter.ts';
import type { FieldMapping, FieldValues, SyncDirection, SyncEntity } from './fields.ts';
import { bindingKeys } from './keys.ts';

export type BindingStatus = 'ACTIVE' | 'PAUSED' | 'ERROR';
export type ConflictPolicy = 'provider_wins' | 'pronaflow_wins' | 'newest_wins';
export type RunStatus = 'QUEUED' | 'RUNNING' | 'SUCCEEDED' | 'PARTIAL' | 'FAILED' | 'CANCELLED';
export const TERMINAL_RUN_STATUSES: readonly RunStatus[] = ['SUCCEEDED', 'PARTIAL', 'FAILED', 'CANCELLED'];

/** A binding (`OAUTHCONN#<conn>` / `BINDING#<id>`). */
export interface BindingItem {
  pk: string;
  sk: string;
  gsi1pk: string;
  gsi1sk: string;
  entity: 'SyncBinding';
  id: string;
  workspace_id: string;
  connection_id: string;
  app_id: string;
  adapter: string;
  /** Who created it: the user whose THIRD_PARTY consent covers the connection. */
  created_by: string;
  resource: Resource;
  resource_key: string;
  sync_entity: SyncEntity;
  /** PronaFlow project the records belong to (tasks created inbound go there; outbound reads only it). */
  project_id: string | null;
  direction: SyncDirection;
  field_mapping: FieldMapping[];
  schedule: { every_minutes: number } | null;
  conflict_policy: ConflictPolicy;
  status: BindingStatus;
  /** Why it is PAUSED or in ERROR (`consent_revoked`, `connection_expired`, …) and a message. */
  status_reason: { code: string; message: string } | null;
  /** The run in progress (QUEUED or RUNNING): at most one per binding. */
  active_run_id?: string;
  /** A run was asked for while one was active (by PronaFlow events): start one when it ends. */
  rerun_requested?: boolean;
  /** Where the next incremental run starts (the provider's checkpoint). */
  checkpoint: string | null;
  /** ETags of conditional listings, by the adapter's key (304s cost no quota). */
  etags: Record<string, string>;
  last_run: { id: string; status: RunStatus; finished_at: string; trigger: RunTrigger } | null;
  next_run_at: string | null;
  /** When its last complete full run ended (scheduled runs go full again after a day). */
  last_full_run_at?: string;
  version: number;
  created_at: string;
  updated_at: string;
}

export type RunTrigger = 'manual' | 'schedule' | 'events';
export type RunPhase = 'inbound' | 'deletions' | 'outbound' | 'done';

export interface DirectionCounts {
  added: number;
  updated: number;
  deleted: number;
  skipped: number;
  failed: number;
}

export const zeroCounts = (): DirectionCounts => ({
  added: 0,
  updated: 0,
  deleted: 0,
  skipped: 0,
  failed: 0,
});

export interface RecordError {
  direction: 'inbound' | 'outbound';
  external_id: string | null;
  pronaflow_id?: string | null;
  message: string;
}

/** A run (`OAUTHCONN#<conn>` / `BIND#<binding>#RUN#<run>`). */
export interface RunItem {
  pk: string;
  sk: string;
  entity: 'SyncRun';
  id: string;
  binding_id: string;
  workspace_id: string;
  connection_id: string;
  status: RunStatus;
  trigger: RunTrigger;
  full: boolean;
  inbound: DirectionCounts;
  outbound: DirectionCounts;
  /** The first {@link MAX_RUN_ERRORS} per-record errors; `errors_total` counts them all. */
  errors: RecordError[];
  errors_total: number;
  /** The run's failure, when FAILED (or why it was CANCELLED). */
  error: { code: string; message: string } | null;
  checkpoint_from: string | null;
  checkpoint_to: string | null;
  pages_fetched: number;
  provider_calls: number;
  rate_limit_waits: number;
  rate_limit_wait_ms: number;
  not_modified: number;
  invocations: number;
  /** Times the stalled-runs sweep put it back on the queue. */
  recoveries?: number;
  /** Where the run stands: the phase and the position in it, saved after every page. */
  phase: RunPhase;
  cursor: string | null;
  /** Pages done in this run (each page's writes are stamped with it, so a replayed page is recognised). */
  page_seq: number;
  /** The run waits for a rate limit until then (epoch ms). */
  resume_at: number | null;
  cancel_requested: boolean;
  queued_at: string;
  started_at: string | null;
  finished_at: string | null;
  duration_ms: number | null;
  /** The ETags the run's invocations used so far (merged at every page; saved on the binding at its end). */
  etags_used?: Record<string, string>;
  ttl?: number;
}

/** The link of one external record with its PronaFlow record (`BIND#<binding>#LINK#<external id>`). */
export interface LinkItem {
  pk: string;
  sk: string;
  gsi1pk: string;
  gsi1sk: string;
  entity: 'SyncLink';
  binding_id: string;
  external_id: string;
  pronaflow_id: string;
  /** The provider's `updatedAt` of the version last synced. */
  external_updated_at: string;
  /** PronaFlow-side values last synced (either way): an event carrying exactly these is an echo. */
  pf_values: FieldValues;
  /** Hash of the external record's mapped values last synced: a record that maps to it is an echo. */
  hash: string;
  /**
   * Per mapped (PronaFlow) field, a hash of the provider's value last synced: which fields the
   * provider changed since (conflicts are settled per field). A field the sync wrote out keeps the
   * hash of what it wrote; the others keep what was last brought in, so a provider change made
   * meanwhile still comes in. Absent on links written before field-level conflicts.
   */
  field_hashes?: Record<string, string>;
  /**
   * The `occurred_at` of the last PronaFlow event whose change the sync wrote to the provider:
   * an older event (redelivered, out of order) no longer carries news, and its values are dropped.
   */
  pf_updated_at?: string;
  /** Seen by this full run (deletions are the links a complete full run did not see). */
  seen_run?: string;
  /** The run and page that last wrote it, with what that page counted for it (replays count alike). */
  stamp: { run: string; page: number; action: keyof DirectionCounts };
  deleted?: boolean;
  /**
   * Who deleted it: `pronaflow` when the sync deleted it at the provider for PronaFlow (GitHub
   * only closes an issue, which then keeps being listed): inbound never brings it back.
   */
  deleted_by?: 'provider' | 'pronaflow';
  updated_at: string;
}

/** A PronaFlow change waiting for the provider (`BIND#<binding>#OUT#<pronaflow id>`). */
export interface PendingItem {
  pk: string;
  sk: string;
  entity: 'SyncPending';
  binding_id: string;
  pronaflow_id: string;
  op: 'create' | 'update' | 'delete';
  /** PronaFlow-side values changed (merged over earlier pending changes of the same record). */
  values: FieldValues;
  /** For a comment: the PronaFlow task it belongs to. */
  parent_pronaflow_id?: string;
  event_id: string;
  occurred_at: string;
  /**
   * When the sync first set out to create the record at the provider (ISO 8601): a later attempt
   * that finds no link looks for the record it may have created (`findCreated`) before creating.
   */
  create_started_at?: string;
}

export const MAX_RUN_ERRORS = 50;

const consistentGet = async <T>(key: { pk: string; sk: string }): Promise<T | undefined> =>
  (await db().send(new GetCommand({ TableName: tableName(), Key: key, ConsistentRead: true }))).Item as
    | T
    | undefined;

// ── Bindings ──

export const getBindingAt = (connectionId: string, bindingId: string) =>
  consistentGet<BindingItem>(bindingKeys.binding(connectionId, bindingId));

/**
 * A workspace's binding by id, or NotFoundError (another workspace's binding is not found
 * either): gsi1 says which connection holds it, then a consistent read gives its state.
 */
export async function findBinding(workspaceId: string, bindingId: string): Promise<BindingItem> {
  const out = await db().send(
    new QueryCommand({
      TableName: tableName(),
      IndexName: 'gsi1',
      KeyConditionExpression: 'gsi1pk = :pk AND gsi1sk = :id',
      ExpressionAttributeValues: { ':pk': bindingKeys.workspaceIndex(workspaceId), ':id': bindingId },
      ProjectionExpression: 'connection_id',
    }),
  );
  const ref = out.Items?.[0] as { connection_id: string } | undefined;
  const item = ref ? await getBindingAt(ref.connection_id, bindingId) : undefined;
  if (!item || item.workspace_id !== workspaceId)
    throw new NotFoundError(`There is no binding ${bindingId}.`);
  return item;
}

export interface BindingFilter {
  connection_id?: string;
  app_id?: string;
  status?: BindingStatus;
}

/** A page of a workspace's bindings, oldest first, with optional filters (B2). */
export async function listBindings(
  workspaceId: string,
  filter: BindingFilter,
  page: { limit: number; cursor?: string },
): Promise<{ items: BindingItem[]; next_cursor: string | null }> {
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = { ':pk': bindingKeys.workspaceIndex(workspaceId) };
  const clauses: string[] = [];
  for (const [attr, value] of Object.entries(filter)) {
    if (value === undefined) continue;
    names[`#${attr}`] = attr;
    values[`:${attr}`] = value;
    clauses.push(`#${attr} = :${attr}`);
  }
  const out = await queryPage(
    {
      IndexName: 'gsi1',
      KeyConditionExpression: 'gsi1pk = :pk',
      ExpressionAttributeValues: values,
      ...(clauses.length ? { FilterExpression: clauses.join(' AND '), ExpressionAttributeNames: names } : {}),
    },
    {
      scope: {
        list: 'bindings',
        key: {
          gsi1pk: bindingKeys.workspaceIndex(workspaceId),
          gsi1sk: { prefix: 'bnd_' },
          pk: { prefix: 'OAUTHCONN#' },
          sk: { prefix: bindingKeys.bindingPrefix },
        },
      },
      limit: page.limit,
      cursor: page.cursor,
    },
  );
  return { items: out.items as unknown as BindingItem[], next_cursor: out.next_cursor };
}

/** Every binding of a workspace (background work: outbound events, cascades). */
export async function allBindingsOf(workspaceId: string): Promise<BindingItem[]> {
  const out: BindingItem[] = [];
  for await (const item of queryAll({
    IndexName: 'gsi1',
    KeyConditionExpression: 'gsi1pk = :pk',
    ExpressionAttributeValues: { ':pk': bindingKeys.workspaceIndex(workspaceId) },
  })) {
    out.push(item as unknown as BindingItem);
  }
  return out;
}

/**
 * Changes a binding if it is still at `expectedVersion` (else ConflictError), bumping the version;
 * returns the binding as written.
 */
export async function updateBinding(
  item: BindingItem,
  set: Partial<BindingItem>,
  opts: { remove?: (keyof BindingItem)[]; condition?: string; values?: Record<string, unknown> } = {},
): Promise<BindingItem> {
  const expr = updateExpression({
    set: { ...set, updated_at: set.updated_at ?? new Date().toISOString() },
    remove: opts.remove as string[] | undefined,
    clauses: ['version = version + :one'],
  });
  try {
    const out = await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: { pk: item.pk, sk: item.sk },
        ...expr,
        ConditionExpression: `version = :expected${opts.condition ? ` AND (${opts.condition})` : ''}`,
        ExpressionAttributeValues: {
          ...expr.ExpressionAttributeValues,
          ...opts.values,
          ':one': 1,
          ':expected': item.version,
        },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return out.Attributes as BindingItem;
  } catch (err) {
    if (isConditionFailed(err)) {
      throw new ConflictError(`The binding ${item.id} changed meanwhile; read it again and retry.`, {
        cause: err,
      });
    }
    throw err;
  }
}

/** The schedule marker of a binding due at `nextRunAt` (B8): the one shape every writer puts. */
export const scheduleMarkerItem = (b: Pick<BindingItem, 'connection_id' | 'id'>, nextRunAt: string) => ({
  ...bindingKeys.schedule(b.connection_id, b.id),
  ...bindingKeys.scheduleIndex(nextRunAt, b.id),
  entity: 'SyncSchedule' as const,
  binding_id: b.id,
  connection_id: b.connection_id,
  next_run_at: nextRunAt,
});

// ── Runs ──

export const getRunAt = (connectionId: string, bindingId: string, runId: string) =>
  consistentGet<RunItem>(bindingKeys.run(connectionId, bindingId, runId));

/** A page of a binding's runs, newest first (B4). */
export async function listRuns(
  binding: BindingItem,
  page: { limit: number; cursor?: string },
): Promise<{ items: RunItem[]; next_cursor: string | null }> {
  const out = await queryPage(
    {
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': binding.pk, ':prefix': bindingKeys.runPrefix(binding.id) },
      ScanIndexForward: false,
    },
    {
      scope: { list: 'runs', key: { pk: binding.pk, sk: { prefix: bindingKeys.runPrefix(binding.id) } } },
      limit: page.limit,
      cursor: page.cursor,
    },
  );
  return { items: out.items as unknown as RunItem[], next_cursor: out.next_cursor };
}

// ── Links ──

/** The links of these external ids (BatchGetItem, 100 keys a call). */
export async function linksOf(
  binding: BindingItem,
  externalIds: readonly string[],
): Promise<Map<string, LinkItem>> {
  const keys = [...new Set(externalIds)].map((id) => bindingKeys.link(binding.connection_id, binding.id, id));
  return new Map((await batchGet<LinkItem>(keys)).map((l) => [l.external_id, l]));
}

/** Writes links (BatchWriteItem, 25 a call, four calls side by side; a page's links are idempotent puts). */
export async function putLinks(items: readonly LinkItem[]): Promise<void> {
  await batchPut(items as unknown as Record<string, unknown>[]);
}

/** The links of one PronaFlow record in a workspace, one per binding (B6). */
export async function linksOfRecord(workspaceId: string, pronaflowId: string): Promise<LinkItem[]> {
  const out: LinkItem[] = [];
  for await (const item of queryAll({
    IndexName: 'gsi1',
    KeyConditionExpression: 'gsi1pk = :pk',
    ExpressionAttributeValues: { ':pk': bindingKeys.recordIndex(workspaceId, pronaflowId) },
  })) {
    out.push(item as unknown as LinkItem);
  }
  return out;
}

/** A page of a binding's links, from `cursor` (an external id; background work). */
export async function linkPage(
  binding: BindingItem,
  after: string | null,
  limit: number,
): Promise<{ items: LinkItem[]; last: string | null }> {
  const out = await db().send(
    new QueryCommand({
      TableName: tableName(),
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': binding.pk, ':prefix': bindingKeys.linkPrefix(binding.id) },
      ConsistentRead: true,
      Limit: limit,
      ...(after ? { ExclusiveStartKey: bindingKeys.link(binding.connection_id, binding.id, after) } : {}),
    }),
  );
  const items = (out.Items ?? []) as LinkItem[];
  return { items, last: out.LastEvaluatedKey ? (items.at(-1)?.external_id ?? null) : null };
}

/** Writes one link (after the sync wrote the record to the provider). */
export async function putLink(item: LinkItem): Promise<void> {
  await db().send(
    new PutCommand({ TableName: tableName(), Item: { ...item, updated_at: new Date().toISOString() } }),
  );
}

/** The link of a PronaFlow record in one binding (gsi1 finds it, a consistent read gives its state). */
export async function linkOfRecordIn(
  binding: BindingItem,
  pronaflowId: string,
): Promise<LinkItem | undefined> {
  const out = await db().send(
    new QueryCommand({
      TableName: tableName(),
      IndexName: 'gsi1',
      KeyConditionExpression: 'gsi1pk = :pk AND gsi1sk = :binding',
      ExpressionAttributeValues: {
        ':pk': bindingKeys.recordIndex(binding.workspace_id, pronaflowId),
        ':binding': binding.id,
      },
      ProjectionExpression: 'pk, sk',
    }),
  );
  const ref = out.Items?.[0] as { pk: string; sk: string } | undefined;
  return ref ? consistentGet<LinkItem>(ref) : undefined;
}

// ── Pending PronaFlow changes ──

/** The pending changes of a binding, oldest first by PronaFlow id page (B7). */
export async function pendingPage(binding: BindingItem, limit: number): Promise<PendingItem[]> {
  const out = await db().send(
    new QueryCommand({
      TableName: tableName(),
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': binding.pk, ':prefix': bindingKeys.pendingPrefix(binding.id) },
      ConsistentRead: true,
      Limit: limit,
    }),
  );
  return (out.Items ?? []) as PendingItem[];
}

export const getPending = (binding: BindingItem, pronaflowId: string) =>
  consistentGet<PendingItem>(bindingKeys.pending(binding.connection_id, binding.id, pronaflowId));

/** The pending changes of these PronaFlow records, by PronaFlow id (BatchGetItem, 100 keys a call). */
export async function pendingOfRecords(
  binding: BindingItem,
  pronaflowIds: readonly string[],
): Promise<Map<string, PendingItem>> {
  const keys = [...new Set(pronaflowIds)].map((id) =>
    bindingKeys.pending(binding.connection_id, binding.id, id),
  );
  return new Map((await batchGet<PendingItem>(keys)).map((p) => [p.pronaflow_id, p]));
}

/**
 * Marks a pending creation as started (keeping the first mark), unless the pending change was
 * settled meanwhile; returns it as marked, or undefined when it is gone.
 */
export async function markCreateStarted(item: PendingItem, at: string): Promise<PendingItem | undefined> {
  try {
    const out = await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: { pk: item.pk, sk: item.sk },
        UpdateExpression: 'SET create_started_at = if_not_exists(create_started_at, :at)',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':at': at },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return out.Attributes as PendingItem;
  } catch (err) {
    if (isConditionFailed(err)) return undefined;
    throw err;
  }
}

/**
 * Replaces the values of a pending change (a conflict settled some of its fields for the
 * provider), unless a newer change of the record replaced it meanwhile (then that one stands).
 */
export async function setPendingValues(item: PendingItem, values: FieldValues): Promise<void> {
  try {
    await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: { pk: item.pk, sk: item.sk },
        UpdateExpression: 'SET #v = :v',
        ConditionExpression: 'event_id = :event',
        ExpressionAttributeNames: { '#v': 'values' },
        ExpressionAttributeValues: { ':v': values, ':event': item.event_id },
      }),
    );
  } catch (err) {
    if (!isConditionFailed(err)) throw err;
  }
}

/** Removes a settled pending change, unless a newer change of the record replaced it meanwhile. */
export async function deletePending(item: PendingItem): Promise<void> {
  try {
    await db().send(
      new DeleteCommand({
        TableName: tableName(),
        Key: { pk: item.pk, sk: item.sk },
        ConditionExpression: 'event_id = :event',
        ExpressionAttributeValues: { ':event': item.event_id },
      }),
    );
  } catch (err) {
    if (!isConditionFailed(err)) throw err;
  }
}

/** Deletes every item a binding holds besides itself and its resource claim (runs, links, pending changes, schedule marker). */
export async function deleteBindingData(binding: BindingItem): Promise<number> {
  // The resource claim is not among them: it is deleted with the binding, conditionally on still
  // being this binding's (a newer binding of the same resource may hold it by now).
  const toDelete: { pk: string; sk: string }[] = [bindingKeys.schedule(binding.connection_id, binding.id)];
  for await (const item of queryAll({
    KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
    ExpressionAttributeValues: { ':pk': binding.pk, ':prefix': `BIND#${binding.id}#` },
    ProjectionExpression: 'pk, sk',
  })) {
    toDelete.push(item as { pk: string; sk: string });
  }
  return batchDelete(toDelete);
}
