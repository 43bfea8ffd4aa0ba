/**
 * The HTTP side of data sync bindings: create (validated against the app's adapter and
 * PronaFlow's target fields, then written with its resource claim, the workspace's count and its
 * schedule marker in one transaction), list, read, change, delete, start and cancel runs,
 * preview a mapping. The sync itself is engine.ts; the run life cycle runs.ts.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { config } from '#shared/config.ts';
import type { ConsentItem } from '#shared/consents/service.ts';
import { hasLiveConsent } from '#shared/consents/service.ts';
import { addServiceCounters, type CounterChange, counterTransactItems } from '#shared/counters.ts';
import { db, tableName } from '#shared/db/client.ts';
import { conditionFailedAt } from '#shared/db/conditions.ts';
import { keys } from '#shared/db/keys.ts';
import { type TransactItem, transactWrite } from '#shared/db/transact.ts';
import { updateExpression } from '#shared/db/update.ts';
import {
  AppError,
  ConflictError,
  type FieldError,
  NotFoundError,
  ServiceUnavailableError,
  UpstreamError,
  ValidationError,
} from '#shared/errors.ts';
import type { Caller } from '#shared/http/caller.ts';
import type { Page, PageQuery } from '#shared/http/common-params.ts';
import { newId } from '#shared/ids.ts';
import { logger } from '#shared/logger.ts';
import { findApp, type OAuthApp } from '#shared/oauth/catalog.ts';
import { effectiveStatus } from '#shared/oauth/connections.ts';
import { type ConnectionItem, getConnection } from '#shared/oauth/connections-repo.ts';
import { ConnectionExpiredError } from '#shared/oauth/refresh.ts';
import { connectionOf } from '#shared/oauth/service.ts';
import { check } from '#shared/validation.ts';
import {
  ConnectionRejected,
  ProviderCallError,
  RescheduleRun,
  type Resource,
  type ResourceVariant,
  type SyncAdapter,
} from './adapter.ts';
import { adapterOfApp } from './adapters/index.ts';
import { BindingUnreachable, openAdapterContext } from './context.ts';
import type { FieldMapping, SyncDirection, SyncEntity } from './fields.ts';
import { SYNC_ENTITIES } from './fields.ts';
import { bindingKeys } from './keys.ts';
import { applyInbound, applyOutbound, mappedHash, validateMapping } from './mapping.ts';
import { cancelRun, requestRunForChanges, startRun, stopActiveRun } from './runs.ts';
import type { BindingView, CreateBindingBody, PreviewView, RunView, UpdateBindingBody } from './schemas.ts';
import {
  allBindingsOf,
  type BindingItem,
  type BindingStatus,
  deleteBindingData,
  findBinding,
  getRunAt,
  listBindings,
  listRuns,
  pendingPage,
  scheduleMarkerItem,
} from './store.ts';
import { targetFields } from './targets.ts';
import { mappingOptions, toBindingView, toFieldView, toRunView, variantOf } from './views.ts';

// ── Consent ──

type ConsentRef = Pick<ConsentItem, 'consent_type' | 'resource_type' | 'resource_id'>;

/** The consent that lets a binding move data through a connection. */
export const consentFor = (connectionId: string): ConsentRef => ({
  consent_type: 'THIRD_PARTY',
  resource_type: 'oauth_connection',
  resource_id: connectionId,
});

/** A binding cannot move data until the connection's owner grants this consent (403). */
export class ConsentRequiredError extends AppError {
  override name = 'ConsentRequiredError';
  constructor(consent: ConsentRef, detail: string) {
    super(403, 'consent-required', 'Consent required', detail, {
      extra: { reason: 'consent_required', consent_required: consent },
    });
  }
}

/**
 * Refuses (403) unless `userId`, the owner of the connection, has a live THIRD_PARTY consent for
 * it; `caller` is told who must grant it.
 */
async function assertConsent(caller: Caller, userId: string, connectionId: string): Promise<void> {
  const consent = consentFor(connectionId);
  if (await hasLiveConsent(caller.workspaceId, userId, consent)) return;
  const who =
    userId === caller.userId ? 'Grant it' : `The connection belongs to user ${userId}, who must grant it`;
  throw new ConsentRequiredError(
    consent,
    `Syncing through connection ${connectionId} needs a live THIRD_PARTY consent for resource_type 'oauth_connection', resource_id '${connectionId}'. ${who} with POST /v1/integration/consents, then retry.`,
  );
}

// ── The adapter's catalog ──

const invalid = (detail: string, errors: FieldError[]) => new ValidationError(detail, errors);

function adapterOrFail(app: OAuthApp | undefined, appId: string): SyncAdapter {
  if (!app) {
    throw invalid(`The app '${appId}' of the connection is no longer in the catalog.`, [
      { path: 'body.oauth_connection_id', message: `The app '${appId}' is no longer in the catalog` },
    ]);
  }
  const adapter = adapterOfApp(app);
  if (!adapter) {
    throw invalid(`The app '${app.id}' (${app.name}) has no sync adapter: its data cannot be synced.`, [
      { path: 'body.oauth_connection_id', message: `The app '${app.id}' cannot be synced (no sync adapter)` },
    ]);
  }
  return adapter;
}

/** The resource as its type's locator normalised it, and its variant; 400 naming every bad field. */
function resolveResource(
  adapter: SyncAdapter,
  input: { type: string; kind?: string },
  entity: SyncEntity,
): { resource: Resource; variant: ResourceVariant } {
  const type = adapter.resourceTypes.find((t) => t.type === input.type);
  if (!type) {
    const known = adapter.resourceTypes.map((t) => `'${t.type}'`).join(', ');
    throw invalid(`The ${adapter.id} adapter syncs no resource type '${input.type}'.`, [
      { path: 'body.resource.type', message: `Unknown resource type '${input.type}'; known: ${known}` },
    ]);
  }
  const parsed = check(type.locator, input);
  if (!parsed.success) {
    throw invalid(
      `The resource is not a valid ${type.type}.`,
      parsed.issues.map((i) => ({
        path: ['body', 'resource', ...i.path.map(String)].join('.'),
        message: i.message,
      })),
    );
  }
  const resource = parsed.data;
  const kind = resource.kind ?? 'default';
  const variant = type.variants.find((v) => v.kind === kind);
  if (!variant) {
    const known = type.variants.map((v) => `'${v.kind}'`).join(', ');
    throw invalid(`A ${type.type} has no kind '${kind}'.`, [
      { path: 'body.resource.kind', message: `Unknown kind '${kind}'; known: ${known}` },
    ]);
  }
  if (variant.entity !== entity) {
    throw invalid(`A ${type.type} of kind '${kind}' syncs ${variant.entity} records, not ${entity}.`, [
      { path: 'body.entity', message: `${type.type} '${kind}' syncs with '${variant.entity}'` },
    ]);
  }
  return { resource, variant };
}

/**
 * Writes to the provider a direction needs: OUTBOUND creates records there and updates them;
 * BIDIRECTIONAL updates the records it linked inbound (a kind the provider cannot create, e.g.
 * GitHub pull requests, then keeps new PronaFlow records on PronaFlow's side).
 */
function assertWritable(variant: ResourceVariant, direction: SyncDirection, what: string): void {
  const needs: ('create' | 'update')[] =
    direction === 'OUTBOUND' ? ['create', 'update'] : direction === 'BIDIRECTIONAL' ? ['update'] : [];
  const missing = needs.filter((op) => !variant.writable[op]);
  if (missing.length) {
    throw invalid(`The provider does not let a sync ${missing.join(' or ')} ${what} records.`, [
      {
        path: 'body.direction',
        message: `${direction} needs to ${needs.join(' and ')} ${what} records, which the provider does not allow (${missing.join(', ')}); use ${direction === 'OUTBOUND' ? 'INBOUND or BIDIRECTIONAL' : 'INBOUND'}`,
      },
    ]);
  }
}

function assertMapping(
  mapping: readonly FieldMapping[],
  binding: Pick<BindingItem, 'resource' | 'sync_entity' | 'direction'>,
  variant: ResourceVariant,
): void {
  const problems = validateMapping(mapping, mappingOptions(binding, variant));
  if (problems.length) {
    throw invalid(
      `The field mapping has ${problems.length} problem${problems.length > 1 ? 's' : ''}.`,
      problems.map((p) => ({ path: `body.${p.path}`, message: p.message })),
    );
  }
}

/**
 * A task binding that writes PronaFlow changes out names the project it reads: without one, every
 * task of the workspace would go to the provider.
 */
function assertProjectScope(entity: SyncEntity, direction: SyncDirection, projectId: string | null): void {
  if (entity === 'task' && direction !== 'INBOUND' && !projectId) {
    throw invalid(
      "A task binding that writes to the provider (OUTBOUND or BIDIRECTIONAL) needs a project_id: only that project's tasks go out.",
      [{ path: 'body.project_id', message: `Required for ${direction} task bindings` }],
    );
  }
}

function assertConnectionUsable(conn: ConnectionItem, now: Date): void {
  if (effectiveStatus(conn, now) === 'EXPIRED') throw new ConnectionExpiredError(conn.id, 'has expired');
}

// ── The workspace's count ──

/** At most this many bindings per workspace (SYNC_MAX_BINDINGS_PER_WORKSPACE). */
const maxBindings = () => config().SYNC_MAX_BINDINGS_PER_WORKSPACE;

/** The count of a workspace's bindings (the cap's counter), in the workspace's partition. */
export const bindingCountKey = (workspaceId: string) => ({
  pk: keys.workspace(workspaceId),
  sk: 'BINDING_COUNT',
});

const countUp = (workspaceId: string): TransactItem => ({
  Update: {
    TableName: tableName(),
    Key: bindingCountKey(workspaceId),
    UpdateExpression: 'SET entity = :e ADD #n :one',
    ConditionExpression: 'attribute_not_exists(#n) OR #n < :max',
    ExpressionAttributeNames: { '#n': 'count' },
    ExpressionAttributeValues: { ':e': 'SyncBindingCount', ':one': 1, ':max': maxBindings() },
  },
});

const countDown = (workspaceId: string): TransactItem => ({
  Update: {
    TableName: tableName(),
    Key: bindingCountKey(workspaceId),
    UpdateExpression: 'ADD #n :minus',
    ConditionExpression: '#n > :zero',
    ExpressionAttributeNames: { '#n': 'count' },
    ExpressionAttributeValues: { ':minus': -1, ':zero': 0 },
  },
});

/**
 * The counter only goes wrong upwards (bindings removed with their connection's partition, which
 * the counter does not see): when it refuses, the bindings are counted and a counter above the
 * truth is set down to it (conditional on it not having moved). True when there is room now.
 */
async function recount(workspaceId: string): Promise<boolean> {
  const key = bindingCountKey(workspaceId);
  const counter = (
    await db().send(new GetCommand({ TableName: tableName(), Key: key, ConsistentRead: true }))
  ).Item as { count?: number } | undefined;
  const actual = (await allBindingsOf(workspaceId)).length;
  if (actual >= maxBindings() || counter?.count === undefined || counter.count <= actual) return false;
  try {
    await transactWrite([
      {
        Update: {
          TableName: tableName(),
          Key: key,
          UpdateExpression: 'SET #n = :actual',
          ConditionExpression: '#n = :seen',
          ExpressionAttributeNames: { '#n': 'count' },
          ExpressionAttributeValues: { ':actual': actual, ':seen': counter.count },
        },
      },
    ]);
  } catch (err) {
    if (!conditionFailedAt(err, 0)) throw err;
  }
  logger.info('binding count corrected', { workspace_id: workspaceId, from: counter.count, to: actual });
  return true;
}

// ── Schedule ──

const nextRunAt = (schedule: { every_minutes: number }, now: Date) =>
  new Date(now.getTime() + schedule.every_minutes * 60_000).toISOString();

const scheduleMarker = (b: Pick<BindingItem, 'connection_id' | 'id'>, next: string): TransactItem => ({
  Put: { TableName: tableName(), Item: scheduleMarkerItem(b, next) },
});

const noScheduleMarker = (b: Pick<BindingItem, 'connection_id' | 'id'>): TransactItem => ({
  Delete: { TableName: tableName(), Key: bindingKeys.schedule(b.connection_id, b.id) },
});

// ── Create ──

/** `POST /bindings`. */
export async function createBinding(
  caller: Caller,
  body: CreateBindingBody,
  now = new Date(),
): Promise<BindingView> {
  const conn = await connectionOf(caller, body.oauth_connection_id);
  const app = findApp(conn.app_id);
  const adapter = adapterOrFail(app, conn.app_id);
  if (!app?.api_base_url) {
    throw invalid(`The app '${conn.app_id}' has no api_base_url: its adapter has nowhere to call.`, [
      { path: 'body.oauth_connection_id', message: `The app '${conn.app_id}' has no api_base_url` },
    ]);
  }
  const { resource, variant } = resolveResource(adapter, body.resource, body.entity);
  const draft = { resource, sync_entity: body.entity, direction: body.direction };
  assertProjectScope(body.entity, body.direction, body.project_id ?? null);
  assertMapping(body.field_mapping, draft, variant);
  assertWritable(variant, body.direction, `${resource.type} '${variant.kind}'`);
  assertConnectionUsable(conn, now);
  await assertConsent(caller, caller.userId, conn.id);

  const id = newId('bnd', now.getTime());
  const at = now.toISOString();
  const schedule = body.schedule ?? null;
  const next = schedule ? nextRunAt(schedule, now) : null;
  const resourceKey = adapter.resourceKey(resource);
  const item: BindingItem = {
    ...bindingKeys.binding(conn.id, id),
    ...bindingKeys.ofWorkspace(caller.workspaceId, id),
    entity: 'SyncBinding',
    id,
    workspace_id: caller.workspaceId,
    connection_id: conn.id,
    app_id: conn.app_id,
    adapter: adapter.id,
    created_by: caller.userId,
    resource,
    resource_key: resourceKey,
    sync_entity: body.entity,
    project_id: body.project_id ?? null,
    direction: body.direction,
    field_mapping: body.field_mapping,
    schedule,
    conflict_policy: body.conflict_policy,
    status: 'ACTIVE',
    status_reason: null,
    checkpoint: null,
    etags: {},
    last_run: null,
    next_run_at: next,
    version: 1,
    created_at: at,
    updated_at: at,
  };
  const claimKey = bindingKeys.resourceClaim(conn.id, resourceKey, body.entity);
  const items: TransactItem[] = [
    { Put: { TableName: tableName(), Item: item, ConditionExpression: 'attribute_not_exists(pk)' } },
    {
      Put: {
        TableName: tableName(),
        Item: {
          ...claimKey,
          entity: 'SyncResourceClaim',
          binding_id: id,
          resource_key: resourceKey,
          sync_entity: body.entity,
        },
        ConditionExpression: 'attribute_not_exists(pk)',
      },
    },
    countUp(caller.workspaceId),
    ...(next ? [scheduleMarker(item, next)] : []),
  ];
  for (let attempt = 0; ; attempt++) {
    try {
      await transactWrite(items, { attempts: 20 });
      break;
    } catch (err) {
      if (conditionFailedAt(err, 1)) {
        const claim = (
          await db().send(new GetCommand({ TableName: tableName(), Key: claimKey, ConsistentRead: true }))
        ).Item as { binding_id?: string } | undefined;
        throw new ConflictError(
          `A binding of this resource and entity exists on this connection: ${claim?.binding_id ?? 'another binding'} syncs ${resourceKey} with ${body.entity} records. Change that binding, or delete it first.`,
          {
            extra: {
              reason: 'binding_exists',
              ...(claim?.binding_id ? { binding_id: claim.binding_id } : {}),
            },
          },
        );
      }
      if (conditionFailedAt(err, 2)) {
        if (attempt < 2 && (await recount(caller.workspaceId))) continue;
        throw new ConflictError(`A workspace can hold at most ${maxBindings()} bindings; delete one first.`, {
          extra: { reason: 'workspace_binding_limit', limit: maxBindings() },
        });
      }
      throw err;
    }
  }
  logger.info('binding created', { binding_id: id, connection_id: conn.id, adapter: adapter.id });
  return toBindingView(item);
}

// ── Read ──

export interface ListBindingsQuery extends PageQuery {
  oauth_connection_id?: string;
  oauth_app_id?: string;
  status?: BindingStatus;
}

/** `GET /bindings`: the workspace's bindings, oldest first. */
export async function listBindingsOf(caller: Caller, query: ListBindingsQuery): Promise<Page<BindingView>> {
  const page = await listBindings(
    caller.workspaceId,
    { connection_id: query.oauth_connection_id, app_id: query.oauth_app_id, status: query.status },
    { limit: query.limit, cursor: query.cursor },
  );
  return { data: page.items.map(toBindingView), next_cursor: page.next_cursor };
}

export async function getBinding(caller: Caller, id: string): Promise<BindingView> {
  return toBindingView(await findBinding(caller.workspaceId, id));
}

// ── Change ──

/** The adapter and variant of a stored binding; 400 when its app can no longer be synced. */
function variantOfBinding(b: BindingItem): ResourceVariant {
  const adapter = adapterOrFail(findApp(b.app_id), b.app_id);
  const variant = variantOf(adapter, b.resource);
  if (!variant) {
    throw invalid(`The ${adapter.id} adapter no longer syncs this binding's resource.`, [
      { path: 'body.field_mapping', message: `'${b.resource.type}' is no longer a resource type of the app` },
    ]);
  }
  return variant;
}

/** The connection of a binding (its creator's), if it still exists. */
const connectionOfBinding = (b: BindingItem) => getConnection(b.workspace_id, b.created_by, b.connection_id);

/**
 * `PATCH /bindings/{id}`: the binding and its schedule marker in one transaction, conditional on
 * the version read (409 when it changed meanwhile: a concurrent PATCH, a run finishing).
 */
export async function updateBindingOf(
  caller: Caller,
  id: string,
  body: UpdateBindingBody,
  now = new Date(),
): Promise<BindingView> {
  const item = await findBinding(caller.workspaceId, id);
  const set: Partial<BindingItem> = {};
  if (body.field_mapping) {
    assertMapping(body.field_mapping, item, variantOfBinding(item));
    set.field_mapping = body.field_mapping;
    // Records synced under the old mapping are mapped again: the next run lists from the start
    // (no checkpoint, no ETag), and updates what now maps differently.
    if (mappedHash({ m: body.field_mapping }) !== mappedHash({ m: item.field_mapping })) {
      set.checkpoint = null;
      set.etags = {};
    }
  }
  if (body.conflict_policy) set.conflict_policy = body.conflict_policy;
  if (body.project_id !== undefined) set.project_id = body.project_id;
  assertProjectScope(
    item.sync_entity,
    item.direction,
    body.project_id !== undefined ? body.project_id : item.project_id,
  );
  let marker: TransactItem | undefined;
  if (body.schedule !== undefined) {
    const before = item.schedule?.every_minutes ?? null;
    const after = body.schedule?.every_minutes ?? null;
    if (before !== after) {
      set.schedule = body.schedule;
      set.next_run_at = body.schedule ? nextRunAt(body.schedule, now) : null;
      marker = set.next_run_at ? scheduleMarker(item, set.next_run_at) : noScheduleMarker(item);
    }
  }
  if (body.active === false && item.status !== 'PAUSED') {
    set.status = 'PAUSED';
    set.status_reason = { code: 'paused', message: `Paused by ${caller.userId} at ${now.toISOString()}` };
  } else if (body.active === true && item.status !== 'ACTIVE') {
    const conn = await connectionOfBinding(item);
    if (!conn) throw new NotFoundError(`The connection ${item.connection_id} of the binding is gone.`);
    assertConnectionUsable(conn, now);
    await assertConsent(caller, item.created_by, item.connection_id);
    set.status = 'ACTIVE';
    set.status_reason = null;
  }
  if (!Object.keys(set).length) return toBindingView(item);

  const at = now.toISOString();
  const expr = updateExpression({ set: { ...set, updated_at: at }, clauses: ['version = version + :one'] });
  try {
    await transactWrite([
      {
        Update: {
          TableName: tableName(),
          Key: { pk: item.pk, sk: item.sk },
          ...expr,
          ConditionExpression: 'version = :expected',
          ExpressionAttributeValues: {
            ...expr.ExpressionAttributeValues,
            ':one': 1,
            ':expected': item.version,
          },
        },
      },
      ...(marker ? [marker] : []),
    ]);
  } catch (err) {
    if (conditionFailedAt(err, 0)) {
      throw new ConflictError(`The binding ${item.id} changed meanwhile; read it again and retry.`, {
        extra: { binding_id: item.id },
      });
    }
    throw err;
  }
  const updated = { ...item, ...set, version: item.version + 1, updated_at: at };
  // PronaFlow changes that waited while the binding was paused go out now.
  if (set.status === 'ACTIVE' && item.direction !== 'INBOUND' && (await pendingPage(updated, 1)).length) {
    await requestRunForChanges(updated);
  }
  return toBindingView(updated);
}

/**
 * `DELETE /bindings/{id}`: the binding, its resource claim (only while it is this binding's), its
 * schedule marker and its place in the workspace's count in one transaction, then everything it
 * holds (runs, links, pending changes). A run in progress stops when its worker finds it gone.
 */
export async function deleteBindingOf(caller: Caller, id: string): Promise<void> {
  const item = await findBinding(caller.workspaceId, id);
  // A run in progress stops after its page (it would otherwise write links for a binding gone).
  await stopActiveRun(item);
  const items: TransactItem[] = [
    {
      Delete: {
        TableName: tableName(),
        Key: { pk: item.pk, sk: item.sk },
        ConditionExpression: 'attribute_exists(pk)',
      },
    },
    {
      Delete: {
        TableName: tableName(),
        Key: bindingKeys.resourceClaim(item.connection_id, item.resource_key, item.sync_entity),
        ConditionExpression: 'attribute_not_exists(pk) OR binding_id = :id',
        ExpressionAttributeValues: { ':id': item.id },
      },
    },
    noScheduleMarker(item),
    countDown(item.workspace_id),
  ];
  // The status view's bindings by last run outcome lose this one (in the same transaction).
  const counters: CounterChange[] = item.last_run
    ? [{ feature: 'bindings', counter: 'by_last_run', status: item.last_run.status, delta: -1 }]
    : [];
  const statusItems = counterTransactItems(item.workspace_id, counters);
  try {
    await transactWrite([...items, ...statusItems], { attempts: 20 });
  } catch (err) {
    if (conditionFailedAt(err, 0)) throw new NotFoundError(`There is no binding ${id}.`);
    // The counter is below the truth (corrected by a recount): delete without it.
    if (!conditionFailedAt(err, 3)) throw err;
    try {
      await transactWrite([...items.slice(0, 3), ...statusItems], { attempts: 20 });
    } catch (again) {
      if (conditionFailedAt(again, 0)) throw new NotFoundError(`There is no binding ${id}.`);
      throw again;
    }
  }
  await addServiceCounters(counters);
  const removed = await deleteBindingData(item);
  logger.info('binding deleted', {
    binding_id: id,
    connection_id: item.connection_id,
    items_deleted: removed,
  });
}

// ── Runs ──

export type SyncAccepted = RunView & { run_id: string };

/** `POST /bindings/{id}/sync`: a manual run, queued (202); 409 while one runs or the binding is not ACTIVE. */
export async function syncBinding(
  caller: Caller,
  id: string,
  body: { full?: boolean } | undefined,
): Promise<SyncAccepted> {
  const item = await findBinding(caller.workspaceId, id);
  await assertConsent(caller, item.created_by, item.connection_id);
  const run = await startRun(item, { trigger: 'manual', full: body?.full ?? false });
  logger.info('sync run requested', { binding_id: id, run_id: run.id, full: run.full });
  return { run_id: run.id, ...toRunView(run) };
}

export async function listRunsOf(caller: Caller, id: string, page: PageQuery): Promise<Page<RunView>> {
  const item = await findBinding(caller.workspaceId, id);
  const out = await listRuns(item, page);
  return { data: out.items.map(toRunView), next_cursor: out.next_cursor };
}

export async function getRun(caller: Caller, id: string, runId: string): Promise<RunView> {
  const item = await findBinding(caller.workspaceId, id);
  const run = await getRunAt(item.connection_id, item.id, runId);
  if (!run) throw new NotFoundError(`There is no run ${runId} of the binding ${id}.`);
  return toRunView(run);
}

/** `POST /bindings/{id}/runs/{run_id}/cancel`: a QUEUED run ends CANCELLED, a RUNNING one is asked to stop. */
export async function cancelRunOf(caller: Caller, id: string, runId: string): Promise<RunView> {
  const item = await findBinding(caller.workspaceId, id);
  return toRunView(await cancelRun(item, runId));
}

// ── Preview ──

/** `POST /bindings/{id}/preview` with a record: the mapping applied to it (writes nothing). */
export async function previewBinding(
  caller: Caller,
  id: string,
  body: { record?: Record<string, unknown> } | undefined,
): Promise<PreviewView> {
  const item = await findBinding(caller.workspaceId, id);
  const variant = variantOfBinding(item);
  const opts = mappingOptions(item, variant);
  if (body?.record) return previewOf(item, opts, body.record, 'given');
  return previewFromProvider(caller, item, opts);
}

/**
 * The mapping applied to one record: a provider record inbound (and, for a two-way binding, the
 * PronaFlow values it gives mapped back); for an OUTBOUND binding the record holds PronaFlow fields
 * and is mapped outbound only.
 */
function previewOf(
  item: BindingItem,
  opts: ReturnType<typeof mappingOptions>,
  record: Record<string, unknown>,
  source: 'given' | 'provider',
  externalId?: string,
): PreviewView {
  const head = {
    direction: item.direction,
    source,
    ...(externalId !== undefined ? { external_id: externalId } : {}),
    record,
  };
  if (item.direction === 'OUTBOUND')
    return { ...head, outbound: applyOutbound(item.field_mapping, record, opts) };
  const inbound = applyInbound(item.field_mapping, record, opts);
  if (item.direction === 'INBOUND') return { ...head, inbound };
  return { ...head, inbound, outbound: applyOutbound(item.field_mapping, inbound.values, opts) };
}

/**
 * Without a record: the first record of a full listing, read from the provider through the
 * binding's connection (its ETags left out, so the provider cannot answer 304). Needs the
 * consent, like a run.
 */
async function previewFromProvider(
  caller: Caller,
  item: BindingItem,
  opts: ReturnType<typeof mappingOptions>,
): Promise<PreviewView> {
  if (item.direction === 'OUTBOUND') {
    throw invalid('An OUTBOUND binding maps PronaFlow records: send one as `record`.', [
      {
        path: 'body.record',
        message: 'Required for an OUTBOUND binding: PronaFlow fields (GET /bindings/targets)',
      },
    ]);
  }
  await assertConsent(caller, item.created_by, item.connection_id);
  const conn = await connectionOfBinding(item);
  if (conn) assertConnectionUsable(conn, new Date());
  try {
    const { adapter, ctx } = await openAdapterContext(
      { ...item, etags: {} },
      { deadline: Date.now() + PREVIEW_BUDGET_MS, maxInlineWaitMs: 2_000 },
    );
    const page = await adapter.listChanges(ctx, item.resource, {});
    const first = page.records.find((r) => !r.deleted);
    if (!first) {
      return {
        direction: item.direction,
        source: 'provider',
        record: null,
        inbound: { values: {}, errors: [] },
      };
    }
    return previewOf(item, opts, first.fields, 'provider', first.id);
  } catch (err) {
    throw providerProblem(err, item);
  }
}

/** How long a preview may spend at the provider (API Gateway stops waiting at 30 s). */
const PREVIEW_BUDGET_MS = 15_000;

/** A provider failure of a preview as the API answers it. */
function providerProblem(err: unknown, item: BindingItem): unknown {
  if (err instanceof AppError) return err;
  if (err instanceof BindingUnreachable) {
    return new ConflictError(`The binding cannot reach its provider: ${err.message}.`, {
      extra: { reason: 'provider_unreachable', connection_id: item.connection_id },
    });
  }
  if (err instanceof ConnectionRejected) {
    return new ConflictError(
      `The provider refused the token of connection ${item.connection_id} (HTTP ${err.status}); connect the app again.`,
      { extra: { reason: 'provider_unreachable', connection_id: item.connection_id } },
    );
  }
  if (err instanceof RescheduleRun) {
    const seconds = Math.max(1, Math.ceil((err.resumeAt - Date.now()) / 1000));
    return new ServiceUnavailableError(
      `The provider is rate limiting this connection (${err.kind}); try again later.`,
      {
        headers: { 'Retry-After': String(seconds) },
      },
    );
  }
  if (err instanceof ProviderCallError) {
    return new UpstreamError(`The provider failed: ${err.message}`, {
      extra: err.status === undefined ? {} : { provider_status: err.status },
    });
  }
  return err;
}

// ── Catalogs ──

/** `GET /bindings/targets`: PronaFlow's fields a mapping can target, per entity. */
export function bindingTargets() {
  return {
    entities: SYNC_ENTITIES.map((entity) => ({ entity, fields: targetFields[entity].map(toFieldView) })),
  };
}
