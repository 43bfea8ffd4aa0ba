/**
 * The sync engine: works on one run for one invocation of the sync worker, page by page, and
 * stops in time (the invocation's deadline, or a page budget), leaving the run's place saved so
 * the next message resumes it. Phases: `inbound` (the provider's changes since the checkpoint,
 * mapped and published on the records queue), `deletions` (full runs: the links the complete
 * listing did not see, each confirmed gone at the provider), `outbound` (PronaFlow changes
 * waiting in pending items, written to the provider), then the run's end (runs.ts).
 *
 * Crash safety: a page's links are written before its records are published and before the run
 * moves past the page; every link a page writes is stamped with (run, page, action). A page
 * replayed after a crash finds its own stamps and counts and publishes as the first time (the
 * records carry the same idempotency keys and PronaFlow ids), so nothing is counted twice and no
 * record is created twice. Two invocations never work on one run at once (a lease on the run).
 */

import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { hasLiveConsent } from '#shared/consents/service.ts';
import { db, tableName } from '#shared/db/client.ts';
import { isConditionFailed } from '#shared/db/conditions.ts';
import { LEASE_FREE, leaseValues } from '#shared/db/lease.ts';
import { newId } from '#shared/ids.ts';
import { logger } from '#shared/logger.ts';
import { effectiveStatus } from '#shared/oauth/connections.ts';
import { ConnectionExpiredError, RefreshPausedError } from '#shared/oauth/refresh.ts';
import {
  ConnectionRejected,
  type ExternalRecord,
  ProviderCallError,
  RescheduleRun,
  type Resource,
  type ResourceVariant,
  type SyncAdapter,
} from './adapter.ts';
import { BindingUnreachable, type OpenedContext, openAdapterContext } from './context.ts';
import type { FieldValues } from './fields.ts';
import { bindingKeys } from './keys.ts';
import { applyInbound, applyOutbound, mappedHash } from './mapping.ts';
import { pronaflowIdFor, publishRecords, RECORD_SCHEMA, type RecordMessage } from './records.ts';
import { enqueueRun, finishRun, isTerminal, type RunMessage, type RunOutcome, updateRun } from './runs.ts';
import {
  type BindingItem,
  type DirectionCounts,
  deletePending,
  getBindingAt,
  getRunAt,
  type LinkItem,
  linkOfRecordIn,
  linkPage,
  linksOf,
  linksOfRecord,
  MAX_RUN_ERRORS,
  type PendingItem,
  pendingPage,
  putLink,
  putLinks,
  type RecordError,
  type RunItem,
} from './store.ts';
import { targetFields } from './targets.ts';

/** Stop taking new pages this long before the deadline (a page's writes must fit). */
const PAGE_MARGIN_MS = 10_000;
/** A run's lease outlives the invocation's deadline by this much (then another may take it). */
const LEASE_SLACK_MS = 30_000;
const OUTBOUND_BATCH = 25;
const DELETION_PAGE = 100;

export interface InvocationOptions {
  /** Epoch ms by which this invocation must have stopped. */
  deadline: number;
  /** At most this many pages in this invocation (0: no limit); the time budget applies anyway. */
  maxPages?: number;
  now?: () => number;
  /** How rate-limit waits that fit inline are slept (tests: without sleeping). */
  sleep?: (ms: number) => Promise<void>;
}

export type InvocationResult = 'finished' | 'continued' | 'rescheduled' | 'skipped';

/** The variant of an adapter a resource is bound to (undefined: the adapter no longer has it). */
export function variantOf(adapter: SyncAdapter, resource: Resource): ResourceVariant | undefined {
  const type = adapter.resourceTypes.find((t) => t.type === resource.type);
  return type?.variants.find((v) => v.kind === (resource.kind ?? 'default'));
}

function mappingOptions(binding: BindingItem, variant: ResourceVariant) {
  return {
    source: variant.fields,
    target: targetFields[binding.sync_entity],
    direction: binding.direction,
    sourceName: `${binding.resource.type} ${variant.kind}`,
  };
}

/** A run in memory during one invocation: its counters move, and are saved after every page. */
interface Working {
  run: RunItem;
  binding: BindingItem;
  opened: OpenedContext;
  variant: ResourceVariant;
  /** The run's provider counters when this invocation began (the client counts this invocation). */
  base: Pick<RunItem, 'provider_calls' | 'rate_limit_waits' | 'rate_limit_wait_ms' | 'not_modified'>;
  pages: number;
  /** The counts before the current page (a page cut short by a rate limit is redone, not counted). */
  snapshot?: Pick<RunItem, 'inbound' | 'outbound' | 'errors' | 'errors_total' | 'pages_fetched'>;
}

function addError(run: RunItem, error: RecordError): void {
  run.errors_total += 1;
  if (run.errors.length < MAX_RUN_ERRORS) run.errors.push({ ...error, message: error.message.slice(0, 500) });
}

const count = (counts: DirectionCounts, action: keyof DirectionCounts) => {
  counts[action] += 1;
};

/** Saves the run's place and counters, only if no other invocation moved it and no cancel came. */
async function saveProgress(w: Working, place: Partial<RunItem>): Promise<'saved' | 'cancelled' | 'lost'> {
  const { run, opened, base } = w;
  const set: Partial<RunItem> = {
    ...place,
    page_seq: run.page_seq + 1,
    inbound: run.inbound,
    outbound: run.outbound,
    errors: run.errors,
    errors_total: run.errors_total,
    pages_fetched: run.pages_fetched,
    checkpoint_to: run.checkpoint_to,
    provider_calls: base.provider_calls + opened.stats.provider_calls,
    rate_limit_waits: base.rate_limit_waits + opened.stats.rate_limit_waits,
    rate_limit_wait_ms: base.rate_limit_wait_ms + opened.stats.rate_limit_wait_ms,
    not_modified: base.not_modified + opened.stats.not_modified,
  };
  try {
    const saved = await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: { pk: run.pk, sk: run.sk },
        ...expressionOf(set, run.page_seq),
        ConditionExpression: 'page_seq = :seq AND cancel_requested = :no',
        ReturnValues: 'ALL_NEW',
      }),
    );
    w.run = saved.Attributes as RunItem;
    return 'saved';
  } catch (err) {
    if (!isConditionFailed(err)) throw err;
    const current = await getRunAt(run.connection_id, run.binding_id, run.id);
    return current?.cancel_requested && current.page_seq === run.page_seq ? 'cancelled' : 'lost';
  }
}

function expressionOf(set: Partial<RunItem>, seq: number) {
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = { ':seq': seq, ':no': false };
  const parts = Object.entries(set).map(([k, v], i) => {
    names[`#a${i}`] = k;
    values[`:a${i}`] = v;
    return `#a${i} = :a${i}`;
  });
  return {
    UpdateExpression: `SET ${parts.join(', ')}`,
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
  };
}

// ── Inbound ──

function recordMessageOf(
  w: Working,
  rec: ExternalRecord,
  link: Pick<LinkItem, 'pronaflow_id' | 'hash' | 'external_updated_at'>,
  op: 'upsert' | 'delete',
  created: boolean,
  values: FieldValues,
): RecordMessage {
  const { binding, run, variant } = w;
  const parentField = variant.parentField;
  const parent = parentField ? rec.fields[parentField] : undefined;
  return {
    schema: RECORD_SCHEMA,
    // A record version: its provider time with its content (the same title changed and changed
    // back is a new version), or for a delete the version it deletes (deleted twice: two keys).
    // A replayed page sends the same keys.
    idempotency_key:
      op === 'delete'
        ? `${binding.id}:${rec.id}:deleted:${link.external_updated_at}`
        : `${binding.id}:${rec.id}:${rec.updatedAt}:${link.hash}`,
    op,
    entity: binding.sync_entity,
    workspace_id: binding.workspace_id,
    project_id: binding.project_id,
    binding_id: binding.id,
    run_id: run.id,
    pronaflow_id: link.pronaflow_id,
    created,
    parent_external_id: parent === undefined || parent === null ? null : String(parent),
    external: {
      provider: binding.app_id,
      resource_key: binding.resource_key,
      id: rec.id,
      url: rec.url ?? null,
      updated_at: rec.updatedAt,
    },
    values: op === 'delete' ? {} : values,
    occurred_at: new Date().toISOString(),
  };
}

/**
 * One page of inbound changes: classify each record against its link (added, updated, deleted,
 * skipped when it maps to what was last synced — unchanged, or the echo of the sync's own write
 * — failed when it does not map), settle conflicts with pending PronaFlow changes by the
 * binding's policy, then write the links, publish the records, and report the page's counts.
 */
async function inboundPage(
  w: Working,
  records: ExternalRecord[],
  pending: Map<string, PendingItem>,
): Promise<void> {
  const { binding, run } = w;
  const page = run.page_seq;
  const links = await linksOf(
    binding,
    records.map((r) => r.id),
  );
  const writes: LinkItem[] = [];
  const messages: RecordMessage[] = [];
  const dropPending: PendingItem[] = [];
  const now = new Date().toISOString();
  for (const rec of records) {
    const link = links.get(rec.id);
    const replay = link?.stamp.run === run.id && link.stamp.page === page ? link.stamp.action : undefined;
    if (rec.deleted) {
      if (!link || (link.deleted && !replay)) {
        count(run.inbound, 'skipped');
        continue;
      }
      const action = replay ?? 'deleted';
      count(run.inbound, action);
      writes.push({ ...link, deleted: true, stamp: { run: run.id, page, action }, updated_at: now });
      messages.push(recordMessageOf(w, rec, link, 'delete', false, {}));
      continue;
    }
    if (link?.deleted && link.deleted_by === 'pronaflow' && !replay) {
      // Deleted in PronaFlow and so closed at the provider: what the provider keeps is not a new record.
      count(run.inbound, 'skipped');
      continue;
    }
    const mapped = applyInbound(binding.field_mapping, rec.fields, mappingOptions(binding, w.variant));
    if (mapped.errors.length) {
      count(run.inbound, 'failed');
      addError(run, {
        direction: 'inbound',
        external_id: rec.id,
        message: mapped.errors.map((e) => `${e.path}: ${e.message}`).join('; '),
      });
      continue;
    }
    const hash = mappedHash(mapped.values);
    const pronaflowId = link?.pronaflow_id ?? pronaflowIdFor(binding.sync_entity, binding.id, rec.id);
    let action: keyof DirectionCounts;
    if (replay) action = replay;
    else if (!link || link.deleted) action = 'added';
    else if (link.hash === hash) action = 'skipped';
    else action = 'updated';
    const waiting = pending.get(pronaflowId);
    if (!replay && action === 'updated' && waiting && !providerWins(binding, rec, waiting)) {
      // PronaFlow's change wins: it is written to the provider in the outbound phase.
      action = 'skipped';
    } else if (waiting && action === 'updated') {
      dropPending.push(waiting);
    }
    count(run.inbound, action);
    const changed = action !== 'skipped';
    const seen = run.full && link?.seen_run !== run.id;
    if (changed || seen || !link || link.external_updated_at !== rec.updatedAt) {
      writes.push({
        ...bindingKeys.link(binding.connection_id, binding.id, rec.id),
        ...bindingKeys.linkOfRecord(binding.workspace_id, pronaflowId, binding.id),
        entity: 'SyncLink',
        binding_id: binding.id,
        external_id: rec.id,
        pronaflow_id: pronaflowId,
        external_updated_at: rec.updatedAt,
        pf_values: changed || !link ? mapped.values : link.pf_values,
        hash: changed || !link ? hash : link.hash,
        ...(run.full ? { seen_run: run.id } : link?.seen_run ? { seen_run: link.seen_run } : {}),
        stamp: changed ? { run: run.id, page, action } : (link?.stamp ?? { run: run.id, page, action }),
        updated_at: now,
      });
    }
    if (changed) {
      messages.push(
        recordMessageOf(
          w,
          rec,
          { pronaflow_id: pronaflowId, hash, external_updated_at: rec.updatedAt },
          'upsert',
          action === 'added',
          mapped.values,
        ),
      );
    }
  }
  await putLinks(writes);
  await publishRecords(messages);
  for (const p of dropPending) {
    pending.delete(p.pronaflow_id);
    await deletePending(p);
  }
}

/** Whether the provider's version wins over a pending PronaFlow change of the same record. */
function providerWins(binding: BindingItem, rec: ExternalRecord, waiting: PendingItem): boolean {
  if (binding.conflict_policy === 'provider_wins') return true;
  if (binding.conflict_policy === 'pronaflow_wins') return false;
  return Date.parse(rec.updatedAt) >= Date.parse(waiting.occurred_at);
}

async function pendingOf(binding: BindingItem): Promise<Map<string, PendingItem>> {
  if (binding.direction !== 'BIDIRECTIONAL') return new Map();
  const items = await pendingPage(binding, 1000);
  return new Map(items.map((p) => [p.pronaflow_id, p]));
}

// ── Deletions (full runs) ──

async function deletionsPage(w: Working): Promise<string | null> {
  const { binding, run, opened } = w;
  const page = run.page_seq;
  const { items, last } = await linkPage(binding, run.cursor, DELETION_PAGE);
  const writes: LinkItem[] = [];
  const messages: RecordMessage[] = [];
  const now = new Date().toISOString();
  for (const link of items) {
    const replay = link.stamp.run === run.id && link.stamp.page === page;
    if (!replay && (link.deleted || link.seen_run === run.id)) continue;
    if (!replay) {
      let found: Awaited<ReturnType<typeof opened.adapter.fetchRecord>>;
      try {
        found = await opened.adapter.fetchRecord(opened.ctx, binding.resource, link.external_id);
      } catch (err) {
        // There but unreadable (the listing counted it failed already): never a delete, never fatal.
        if (!(err instanceof ProviderCallError && err.recordLevel)) throw err;
        count(run.inbound, 'skipped');
        continue;
      }
      if (found !== 'gone') {
        // Still there (outside the listing's reach): not deleted, never a false delete.
        count(run.inbound, 'skipped');
        continue;
      }
    }
    count(run.inbound, 'deleted');
    writes.push({ ...link, deleted: true, stamp: { run: run.id, page, action: 'deleted' }, updated_at: now });
    messages.push(
      recordMessageOf(w, { id: link.external_id, updatedAt: now, fields: {} }, link, 'delete', false, {}),
    );
  }
  await putLinks(writes);
  await publishRecords(messages);
  return last;
}

// ── Outbound ──

/**
 * True when `values` would write to the provider what the link last synced: PronaFlow echoing the
 * sync's own write. Compared through the outbound mapping, so fields the binding does not write
 * (a whole task of core's `task.created`, with `assignee: null`, `external_url`…) do not count.
 */
function isEcho(w: Working, link: LinkItem | undefined, values: FieldValues): boolean {
  if (!link) return false;
  const opts = mappingOptions(w.binding, w.variant);
  const out = applyOutbound(w.binding.field_mapping, values, opts);
  if (out.errors.length || !Object.keys(out.values).length) return false;
  const last = Object.fromEntries(
    Object.keys(values)
      .filter((k) => k in link.pf_values)
      .map((k) => [k, link.pf_values[k]]),
  );
  return mappedHash(out.values) === mappedHash(applyOutbound(w.binding.field_mapping, last, opts).values);
}

async function outboundOne(w: Working, p: PendingItem): Promise<void> {
  const { binding, run, opened, variant } = w;
  const { adapter, ctx } = opened;
  const link = await linkOfRecordIn(binding, p.pronaflow_id);
  const fail = (message: string, externalId: string | null = link?.external_id ?? null) => {
    count(run.outbound, 'failed');
    addError(run, { direction: 'outbound', external_id: externalId, pronaflow_id: p.pronaflow_id, message });
  };
  try {
    if (p.op === 'delete') {
      if (!link || link.deleted) {
        count(run.outbound, 'skipped');
      } else {
        await adapter.deleteRecord(ctx, binding.resource, link.external_id);
        await putLink({
          ...link,
          deleted: true,
          deleted_by: 'pronaflow',
          stamp: { run: run.id, page: run.page_seq, action: 'deleted' },
        });
        count(run.outbound, 'deleted');
      }
      return;
    }
    if (isEcho(w, link, p.values)) {
      count(run.outbound, 'skipped');
      return;
    }
    const out = applyOutbound(binding.field_mapping, p.values, mappingOptions(binding, variant));
    if (out.errors.length) {
      fail(out.errors.map((e) => `${e.path}: ${e.message}`).join('; '));
      return;
    }
    if (!Object.keys(out.values).length) {
      count(run.outbound, 'skipped');
      return;
    }
    const merged = { ...(link?.pf_values ?? {}), ...p.values };
    if (!link || link.deleted) {
      if (p.op !== 'create' || !variant.writable.create) {
        count(run.outbound, 'skipped');
        return;
      }
      const parent = await parentExternalId(w, p);
      const created = await adapter.createRecord(ctx, binding.resource, {
        ...out.values,
        ...(variant.parentField && parent ? { [variant.parentField]: parent } : {}),
      });
      await putLink(linkFor(w, created, p.pronaflow_id, merged, 'added'));
      count(run.outbound, 'added');
      return;
    }
    if (!variant.writable.update) {
      count(run.outbound, 'skipped');
      return;
    }
    if (binding.conflict_policy !== 'pronaflow_wins') {
      const current = await adapter.fetchRecord(ctx, binding.resource, link.external_id);
      if (current === 'gone') {
        await putLink({
          ...link,
          deleted: true,
          stamp: { run: run.id, page: run.page_seq, action: 'skipped' },
        });
        count(run.outbound, 'skipped');
        return;
      }
      const changedThere = current.updatedAt !== link.external_updated_at;
      if (changedThere && providerWins(binding, current, p)) {
        // The provider changed it since the last sync and wins: its version comes in next run.
        count(run.outbound, 'skipped');
        return;
      }
    }
    const updated = await adapter.updateRecord(ctx, binding.resource, link.external_id, out.values);
    await putLink(linkFor(w, updated, p.pronaflow_id, merged, 'updated'));
    count(run.outbound, 'updated');
  } catch (err) {
    if (err instanceof ProviderCallError && err.recordLevel) {
      fail(err.message);
      return;
    }
    throw err;
  }
}

/** The link of a record as the provider now holds it, after the sync wrote it. */
function linkFor(
  w: Working,
  rec: ExternalRecord,
  pronaflowId: string,
  pfValues: FieldValues,
  action: keyof DirectionCounts,
): LinkItem {
  const { binding, run, variant } = w;
  const mapped = applyInbound(binding.field_mapping, rec.fields, mappingOptions(binding, variant));
  return {
    ...bindingKeys.link(binding.connection_id, binding.id, rec.id),
    ...bindingKeys.linkOfRecord(binding.workspace_id, pronaflowId, binding.id),
    entity: 'SyncLink',
    binding_id: binding.id,
    external_id: rec.id,
    pronaflow_id: pronaflowId,
    external_updated_at: rec.updatedAt,
    pf_values: pfValues,
    // What the provider now holds maps to this: the next inbound run sees it as unchanged (no echo).
    hash: mappedHash(mapped.values),
    stamp: { run: run.id, page: run.page_seq, action },
    updated_at: new Date().toISOString(),
  };
}

/** For a comment: the external id of the task it belongs to, through the task's link on this connection. */
async function parentExternalId(w: Working, p: PendingItem): Promise<string | undefined> {
  if (!p.parent_pronaflow_id) return undefined;
  const links = await linksOfRecord(w.binding.workspace_id, p.parent_pronaflow_id);
  return links.find((l) => l.pk === w.binding.pk && !l.deleted)?.external_id;
}

async function outboundBatch(w: Working): Promise<boolean> {
  const batch = await pendingPage(w.binding, OUTBOUND_BATCH);
  for (const p of batch) {
    await outboundOne(w, p);
    await deletePending(p);
  }
  return batch.length === OUTBOUND_BATCH;
}

// ── The invocation ──

const nextPhase = (binding: BindingItem, run: RunItem, after: RunItem['phase']): RunItem['phase'] => {
  const order: RunItem['phase'][] = ['inbound', 'deletions', 'outbound', 'done'];
  for (const phase of order.slice(order.indexOf(after) + 1)) {
    if (phase === 'deletions' && run.full && binding.direction !== 'OUTBOUND') return phase;
    if (phase === 'outbound' && binding.direction !== 'INBOUND') return phase;
    if (phase === 'done') return phase;
  }
  return 'done';
};

const firstPhase = (binding: BindingItem): RunItem['phase'] =>
  binding.direction === 'OUTBOUND' ? 'outbound' : 'inbound';

/** Takes the run for this invocation (lease), marks it RUNNING; undefined when another invocation holds it. */
async function claimRun(
  run: RunItem,
  owner: string,
  deadline: number,
  now: number,
): Promise<RunItem | undefined> {
  try {
    const out = await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: { pk: run.pk, sk: run.sk },
        UpdateExpression: `SET #st = :running, ${run.started_at ? '' : 'started_at = :now, '}invocations = invocations + :one, lease_owner = :owner, lease_until = :leaseUntil, resume_at = :null`,
        ConditionExpression: `${LEASE_FREE} AND #st IN (:queued, :running)`,
        ExpressionAttributeNames: { '#st': 'status' },
        ExpressionAttributeValues: {
          ...leaseValues(now, deadline - now + LEASE_SLACK_MS),
          ':running': 'RUNNING',
          ':queued': 'QUEUED',
          ...(run.started_at ? {} : { ':now': new Date(now).toISOString() }),
          ':one': 1,
          ':owner': owner,
          ':null': null,
        },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return out.Attributes as RunItem;
  } catch (err) {
    if (isConditionFailed(err)) return undefined;
    throw err;
  }
}

/** Hands the lease back at the end of an invocation that leaves the run unfinished. */
async function releaseRun(run: RunItem, owner: string): Promise<void> {
  await db()
    .send(
      new UpdateCommand({
        TableName: tableName(),
        Key: { pk: run.pk, sk: run.sk },
        UpdateExpression: 'REMOVE lease_owner, lease_until',
        ConditionExpression: 'lease_owner = :owner',
        ExpressionAttributeValues: { ':owner': owner },
      }),
    )
    .catch((err) => {
      if (!isConditionFailed(err)) throw err;
    });
}

const outcomeOfFailure = (err: unknown): RunOutcome | undefined => {
  if (err instanceof ConnectionRejected) {
    return {
      status: 'FAILED',
      error: { code: 'connection_rejected', message: err.message },
      bindingStatus: { status: 'ERROR', reason: { code: 'connection_rejected', message: err.message } },
    };
  }
  if (err instanceof ConnectionExpiredError) {
    return {
      status: 'FAILED',
      error: { code: 'connection_expired', message: err.message },
      bindingStatus: { status: 'ERROR', reason: { code: 'connection_expired', message: err.message } },
    };
  }
  if (err instanceof RefreshPausedError) {
    return { status: 'FAILED', error: { code: 'connection_refresh_paused', message: err.message } };
  }
  if (err instanceof BindingUnreachable) {
    return {
      status: 'FAILED',
      error: { code: err.code, message: err.message },
      bindingStatus: { status: 'ERROR', reason: { code: err.code, message: err.message } },
    };
  }
  if (err instanceof ProviderCallError) {
    return {
      status: 'FAILED',
      error: { code: 'provider_error', message: err.message.slice(0, 500) },
    };
  }
  return undefined;
};

/**
 * One invocation's work on a run (the sync worker calls it per message). Never throws for the
 * provider's failures (they end the run FAILED, the binding in ERROR where the connection is dead);
 * throws only for our own (DynamoDB, SQS), so the message is retried.
 */
export async function workOnRun(msg: RunMessage, opts: InvocationOptions): Promise<InvocationResult> {
  const now = opts.now ?? Date.now;
  const found = await getRunAt(msg.connection_id, msg.binding_id, msg.run_id);
  if (!found || isTerminal(found.status)) return 'skipped';
  const binding = await getBindingAt(msg.connection_id, msg.binding_id);
  if (!binding) {
    await finishRun(found, {
      status: 'CANCELLED',
      error: { code: 'binding_deleted', message: 'The binding was deleted' },
    });
    return 'finished';
  }
  if (found.cancel_requested) {
    await finishRun(found, { status: 'CANCELLED', error: { code: 'cancelled', message: 'Cancelled' } });
    return 'finished';
  }
  if (binding.status !== 'ACTIVE') {
    // Paused (by its owner, a workspace deletion) or in ERROR meanwhile: the run stops here.
    await finishRun(found, {
      status: 'CANCELLED',
      error: {
        code: `binding_${binding.status.toLowerCase()}`,
        message: `The binding is ${binding.status}${binding.status_reason ? ` (${binding.status_reason.message})` : ''}`,
      },
    });
    return 'finished';
  }
  // After the cancel and deletion checks: a run waiting out a long rate limit still stops at once.
  if (found.resume_at && found.resume_at > now() + 1000) {
    await enqueueRun(found, Math.ceil((found.resume_at - now()) / 1000));
    return 'rescheduled';
  }
  const owner = newId('inv');
  const run = await claimRun(found, owner, opts.deadline, now());
  if (!run) return 'skipped';
  if (run.phase === 'inbound' && run.page_seq === 0 && firstPhase(binding) !== 'inbound')
    run.phase = firstPhase(binding);
  const consent = await hasLiveConsent(binding.workspace_id, binding.created_by, {
    consent_type: 'THIRD_PARTY',
    resource_type: 'oauth_connection',
    resource_id: binding.connection_id,
  });
  if (!consent) {
    const reason = {
      code: 'consent_required',
      message: `The THIRD_PARTY consent of ${binding.created_by} for the connection ${binding.connection_id} is not live`,
    };
    await finishRun(run, { status: 'FAILED', error: reason, bindingStatus: { status: 'PAUSED', reason } });
    return 'finished';
  }
  let opened: OpenedContext;
  try {
    // The provider client judges the deadline and rate-limit waits on the same clock as the engine.
    // A full run lists without ETags: a 304 would tell it nothing of what still exists, and its
    // deletions phase would then read every linked record one by one.
    opened = await openAdapterContext(run.full ? { ...binding, etags: {} } : binding, {
      deadline: opts.deadline,
      now,
      ...(opts.sleep ? { sleep: opts.sleep } : {}),
    });
    if (effectiveStatus(opened.connection, new Date(now())) === 'EXPIRED') {
      throw new ConnectionExpiredError(binding.connection_id, 'has expired');
    }
  } catch (err) {
    const outcome = outcomeOfFailure(err);
    if (!outcome) throw err;
    await finishRun(run, outcome);
    return 'finished';
  }
  const variant = variantOf(opened.adapter, binding.resource);
  if (!variant) {
    const reason = {
      code: 'resource_unsupported',
      message: `The adapter no longer syncs ${binding.resource.type}`,
    };
    await finishRun(run, { status: 'FAILED', error: reason, bindingStatus: { status: 'ERROR', reason } });
    return 'finished';
  }
  const w: Working = {
    run,
    binding,
    opened,
    variant,
    base: {
      provider_calls: run.provider_calls,
      rate_limit_waits: run.rate_limit_waits,
      rate_limit_wait_ms: run.rate_limit_wait_ms,
      not_modified: run.not_modified,
    },
    pages: 0,
  };
  try {
    return await drive(w, owner, opts, now);
  } catch (err) {
    if (err instanceof RescheduleRun) {
      // The page it stopped in is done again on resume: its counts go back to before it (pending
      // changes written one by one, in the outbound phase, stay counted).
      if (w.snapshot && w.run.phase !== 'outbound') Object.assign(w.run, w.snapshot);
      await saveCounters(w);
      w.run = await updateRun(w.run, { resume_at: err.resumeAt });
      await releaseRun(w.run, owner);
      await enqueueRun(w.run, Math.ceil((err.resumeAt - now()) / 1000));
      logger.info('sync run waits for a rate limit', {
        run_id: run.id,
        kind: err.kind,
        resume_at: err.resumeAt,
      });
      return 'rescheduled';
    }
    const outcome = outcomeOfFailure(err);
    if (!outcome) {
      await releaseRun(w.run, owner);
      throw err;
    }
    await saveCounters(w);
    // A failed run leaves the binding's ETags as they were.
    await finishRun(w.run, outcome);
    return 'finished';
  }
}

/** Writes the counters of a run that is about to end on a failure (its counts stay true). */
async function saveCounters(w: Working): Promise<void> {
  w.run = await updateRun(w.run, {
    inbound: w.run.inbound,
    outbound: w.run.outbound,
    errors: w.run.errors,
    errors_total: w.run.errors_total,
    pages_fetched: w.run.pages_fetched,
    provider_calls: w.base.provider_calls + w.opened.stats.provider_calls,
    rate_limit_waits: w.base.rate_limit_waits + w.opened.stats.rate_limit_waits,
    rate_limit_wait_ms: w.base.rate_limit_wait_ms + w.opened.stats.rate_limit_wait_ms,
    not_modified: w.base.not_modified + w.opened.stats.not_modified,
  });
}

async function drive(
  w: Working,
  owner: string,
  opts: InvocationOptions,
  now: () => number,
): Promise<InvocationResult> {
  const pending = await pendingOf(w.binding);
  // Every invocation takes at least one page (a budget shorter than the margin would otherwise
  // re-enqueue the run for ever without progress); the provider client still keeps the deadline.
  const outOfTime = () =>
    (w.pages > 0 && now() + PAGE_MARGIN_MS > opts.deadline) ||
    (opts.maxPages ? w.pages >= opts.maxPages : false);
  while (w.run.phase !== 'done') {
    if (outOfTime()) {
      await releaseRun(w.run, owner);
      await enqueueRun(w.run);
      return 'continued';
    }
    const { run, binding, opened } = w;
    w.snapshot = structuredClone({
      inbound: run.inbound,
      outbound: run.outbound,
      errors: run.errors,
      errors_total: run.errors_total,
      pages_fetched: run.pages_fetched,
    });
    let place: Partial<RunItem>;
    if (run.phase === 'inbound') {
      const listed = await opened.adapter.listChanges(opened.ctx, binding.resource, {
        ...(run.checkpoint_from && !run.full ? { since: run.checkpoint_from } : {}),
        ...(run.cursor ? { cursor: run.cursor } : {}),
      });
      run.pages_fetched += 1;
      for (const bad of listed.malformed) {
        count(run.inbound, 'failed');
        addError(run, { direction: 'inbound', external_id: bad.externalId, message: bad.error });
      }
      await inboundPage(w, listed.records, pending);
      if (listed.checkpoint && (!run.checkpoint_to || listed.checkpoint > run.checkpoint_to)) {
        run.checkpoint_to = listed.checkpoint;
      }
      place = listed.next
        ? { cursor: listed.next }
        : { cursor: null, phase: nextPhase(binding, run, 'inbound') };
    } else if (run.phase === 'deletions') {
      const last = await deletionsPage(w);
      place = last ? { cursor: last } : { cursor: null, phase: nextPhase(binding, run, 'deletions') };
    } else {
      const more = await outboundBatch(w);
      // The phase is written either way: an OUTBOUND binding's run starts in it without a write.
      place = { phase: more ? 'outbound' : 'done' };
    }
    w.pages += 1;
    const saved = await saveProgress(w, place);
    if (saved === 'lost') return 'skipped';
    if (saved === 'cancelled') {
      await saveCounters(w).catch(() => undefined);
      await finishRun(w.run, { status: 'CANCELLED', error: { code: 'cancelled', message: 'Cancelled' } });
      return 'finished';
    }
  }
  const failed = w.run.inbound.failed + w.run.outbound.failed > 0;
  const readAll = w.binding.direction !== 'OUTBOUND';
  await finishRun(w.run, {
    status: failed ? 'PARTIAL' : 'SUCCEEDED',
    ...(readAll ? { checkpoint: w.run.checkpoint_to ?? w.run.checkpoint_from ?? null } : {}),
    etags: w.opened.usedEtags(),
  });
  return 'finished';
}
