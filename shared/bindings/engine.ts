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
  isParentBinding,
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
import {
  MAX_RECORD_BYTES,
  pronaflowIdFor,
  publishRecords,
  RECORD_SCHEMA,
  type RecordMessage,
  recordBytes,
} from './records.ts';
import { enqueueRun, finishRun, isTerminal, type RunMessage, type RunOutcome, updateRun } from './runs.ts';
import {
  allBindingsOf,
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
  markCreateStarted,
  type PendingItem,
  pendingOfRecords,
  pendingPage,
  putLink,
  putLinks,
  type RecordError,
  type RunItem,
  setPendingValues,
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
  /** For a binding of records with parents: the bindings that may link the parents (read once). */
  parentBindings?: BindingItem[];
}

/** A parent as a record message names it (records.ts `parent`). */
type ParentRef = { resource_key: string; pronaflow_id: string };

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
    // Every invocation's ETags, not only the last one's: saved on the binding at the run's end.
    etags_used: { ...(run.etags_used ?? {}), ...opened.usedEtags() },
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
  parents?: Map<string, ParentRef>,
): RecordMessage {
  const { binding, run, variant } = w;
  const parentField = variant.parentField;
  const parent = parentField ? rec.fields[parentField] : undefined;
  const parentId = parent === undefined || parent === null ? null : String(parent);
  const resolved = parentId === null ? undefined : parents?.get(parentId);
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
    parent_external_id: parentId,
    parent:
      parentId === null
        ? null
        : {
            external_id: parentId,
            resource_key: resolved?.resource_key ?? null,
            pronaflow_id: resolved?.pronaflow_id ?? null,
          },
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
 * — or when it is older than the version last synced (a stale read), failed when it does not map
 * or its record would be too large for the records queue), settle conflicts with pending
 * PronaFlow changes field by field, then write the links, publish the records, and report the
 * page's counts.
 *
 * Conflicts: the pending PronaFlow changes of the page's records are read with the page (so a
 * change made while the run goes is seen). A pending field the provider changed too since the
 * last sync goes by the binding's policy; every other pending field is PronaFlow's, every other
 * changed field the provider's. A record is published without the fields PronaFlow keeps (its
 * pending change writes them out in the outbound phase); the fields the provider won leave the
 * pending change (removed when none is left).
 */
async function inboundPage(w: Working, records: ExternalRecord[]): Promise<void> {
  const { binding, run } = w;
  const page = run.page_seq;
  const links = await linksOf(
    binding,
    records.map((r) => r.id),
  );
  const parents = await parentsOf(w, records);
  const idOf = (rec: ExternalRecord) =>
    links.get(rec.id)?.pronaflow_id ?? pronaflowIdFor(binding.sync_entity, binding.id, rec.id);
  // Only a two-way binding has PronaFlow changes that may conflict with what comes in.
  const pending =
    binding.direction === 'BIDIRECTIONAL'
      ? await pendingOfRecords(binding, records.filter((r) => !r.deleted).map(idOf))
      : new Map<string, PendingItem>();
  const writes: LinkItem[] = [];
  const messages: RecordMessage[] = [];
  /** Pending changes the provider won fields of: their values left, or null to remove them. */
  const settle: { item: PendingItem; values: FieldValues | null }[] = [];
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
      messages.push(recordMessageOf(w, rec, link, 'delete', false, {}, parents));
      continue;
    }
    if (link?.deleted && link.deleted_by === 'pronaflow' && !replay) {
      // Deleted in PronaFlow and so closed at the provider: what the provider keeps is not a new record.
      count(run.inbound, 'skipped');
      continue;
    }
    if (
      !replay &&
      link &&
      !link.deleted &&
      Date.parse(rec.updatedAt) < Date.parse(link.external_updated_at)
    ) {
      // Older than the version last synced (a stale read, a lagging replica): never a revert.
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
    const pronaflowId = idOf(rec);
    const waiting = pending.get(pronaflowId);
    const changed = link && !link.deleted ? changedFields(link, mapped.values) : Object.keys(mapped.values);
    let publish = mapped.values;
    let settled: { item: PendingItem; values: FieldValues | null } | undefined;
    let action: keyof DirectionCounts;
    if (replay) {
      action = replay;
      // As the first time: the fields PronaFlow keeps are those its (already settled) change holds.
      if (waiting && waiting.op !== 'delete') publish = without(mapped.values, Object.keys(waiting.values));
    } else if (!link || link.deleted) action = 'added';
    else if (!changed.length) action = 'skipped';
    else if (!waiting) action = 'updated';
    else if (waiting.op === 'delete') {
      // A deletion is all or nothing: the policy decides between it and the provider's change.
      if (providerWins(binding, rec, waiting)) {
        action = 'updated';
        settled = { item: waiting, values: null };
      } else action = 'skipped';
    } else {
      const conflicts = Object.keys(waiting.values).filter((k) => changed.includes(k));
      const providerWon = conflicts.length && providerWins(binding, rec, waiting) ? conflicts : [];
      const kept = without(waiting.values, providerWon);
      if (providerWon.length) settled = { item: waiting, values: Object.keys(kept).length ? kept : null };
      publish = without(mapped.values, Object.keys(kept));
      // Nothing to bring in when every field the provider changed is one PronaFlow keeps.
      action = changed.some((k) => !(k in kept)) ? 'updated' : 'skipped';
    }
    let message: RecordMessage | undefined;
    if (action !== 'skipped') {
      message = recordMessageOf(
        w,
        rec,
        { pronaflow_id: pronaflowId, hash: mappedHash(publish), external_updated_at: rec.updatedAt },
        'upsert',
        action === 'added',
        publish,
        parents,
      );
      const bytes = recordBytes(message);
      if (bytes > MAX_RECORD_BYTES) {
        // Never sendable as it is: a failure of this record (its link left as it was), not of the run.
        count(run.inbound, 'failed');
        addError(run, {
          direction: 'inbound',
          external_id: rec.id,
          message: `The record is too large for the records queue (${bytes} bytes, at most ${MAX_RECORD_BYTES})`,
        });
        continue;
      }
      messages.push(message);
    }
    if (settled) settle.push(settled);
    count(run.inbound, action);
    // The link follows what the provider holds whenever its content changed (fields PronaFlow
    // keeps included: its pending change goes out next, and its write updates them).
    const fresh = action !== 'skipped' || changed.length > 0 || !link;
    const seen = run.full && link?.seen_run !== run.id;
    if (fresh || seen || !link || link.external_updated_at !== rec.updatedAt) {
      writes.push({
        ...bindingKeys.link(binding.connection_id, binding.id, rec.id),
        ...bindingKeys.linkOfRecord(binding.workspace_id, pronaflowId, binding.id),
        entity: 'SyncLink',
        binding_id: binding.id,
        external_id: rec.id,
        pronaflow_id: pronaflowId,
        external_updated_at: rec.updatedAt,
        pf_values: fresh || !link ? mapped.values : link.pf_values,
        hash: fresh || !link ? hash : link.hash,
        ...(fresh || !link
          ? { field_hashes: fieldHashes(mapped.values) }
          : link.field_hashes
            ? { field_hashes: link.field_hashes }
            : {}),
        ...(link?.pf_updated_at ? { pf_updated_at: link.pf_updated_at } : {}),
        ...(run.full ? { seen_run: run.id } : link?.seen_run ? { seen_run: link.seen_run } : {}),
        stamp:
          action !== 'skipped'
            ? { run: run.id, page, action }
            : (link?.stamp ?? { run: run.id, page, action }),
        updated_at: now,
      });
    }
  }
  // Pending changes first: a page replayed after a crash finds them settled and publishes alike.
  for (const { item, values } of settle) {
    if (values) await setPendingValues(item, values);
    else await deletePending(item);
  }
  await putLinks(writes);
  const refused = await publishRecords(messages);
  if (refused.length)
    throw new Error(`${refused.length} records over the queue's size limit were not screened`);
}

/**
 * The parents of a page's records (comments: their issues), through the links of the task
 * bindings of the same repository and connection: the parent's binding resource and PronaFlow id.
 */
async function parentsOf(w: Working, records: ExternalRecord[]): Promise<Map<string, ParentRef>> {
  const found = new Map<string, ParentRef>();
  const field = w.variant.parentField;
  if (!field) return found;
  const ids = [
    ...new Set(
      records
        .map((r) => r.fields[field])
        .filter((v) => v !== undefined && v !== null)
        .map((v) => String(v)),
    ),
  ];
  if (!ids.length) return found;
  w.parentBindings ??= (await allBindingsOf(w.binding.workspace_id)).filter(
    (b) => b.pk === w.binding.pk && b.id !== w.binding.id && isParentBinding(w.opened.adapter, w.binding, b),
  );
  for (const parent of w.parentBindings) {
    const links = await linksOf(
      parent,
      ids.filter((id) => !found.has(id)),
    );
    for (const [id, link] of links)
      if (!link.deleted)
        found.set(id, { resource_key: parent.resource_key, pronaflow_id: link.pronaflow_id });
  }
  return found;
}

/** Whether the provider's version wins over a pending PronaFlow change of the same record. */
function providerWins(binding: BindingItem, rec: ExternalRecord, waiting: PendingItem): boolean {
  if (binding.conflict_policy === 'provider_wins') return true;
  if (binding.conflict_policy === 'pronaflow_wins') return false;
  return Date.parse(rec.updatedAt) >= Date.parse(waiting.occurred_at);
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

/** What became of a pending change: settled (it is removed), or kept for the next attempt. */
type Settled = 'settled' | 'kept';

async function outboundOne(w: Working, p: PendingItem): Promise<Settled> {
  const { binding, run, opened, variant } = w;
  const { adapter, ctx } = opened;
  const link = await linkOfRecordIn(binding, p.pronaflow_id);
  const fail = (message: string, externalId: string | null = link?.external_id ?? null): Settled => {
    count(run.outbound, 'failed');
    addError(run, { direction: 'outbound', external_id: externalId, pronaflow_id: p.pronaflow_id, message });
    return 'settled';
  };
  const skip = (): Settled => {
    count(run.outbound, 'skipped');
    return 'settled';
  };
  try {
    if (p.op === 'delete') {
      if (!link || link.deleted) return skip();
      await adapter.deleteRecord(ctx, binding.resource, link.external_id);
      await putLink({
        ...link,
        deleted: true,
        deleted_by: 'pronaflow',
        stamp: { run: run.id, page: run.page_seq, action: 'deleted' },
      });
      count(run.outbound, 'deleted');
      return 'settled';
    }
    if (isEcho(w, link, p.values)) return skip();
    const opts = mappingOptions(binding, variant);
    const out = applyOutbound(binding.field_mapping, p.values, opts);
    if (out.errors.length) return fail(out.errors.map((e) => `${e.path}: ${e.message}`).join('; '));
    if (!Object.keys(out.values).length) return skip();
    if (!link || link.deleted) {
      if (p.op !== 'create' || !variant.writable.create) return skip();
      return await createOne(w, p, out.values);
    }
    if (!variant.writable.update) return skip();
    let values = p.values;
    // A conflict is the provider's mapped content changed since the last sync on a field this
    // change writes (GitHub bumps updated_at for a comment or a label: no conflict). An OUTBOUND
    // binding has no inbound side to prefer: PronaFlow's change is written whatever the policy.
    if (binding.direction === 'BIDIRECTIONAL' && binding.conflict_policy !== 'pronaflow_wins') {
      const current = await adapter.fetchRecord(ctx, binding.resource, link.external_id);
      if (current === 'gone') {
        await putLink({
          ...link,
          deleted: true,
          stamp: { run: run.id, page: run.page_seq, action: 'skipped' },
        });
        return skip();
      }
      const mapped = applyInbound(binding.field_mapping, current.fields, opts).values;
      const changed = new Set(changedFields(link, mapped));
      const conflicts = Object.keys(p.values).filter((k) => changed.has(k));
      if (conflicts.length && providerWins(binding, current, p)) {
        // The provider's version of these fields wins: their link hashes stay as last synced, so
        // the next inbound run brings them in; the link knows the version compared with.
        values = without(p.values, conflicts);
        await putLink({ ...link, external_updated_at: current.updatedAt });
      }
    }
    const write =
      values === p.values ? out.values : applyOutbound(binding.field_mapping, values, opts).values;
    if (!Object.keys(write).length) return skip();
    const updated = await adapter.updateRecord(ctx, binding.resource, link.external_id, write);
    await putLink(linkAfterWrite(w, updated, p, link, values, 'updated'));
    count(run.outbound, 'updated');
    return 'settled';
  } catch (err) {
    if (err instanceof ProviderCallError && err.recordLevel) return fail(err.message);
    throw err;
  }
}

/** A record's values by field, without `keys`. */
const without = (values: FieldValues, keys: readonly string[]) =>
  Object.fromEntries(Object.entries(values).filter(([k]) => !keys.includes(k)));

/**
 * Creates the record of a pending creation, at most once: the pending change is marked before
 * the create; a later attempt that finds the mark and no link looks for the record the earlier
 * one may have made (the adapter's `findCreated`, by a marker naming the PronaFlow id) before
 * creating again. The link is written as soon as the create returns; the fields the created
 * record does not hold yet (GitHub creates issues open) are written after, as an update: a
 * failure there leaves the link and the pending change, and the next attempt updates.
 */
async function createOne(w: Working, p: PendingItem, fields: FieldValues): Promise<Settled> {
  const { binding, run, opened, variant } = w;
  const { adapter, ctx } = opened;
  const opts = mappingOptions(binding, variant);
  const failed = (message: string): Settled => {
    count(run.outbound, 'failed');
    addError(run, { direction: 'outbound', external_id: null, pronaflow_id: p.pronaflow_id, message });
    return 'settled';
  };
  let parent: string | undefined;
  if (variant.parentField) {
    parent = await parentExternalId(w, p);
    if (!parent) {
      return failed(
        `Its ${p.parent_pronaflow_id ? `parent ${p.parent_pronaflow_id}` : 'parent'} is not linked to a record of ${binding.resource_key} through a binding of the same ${binding.resource.type}`,
      );
    }
  }
  const toCreate = { ...fields, ...(variant.parentField && parent ? { [variant.parentField]: parent } : {}) };
  let created: ExternalRecord | undefined;
  if (p.create_started_at) {
    if (adapter.findCreated) {
      const since = new Date(Date.parse(p.create_started_at) - 60_000).toISOString();
      created = await adapter.findCreated(ctx, binding.resource, p.pronaflow_id, since);
    } else {
      addError(run, {
        direction: 'outbound',
        external_id: null,
        pronaflow_id: p.pronaflow_id,
        message: `An earlier attempt to create it was interrupted and ${adapter.id} cannot look for its record: created again, it may exist twice there`,
      });
    }
  } else if (!(await markCreateStarted(p, new Date().toISOString()))) {
    // Settled meanwhile (by a run of the same binding before this one took over).
    count(run.outbound, 'skipped');
    return 'settled';
  }
  created ??= await adapter.createRecord(ctx, binding.resource, toCreate, p.pronaflow_id);
  // The provider fields the created record does not hold as asked, and the PronaFlow fields behind them.
  const record = created;
  const same = (a: unknown, b: unknown) => mappedHash({ v: a }) === mappedHash({ v: b });
  const rest = Object.fromEntries(
    Object.entries(fields).filter(([k, v]) => k !== variant.parentField && !same(v, record.fields[k])),
  );
  const restPf = Object.keys(p.values).filter((k) =>
    Object.keys(applyOutbound(binding.field_mapping, { [k]: p.values[k] }, opts).values).some(
      (f) => f in rest,
    ),
  );
  const first = linkAfterWrite(w, record, p, undefined, without(p.values, restPf), 'added');
  await putLink(first);
  count(run.outbound, 'added');
  if (!Object.keys(rest).length) return 'settled';
  try {
    const updated = await adapter.updateRecord(ctx, binding.resource, record.id, rest);
    await putLink(linkAfterWrite(w, updated, p, first, p.values, 'added'));
  } catch (err) {
    if (!(err instanceof ProviderCallError && err.recordLevel)) throw err;
    addError(run, {
      direction: 'outbound',
      external_id: record.id,
      pronaflow_id: p.pronaflow_id,
      message: `Created, but ${Object.keys(rest).join(', ')} not written yet (next attempt): ${err.message}`,
    });
    return 'kept';
  }
  return 'settled';
}

/** Per field, a short hash of a mapped value (the link's `field_hashes`). */
function fieldHashes(values: FieldValues): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(values)) if (v !== undefined) out[k] = mappedHash({ v }).slice(0, 24);
  return out;
}

/** The mapped fields whose provider value differs from what the link last synced. */
function changedFields(link: LinkItem, mapped: FieldValues): string[] {
  const now = fieldHashes(mapped);
  if (link.field_hashes) {
    const before = link.field_hashes;
    return [...new Set([...Object.keys(now), ...Object.keys(before)])].filter((k) => now[k] !== before[k]);
  }
  if (link.hash === mappedHash(mapped)) return [];
  // A link written before field hashes: compared with the PronaFlow-side values last synced.
  const before = fieldHashes(link.pf_values);
  const differ = Object.keys(now).filter((k) => now[k] !== before[k]);
  return differ.length ? differ : Object.keys(now);
}

/**
 * The link of a record as the provider now holds it, after the sync wrote `written` (PronaFlow
 * fields) to it: the written fields' hashes are what the provider now holds, the others keep what
 * was last synced (a provider change made meanwhile still comes in at the next inbound run).
 */
function linkAfterWrite(
  w: Working,
  rec: ExternalRecord,
  p: PendingItem,
  prev: LinkItem | undefined,
  written: FieldValues,
  action: keyof DirectionCounts,
): LinkItem {
  const { binding, run, variant } = w;
  const opts = mappingOptions(binding, variant);
  const mapped = applyInbound(binding.field_mapping, rec.fields, opts).values;
  const now = fieldHashes(mapped);
  const writtenKeys = Object.keys(written).filter(
    (k) =>
      k in now &&
      Object.keys(applyOutbound(binding.field_mapping, { [k]: written[k] }, opts).values).length > 0,
  );
  const hashes: Record<string, string> = prev?.field_hashes
    ? { ...prev.field_hashes, ...Object.fromEntries(writtenKeys.map((k) => [k, now[k] as string])) }
    : now;
  const pfUpdatedAt =
    prev?.pf_updated_at && Date.parse(prev.pf_updated_at) > Date.parse(p.occurred_at)
      ? prev.pf_updated_at
      : p.occurred_at;
  return {
    ...bindingKeys.link(binding.connection_id, binding.id, rec.id),
    ...bindingKeys.linkOfRecord(binding.workspace_id, p.pronaflow_id, binding.id),
    entity: 'SyncLink',
    binding_id: binding.id,
    external_id: rec.id,
    pronaflow_id: p.pronaflow_id,
    external_updated_at: rec.updatedAt,
    pf_values: { ...(prev && !prev.deleted ? prev.pf_values : {}), ...written },
    // What the provider now holds maps to this: the next inbound run sees it as unchanged (no echo).
    hash: mappedHash(mapped),
    field_hashes: hashes,
    pf_updated_at: pfUpdatedAt,
    stamp: { run: run.id, page: run.page_seq, action },
    updated_at: new Date().toISOString(),
  };
}

/** For a comment: the external id of the task it belongs to, through the task's link on this connection. */
async function parentExternalId(w: Working, p: PendingItem): Promise<string | undefined> {
  if (!p.parent_pronaflow_id) return undefined;
  const links = await linksOfRecord(w.binding.workspace_id, p.parent_pronaflow_id);
  for (const link of links) {
    if (link.pk !== w.binding.pk || link.deleted || link.binding_id === w.binding.id) continue;
    // Only a link of a task binding of the same repository (container): never a record of the
    // same number elsewhere on the connection.
    const parent = await getBindingAt(w.binding.connection_id, link.binding_id);
    if (parent && isParentBinding(w.opened.adapter, w.binding, parent)) return link.external_id;
  }
  return undefined;
}

async function outboundBatch(w: Working): Promise<boolean> {
  const batch = await pendingPage(w.binding, OUTBOUND_BATCH);
  let kept = 0;
  for (const p of batch) {
    if ((await outboundOne(w, p)) === 'kept') kept += 1;
    else await deletePending(p);
  }
  // A kept change is read again by the next batch (and settled by it: it goes the update path).
  return batch.length === OUTBOUND_BATCH || kept > 0;
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

/**
 * Takes the run for this invocation (lease), marks it RUNNING and moves its entry in the
 * stalled-runs index (B9) to the lease's end; undefined when another invocation holds it. A run
 * the scheduler found stalled too often (`stalled`) is finished FAILED `stalled` instead of worked.
 */
async function claimRun(
  run: RunItem,
  owner: string,
  deadline: number,
  now: number,
): Promise<RunItem | undefined> {
  const lease = leaseValues(now, deadline - now + LEASE_SLACK_MS);
  const active = bindingKeys.activeRun(new Date(lease[':leaseUntil'] as number).toISOString(), run.id);
  let claimed: RunItem & { stalled?: boolean };
  try {
    const out = await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: { pk: run.pk, sk: run.sk },
        UpdateExpression: `SET #st = :running, ${run.started_at ? '' : 'started_at = :now, '}invocations = invocations + :one, lease_owner = :owner, lease_until = :leaseUntil, resume_at = :null, gsi1pk = :activePk, gsi1sk = :activeSk`,
        ConditionExpression: `${LEASE_FREE} AND #st IN (:queued, :running)`,
        ExpressionAttributeNames: { '#st': 'status' },
        ExpressionAttributeValues: {
          ...lease,
          ':running': 'RUNNING',
          ':queued': 'QUEUED',
          ...(run.started_at ? {} : { ':now': new Date(now).toISOString() }),
          ':one': 1,
          ':owner': owner,
          ':null': null,
          ':activePk': active.gsi1pk,
          ':activeSk': active.gsi1sk,
        },
        ReturnValues: 'ALL_NEW',
      }),
    );
    claimed = out.Attributes as RunItem & { stalled?: boolean };
  } catch (err) {
    if (isConditionFailed(err)) return undefined;
    throw err;
  }
  if (claimed.stalled) {
    // Every invocation of it died without a word (timeouts, out of memory) through the scheduler's
    // recoveries: it ends here, before any work, rather than dying once more.
    await finishRun(claimed, {
      status: 'FAILED',
      error: {
        code: 'stalled',
        message: 'The run stopped moving and its recoveries did not help; start it again',
      },
    });
    return undefined;
  }
  return claimed;
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
    etags_used: { ...(w.run.etags_used ?? {}), ...w.opened.usedEtags() },
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
      await inboundPage(w, listed.records);
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
    etags: { ...(w.run.etags_used ?? {}), ...w.opened.usedEtags() },
  });
  return 'finished';
}
