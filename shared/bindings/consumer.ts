/**
 * The bindings' consumer of PronaFlow events (the ingest queue):
 * - `task.created`, `task.updated`, `task.completed`, `task.deleted`, `comment.created` of a
 *   bound record become pending changes of each binding that writes them to its provider
 *   (merged per record: the latest value of each field wins), and ask for a run;
 * - `consent.revoked` / `consent.expired` of a THIRD_PARTY consent for a connection pause the
 *   bindings that rely on it (and stop their active run after its current page).
 *
 * Echoes are dropped here already where the event says so (`origin.binding_id`, set by core on
 * changes it applied from a binding's records) and again by the engine (values equal to what the
 * link last synced), so a change the sync wrote itself never goes back.
 */
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { db, tableName } from '#shared/db/client.ts';
import { isConditionFailed } from '#shared/db/conditions.ts';
import type { EventConsumer } from '#shared/events/consumers.ts';
import type { PronaFlowEvent } from '#shared/events/envelope.ts';
import { logger } from '#shared/logger.ts';
import { isParentBinding } from './adapter.ts';
import { adapterFor } from './adapters/index.ts';
import type { FieldValues, SyncEntity } from './fields.ts';
import { bindingKeys } from './keys.ts';
import { requestRunForChanges, updateRun } from './runs.ts';
import {
  allBindingsOf,
  type BindingItem,
  getBindingAt,
  getPending,
  getRunAt,
  type LinkItem,
  linksOfRecord,
  type PendingItem,
  updateBinding,
} from './store.ts';
import { targetFields } from './targets.ts';

export const OUTBOUND_EVENT_TYPES = [
  'task.created',
  'task.updated',
  'task.completed',
  'task.deleted',
  'comment.created',
] as const;
export const CONSENT_EVENT_TYPES = ['consent.revoked', 'consent.expired'] as const;
/** The connection's grant is dead (the OAuth feature's operational event): its bindings go to ERROR. */
export const CONNECTION_EVENT_TYPES = ['oauth_connection.expired'] as const;

const str = (v: unknown) => (typeof v === 'string' && v.length > 0 ? v : undefined);

/** The PronaFlow field values an event carries, by the entity's target field names. */
export function valuesOf(event: PronaFlowEvent, entity: SyncEntity): FieldValues {
  const data = event.data;
  const names = targetFields[entity].filter((f) => !f.read_only).map((f) => f.name);
  const out: FieldValues = {};
  if (event.type === 'task.updated') {
    const changes = (data.changes ?? {}) as Record<string, { to?: unknown } | undefined>;
    for (const name of names)
      if (changes[name] && 'to' in (changes[name] as object)) out[name] = changes[name]?.to;
    return out;
  }
  if (event.type === 'task.completed') return { status: 'done' };
  const source = (typeof data.task === 'object' && data.task ? data.task : data) as Record<string, unknown>;
  for (const name of names) if (name in source) out[name] = source[name];
  if (entity === 'comment' && out.author === undefined && str(data.author_id)) out.author = data.author_id;
  return out;
}

const recordIdOf = (event: PronaFlowEvent): string | undefined =>
  event.type === 'comment.created' ? str(event.data.comment_id) : str(event.data.task_id);

const writesOut = (b: BindingItem) => b.status === 'ACTIVE' && b.direction !== 'INBOUND';

/**
 * Workspaces found without a binding, until when (epoch ms): most workspaces have none, and their
 * task events must not cost a read each (the ingest path's DynamoDB budget per event). A binding
 * created meanwhile in such a workspace sees PronaFlow changes at most this long after.
 */
export const NO_BINDINGS_CACHE_MS = 10_000;
const noBindingsUntil = new Map<string, number>();

/** Reads in flight, by workspace: the events of one ingest batch, handled side by side, share one. */
const reading = new Map<string, Promise<BindingItem[]>>();

async function bindingsOfWorkspace(workspaceId: string): Promise<BindingItem[]> {
  if ((noBindingsUntil.get(workspaceId) ?? 0) > Date.now()) return [];
  const shared = reading.get(workspaceId);
  if (shared) return shared;
  const read = allBindingsOf(workspaceId)
    .then((all) => {
      if (!all.length) {
        if (noBindingsUntil.size >= 10_000) noBindingsUntil.clear();
        noBindingsUntil.set(workspaceId, Date.now() + NO_BINDINGS_CACHE_MS);
      } else noBindingsUntil.delete(workspaceId);
      return all;
    })
    .finally(() => reading.delete(workspaceId));
  reading.set(workspaceId, read);
  return read;
}

/** Forgets the workspaces cached without bindings (tests). */
export function resetBindingsCache(): void {
  noBindingsUntil.clear();
}

/** The bindings that write this event's record out: through its links, or (a new record) by project. */
async function bindingsFor(
  event: PronaFlowEvent,
  recordId: string,
): Promise<{ binding: BindingItem; link?: LinkItem }[]> {
  const all = await bindingsOfWorkspace(event.workspace_id);
  if (!all.some(writesOut)) return [];
  if (event.type === 'task.created' || event.type === 'comment.created') {
    const entity: SyncEntity = event.type === 'task.created' ? 'task' : 'comment';
    const project = str(event.data.project_id);
    let candidates = all.filter((b) => b.sync_entity === entity && writesOut(b));
    if (entity === 'task') candidates = candidates.filter((b) => !b.project_id || b.project_id === project);
    else {
      // A comment goes where its task is linked: through a task binding of the same connection
      // and the same repository (container) as the comment binding, never another repository's.
      const task = str(event.data.task_id);
      const taskLinks = task ? await linksOfRecord(event.workspace_id, task) : [];
      const parents = taskLinks
        .filter((l) => !l.deleted)
        .map((l) => all.find((b) => b.id === l.binding_id && b.pk === l.pk))
        .filter((b) => b !== undefined);
      candidates = candidates.filter((b) => {
        const adapter = adapterFor(b.adapter);
        return (
          !!adapter && parents.some((parent) => parent.pk === b.pk && isParentBinding(adapter, b, parent))
        );
      });
    }
    return candidates.map((binding) => ({ binding }));
  }
  const links = (await linksOfRecord(event.workspace_id, recordId)).filter((l) => !l.deleted);
  const out: { binding: BindingItem; link: LinkItem }[] = [];
  for (const link of links) {
    const connectionId = link.pk.slice('OAUTHCONN#'.length);
    const binding = await getBindingAt(connectionId, link.binding_id);
    if (binding && writesOut(binding)) out.push({ binding, link });
  }
  return out;
}

/**
 * Records one PronaFlow change as pending for a binding, merged over an earlier pending change of
 * the same record (conditional on that one being unchanged, retried on a race). An event older
 * than the pending change's does not overwrite newer values; one older than the change the sync
 * last wrote out (the link's `pf_updated_at`) is dropped before it gets here.
 */
async function addPending(
  binding: BindingItem,
  event: PronaFlowEvent,
  recordId: string,
  values: FieldValues,
) {
  const op: PendingItem['op'] =
    event.type === 'task.deleted' ? 'delete' : event.type.endsWith('.created') ? 'create' : 'update';
  for (let attempt = 0; attempt < 5; attempt++) {
    const before = await getPending(binding, recordId);
    if (before?.event_id === event.id) return; // the same event, delivered again
    const newer = !before || before.occurred_at <= event.occurred_at;
    const merged: PendingItem = {
      ...bindingKeys.pending(binding.connection_id, binding.id, recordId),
      entity: 'SyncPending',
      binding_id: binding.id,
      pronaflow_id: recordId,
      op: before?.op === 'delete' || op === 'delete' ? 'delete' : before?.op === 'create' ? 'create' : op,
      values: newer ? { ...(before?.values ?? {}), ...values } : { ...values, ...(before?.values ?? {}) },
      ...(event.type === 'comment.created' && str(event.data.task_id)
        ? { parent_pronaflow_id: str(event.data.task_id) }
        : before?.parent_pronaflow_id
          ? { parent_pronaflow_id: before.parent_pronaflow_id }
          : {}),
      event_id: event.id,
      occurred_at: newer ? event.occurred_at : (before?.occurred_at ?? event.occurred_at),
      // A creation the sync set out to make stays marked (so it is looked for, not made twice).
      ...(before?.create_started_at ? { create_started_at: before.create_started_at } : {}),
    };
    try {
      await db().send(
        new PutCommand({
          TableName: tableName(),
          Item: merged,
          ...(before
            ? {
                ConditionExpression: 'event_id = :prev',
                ExpressionAttributeValues: { ':prev': before.event_id },
              }
            : { ConditionExpression: 'attribute_not_exists(pk)' }),
        }),
      );
      return;
    } catch (err) {
      if (!isConditionFailed(err)) throw err;
    }
  }
  throw new Error(`Pending change of ${recordId} kept changing`);
}

async function applyOutboundEvent(event: PronaFlowEvent): Promise<void> {
  const recordId = recordIdOf(event);
  if (!recordId) return;
  const origin = (event.data.origin ?? {}) as { binding_id?: unknown };
  for (const { binding, link } of await bindingsFor(event, recordId)) {
    if (origin.binding_id === binding.id) continue; // core applied this from the binding's own record
    // Older than the PronaFlow change the sync last wrote out (redelivered, out of order): its
    // values are not news, and would overwrite newer ones. A deletion still counts.
    if (
      event.type !== 'task.deleted' &&
      link?.pf_updated_at &&
      Date.parse(event.occurred_at) < Date.parse(link.pf_updated_at)
    )
      continue;
    const values = valuesOf(event, binding.sync_entity);
    if (event.type !== 'task.deleted' && !Object.keys(values).length) continue;
    await addPending(binding, event, recordId, values);
    await requestRunForChanges(binding);
  }
}

/** Pauses the bindings whose creator's THIRD_PARTY consent for their connection ended. */
async function applyConsentEnded(event: PronaFlowEvent): Promise<void> {
  const d = event.data;
  if (d.consent_type !== 'THIRD_PARTY' || d.resource_type !== 'oauth_connection') return;
  const connectionId = str(d.resource_id);
  const userId = str(d.user_id);
  if (!connectionId || !userId) return;
  for (const binding of await allBindingsOf(event.workspace_id)) {
    if (binding.connection_id !== connectionId || binding.created_by !== userId) continue;
    const current = await getBindingAt(binding.connection_id, binding.id);
    if (!current || current.status === 'PAUSED') continue;
    const reason = {
      code: 'consent_revoked',
      message: `The THIRD_PARTY consent for the connection ${connectionId} was ${event.type === 'consent.expired' ? 'expired' : 'withdrawn'}`,
    };
    await updateBinding(current, { status: 'PAUSED', status_reason: reason }).catch((err) => {
      logger.warn('binding not paused (changed meanwhile; its next run checks consent)', {
        binding_id: binding.id,
        error: (err as Error).message,
      });
    });
    if (current.active_run_id) {
      const run = await getRunAt(current.connection_id, current.id, current.active_run_id);
      if (run && (run.status === 'QUEUED' || run.status === 'RUNNING'))
        await updateRun(run, { cancel_requested: true });
    }
  }
}

/** Marks the bindings of a connection whose grant died ERROR, so they say why before their next run fails. */
async function applyConnectionExpired(event: PronaFlowEvent): Promise<void> {
  const connectionId = str(event.data.connection_id);
  if (!connectionId) return;
  for (const binding of await allBindingsOf(event.workspace_id)) {
    if (binding.connection_id !== connectionId || binding.status !== 'ACTIVE') continue;
    await updateBinding(binding, {
      status: 'ERROR',
      status_reason: {
        code: 'connection_expired',
        message: `The connection ${connectionId} expired; connect the app again, then resume the binding`,
      },
    }).catch((err) => {
      logger.warn('binding not marked (changed meanwhile; its next run fails on the connection)', {
        binding_id: binding.id,
        error: (err as Error).message,
      });
    });
  }
}

export const bindingsConsumers: EventConsumer[] = [
  {
    name: 'bindings.outbound',
    accepts: (type) => (OUTBOUND_EVENT_TYPES as readonly string[]).includes(type),
    handle: applyOutboundEvent,
  },
  {
    name: 'bindings.consent',
    accepts: (type) => (CONSENT_EVENT_TYPES as readonly string[]).includes(type),
    handle: applyConsentEnded,
  },
  {
    name: 'bindings.connection',
    accepts: (type) => (CONNECTION_EVENT_TYPES as readonly string[]).includes(type),
    handle: applyConnectionExpired,
  },
];
