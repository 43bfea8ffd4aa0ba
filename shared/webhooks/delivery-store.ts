/**
 * The WebhookDelivery item (W5) and its state machine: created once per event and endpoint,
 * claimed by one attempt at a time, each attempt and the terminal outcome recorded conditionally
 * (a failure: the outcome, the endpoint's stats or disable, and the expiry marker's delete in one
 * transaction; a success: one conditional write, its bookkeeping after it),
 * restarted as a new cycle. Its writers are the fan-out, the delivery worker, the expiry sweeper and
 * redeliver/recover/redrive; API views, list queries and marker queries live beside it.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { config } from '#shared/config.ts';
import { addCounters } from '#shared/counters.ts';
import { sha256Hex } from '#shared/crypto.ts';
import { batchDelete, batchPut } from '#shared/db/batch.ts';
import { db, tableName } from '#shared/db/client.ts';
import {
  cancellationCodes,
  conditionFailedAt,
  isConditionFailed,
  isTransactionCanceled,
} from '#shared/db/conditions.ts';
import { keys, ttlIn } from '#shared/db/keys.ts';
import { LEASE_FREE, leaseValues } from '#shared/db/lease.ts';
import { type TransactItem, transactWrite } from '#shared/db/transact.ts';
import { updateExpression } from '#shared/db/update.ts';
import type { PronaFlowEvent } from '#shared/events/envelope.ts';
import { logger } from '#shared/logger.ts';
import { deliveryCount, syncEndpointCount } from './counters.ts';
import { expiryMarker, expiryMarkerKey } from './delivery-markers.ts';
import type { DeliveryStatus, EndpointItem } from './endpoints.ts';

/** Attempts kept on a delivery record (the oldest are dropped); see also {@link keptAttempts}. */
export const MAX_ATTEMPTS_KEPT = 20;
/** DynamoDB's item size limit. */
const ITEM_LIMIT_BYTES = 400 * 1024;
/** Room left on a delivery item for everything but the payload and the attempts (keys, ids, times, errors). */
const ITEM_RESERVED_BYTES = 16 * 1024;

const attemptBytes = (a: StoredAttempt) => Buffer.byteLength(JSON.stringify(a), 'utf8');

/**
 * The attempts a delivery keeps: the latest {@link MAX_ATTEMPTS_KEPT}, and fewer when their size
 * next to the stored payload would take the item past DynamoDB's 400 KB (large answers: up to
 * 30 headers of 512 B and 4 KB of body each). The newest attempt is always kept.
 */
export function keptAttempts(attempts: StoredAttempt[], payloadBytes: number): StoredAttempt[] {
  const kept = attempts.slice(-MAX_ATTEMPTS_KEPT);
  const budget = ITEM_LIMIT_BYTES - ITEM_RESERVED_BYTES - payloadBytes;
  let size = kept.reduce((n, a) => n + attemptBytes(a), 0);
  while (kept.length > 1 && size > budget) size -= attemptBytes(kept.shift() as StoredAttempt);
  return kept;
}

/** One attempt as stored (request body is the delivery's payload, stored once). */
export interface StoredAttempt {
  cycle: number;
  attempt: number;
  started_at: string;
  duration_ms: number;
  url: string;
  request_headers: Record<string, string>;
  status?: number;
  response_headers?: Record<string, string>;
  response_body?: string;
  response_truncated?: boolean;
  error?: string;
}

/** The stored WebhookDelivery item. */
export interface DeliveryItem {
  pk: string;
  sk: string;
  gsi1pk: string;
  gsi1sk: string;
  entity: 'WebhookDelivery';
  id: string;
  endpoint_id: string;
  workspace_id: string;
  event_id: string;
  event_type: string;
  payload_gz: Uint8Array;
  status: DeliveryStatus;
  cycle: number;
  attempt_count: number;
  attempts: StoredAttempt[];
  created_at: string;
  updated_at: string;
  expires_at: string;
  next_attempt_at?: string;
  finished_at?: string;
  last_response_status?: number;
  last_error?: string;
  /** Set when a FAILED delivery's job was parked in the DLQ. */
  dead_letter?: boolean;
  lease_id?: string;
  /** Epoch ms until which `lease_id` alone may attempt (see shared/db/lease.ts). */
  lease_until?: number;
  ttl: number;
}

/** The delivery id for an event and an endpoint: deterministic, so a repeated event creates nothing twice. */
export function deliveryId(eventId: string, endpointId: string): string {
  return `dlv_${sha256Hex(`${eventId}\n${endpointId}`).slice(0, 32)}`;
}

const retentionSeconds = () => config().WEBHOOK_HISTORY_RETENTION_DAYS * 86400;
const deliveryTtlMs = () => config().WEBHOOK_DELIVERY_TTL_HOURS * 3600 * 1000;

/** What a new delivery is made of: an event, a subscribed endpoint, the payload built once per event. */
export interface NewDelivery {
  event: Pick<PronaFlowEvent, 'id' | 'type' | 'workspace_id'>;
  endpoint: Pick<EndpointItem, 'id' | 'workspace_id'>;
  payloadGz: Uint8Array;
  now: Date;
}

/** The item a delivery starts as: PENDING, cycle 0, no attempt (pure). */
export function newDeliveryItem(input: NewDelivery): DeliveryItem {
  const { event, endpoint, now } = input;
  const id = deliveryId(event.id, endpoint.id);
  const at = now.toISOString();
  return {
    ...keys.webhookDelivery(id),
    ...keys.webhookDeliveryIndex(endpoint.id, at, id),
    entity: 'WebhookDelivery',
    id,
    endpoint_id: endpoint.id,
    workspace_id: endpoint.workspace_id,
    event_id: event.id,
    event_type: event.type,
    payload_gz: input.payloadGz,
    status: 'PENDING',
    cycle: 0,
    attempt_count: 0,
    attempts: [],
    created_at: at,
    updated_at: at,
    expires_at: new Date(now.getTime() + deliveryTtlMs()).toISOString(),
    next_attempt_at: at,
    ttl: ttlIn(retentionSeconds(), now.getTime()),
  };
}

/**
 * The delivery as its creating fan-out wrote it, rebuilt from the fields its job carries (the
 * first attempt then reads nothing before its POST).
 */
export function freshDeliveryItem(
  id: string,
  f: Pick<
    DeliveryItem,
    'workspace_id' | 'endpoint_id' | 'event_id' | 'event_type' | 'created_at' | 'expires_at' | 'ttl'
  > & { payload_gz: Uint8Array },
): DeliveryItem {
  return {
    ...keys.webhookDelivery(id),
    ...keys.webhookDeliveryIndex(f.endpoint_id, f.created_at, id),
    entity: 'WebhookDelivery',
    id,
    endpoint_id: f.endpoint_id,
    workspace_id: f.workspace_id,
    event_id: f.event_id,
    event_type: f.event_type,
    payload_gz: f.payload_gz,
    status: 'PENDING',
    cycle: 0,
    attempt_count: 0,
    attempts: [],
    created_at: f.created_at,
    updated_at: f.created_at,
    expires_at: f.expires_at,
    next_attempt_at: f.created_at,
    ttl: f.ttl,
  };
}

/** Deliveries written in one transaction (at most 100 items; their markers go in a BatchWriteItem beside it). */
const CREATE_CHUNK_DELIVERIES = 50;
/** ... and well under the transaction's 4 MB (a payload is at most 300 KB compressed). */
const CREATE_CHUNK_BYTES = 3 * 1024 * 1024;

/**
 * Creates the deliveries that do not exist yet, with their expiry markers, in as few requests as
 * possible: the markers in one BatchWriteItem per 25 beside one transaction per chunk of up to 50
 * deliveries, each `attribute_not_exists` (a transaction of the deliveries alone costs DynamoDB
 * half the one with their markers did). A delivery that exists already (a repeated event) cancels
 * its chunk's transaction: it is read back and the chunk is written again without it; the marker
 * written for it beside the transaction (an expiry of its own) is deleted again, and its own marker
 * is put back if it is PENDING without one (so a fan-out that died before its markers landed is
 * repaired by its repetition). When the markers' write fails, the markers of the deliveries this
 * call created are put again one by one: the call goes on when they land, and otherwise throws only
 * after every write settled (the ingest message comes back and its repetition repairs them). Ids
 * must be distinct. Returns, per input, the item and whether this call
 * created it.
 */
export async function createDeliveries(
  inputs: NewDelivery[],
): Promise<{ created: boolean; item: DeliveryItem }[]> {
  const items = inputs.map(newDeliveryItem);
  const results: { created: boolean; item: DeliveryItem }[] = new Array(items.length);
  let chunk: number[] = [];
  let bytes = 0;
  const chunks: number[][] = [];
  items.forEach((item, i) => {
    const size = item.payload_gz.length + 2048;
    if (chunk.length && (chunk.length >= CREATE_CHUNK_DELIVERIES || bytes + size > CREATE_CHUNK_BYTES)) {
      chunks.push(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(i);
    bytes += size;
  });
  if (chunk.length) chunks.push(chunk);
  // The markers in BatchWriteItem (idempotent puts), side by side with the deliveries'
  // transactions (one round trip, not two). Both are awaited whatever either does, so that what
  // follows knows which deliveries exist.
  const [markers, ...created] = await Promise.allSettled([
    batchPut(items.map(markerOf)),
    ...chunks.map((c) => createChunk(c, items, results)),
  ]);
  const failures = [markers, ...created].filter((s) => s.status === 'rejected');
  const ours = results.filter((r) => r?.created).map((r) => r.item);
  const existing = results.filter((r) => r && !r.created);
  if (markers.status === 'rejected') {
    // The deliveries this call created must not stay without their marker (a PENDING delivery
    // with neither marker nor job is seen by no sweeper and no reconciler, should this message
    // end in the DLQ): their markers again, one conditional put each (an error here is thrown at the end).
    const again = await Promise.allSettled(ours.map((d) => putMissingMarker(d, d.created_at)));
    const still = again.filter((s) => s.status === 'rejected');
    failures.splice(failures.indexOf(markers), 1, ...still);
  }
  // Rare (a repeated event): the marker written beside the transaction for a delivery that
  // existed (its expiry is this call's, not the delivery's) is an orphan: deleted again. A
  // delivery found PENDING gets its own marker put back where it is missing (conditionally, so a
  // marker the reconciler moved keeps its place and its re-queue count). Done whatever the
  // markers' batch did.
  const orphans = items.flatMap((mine, i) => {
    const r = results[i];
    return r && !r.created && r.item.expires_at !== mine.expires_at
      ? [expiryMarkerKey(mine.expires_at, mine.id)]
      : [];
  });
  await Promise.all([
    orphans.length
      ? batchDelete(orphans).catch((err) =>
          // Left to the sweeper and the reconciler, which find no delivery of that expiry behind it.
          logger.warn('orphan expiry markers not deleted', { count: orphans.length, error: err as Error }),
        )
      : undefined,
    ...existing
      .filter((r) => r.item.status === 'PENDING')
      .map(({ item }) => putMissingMarker(item, item.next_attempt_at ?? item.created_at)),
  ]);
  if (failures.length) throw (failures[0] as PromiseRejectedResult).reason;
  return results;
}

/** Puts a delivery's expiry marker unless it exists (a marker the reconciler moved keeps its place). */
async function putMissingMarker(item: DeliveryItem, dueAt: string): Promise<void> {
  try {
    await db().send(
      new PutCommand({
        TableName: tableName(),
        Item: expiryMarker(item.id, item.expires_at, item.ttl, dueAt),
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  } catch (err) {
    if (!isConditionFailed(err)) throw err;
  }
}

/** The expiry marker of a PENDING delivery, as an item to put. */
const markerOf = (d: Pick<DeliveryItem, 'id' | 'expires_at' | 'ttl' | 'created_at'>) => ({
  ...expiryMarker(d.id, d.expires_at, d.ttl, d.created_at),
});

async function createChunk(
  chunk: number[],
  items: DeliveryItem[],
  results: { created: boolean; item: DeliveryItem }[],
): Promise<void> {
  let todo = chunk;
  while (todo.length) {
    const writes = todo.map((i) => ({
      Put: {
        TableName: tableName(),
        Item: items[i] as DeliveryItem,
        ConditionExpression: 'attribute_not_exists(pk)',
      },
    }));
    try {
      await transactWrite(writes);
      for (const i of todo) results[i] = { created: true, item: items[i] as DeliveryItem };
      return;
    } catch (err) {
      const codes = cancellationCodes(err);
      if (!codes?.includes('ConditionalCheckFailed')) throw err;
      const existing = todo.filter((_, k) => codes[k] === 'ConditionalCheckFailed');
      for (const i of existing) {
        const found = await getDelivery((items[i] as DeliveryItem).id);
        if (!found) throw err;
        results[i] = { created: false, item: found };
      }
      todo = todo.filter((i) => !existing.includes(i));
    }
  }
}

/**
 * Creates the delivery of `event` to `endpoint` unless it exists (conditional put on the
 * deterministic id, its expiry marker written beside it: see {@link createDeliveries}). Returns the
 * item and whether this call created it.
 */
export async function createDelivery(input: NewDelivery): Promise<{ created: boolean; item: DeliveryItem }> {
  const [result] = await createDeliveries([input]);
  return result as { created: boolean; item: DeliveryItem };
}

/**
 * Writes a PENDING delivery its fan-out left unwritten (see fanout.ts), with its expiry marker
 * (due now), in one transaction; nothing when the record exists.
 */
export async function writeDeliveryUnlessExists(d: DeliveryItem, now: Date): Promise<void> {
  try {
    await transactWrite([
      { Put: { TableName: tableName(), Item: d, ConditionExpression: 'attribute_not_exists(pk)' } },
      { Put: { TableName: tableName(), Item: expiryMarker(d.id, d.expires_at, d.ttl, now.toISOString()) } },
    ]);
  } catch (err) {
    if (!conditionFailedAt(err, 0)) throw err;
  }
}

/** A delivery by id (strongly consistent), or undefined. Expired records read as absent. */
export async function getDelivery(id: string, now = new Date()): Promise<DeliveryItem | undefined> {
  const out = await db().send(
    new GetCommand({ TableName: tableName(), Key: keys.webhookDelivery(id), ConsistentRead: true }),
  );
  const item = out.Item as DeliveryItem | undefined;
  if (!item || item.ttl * 1000 <= now.getTime()) return undefined;
  return item;
}

/**
 * Claims attempt `attempt` of cycle `cycle` of a delivery for this worker: only one worker at a
 * time makes an attempt, and only while the delivery is PENDING at that attempt and not past its
 * retention (duplicate and stale messages lose). Returns the claimed delivery as it now is, so
 * the worker needs no read before it, or undefined when the claim did not apply.
 */
export async function claimAttempt(
  target: { id: string; cycle: number; attempt: number },
  leaseId: string,
  now: Date,
  leaseSeconds: number,
): Promise<DeliveryItem | undefined> {
  try {
    const out = await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: keys.webhookDelivery(target.id),
        UpdateExpression: 'SET lease_id = :l, lease_until = :leaseUntil',
        ConditionExpression: `#s = :pending AND #c = :c AND attempt_count = :n AND #ttl > :now AND ${LEASE_FREE}`,
        ExpressionAttributeNames: { '#s': 'status', '#c': 'cycle', '#ttl': 'ttl' },
        ExpressionAttributeValues: {
          ':l': leaseId,
          ...leaseValues(now, leaseSeconds * 1000),
          ':pending': 'PENDING',
          ':c': target.cycle,
          ':n': target.attempt,
          ':now': Math.floor(now.getTime() / 1000),
        },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return out.Attributes as DeliveryItem;
  } catch (err) {
    if (isConditionFailed(err)) return undefined;
    throw err;
  }
}

export interface AttemptRecord {
  d: DeliveryItem;
  /** Our lease (absent when no attempt was made, e.g. an expiry before the attempt). */
  leaseId?: string;
  /** Without a lease of ours: record only while nobody holds one (the expiry sweeper). */
  requireFreeLease?: boolean;
  attempt?: StoredAttempt;
  status: DeliveryStatus;
  now: Date;
  nextAttemptAt?: string;
  error?: string;
  deadLetter?: boolean;
  /** Disables the endpoint with this reason, in the same transaction (410). */
  disableEndpoint?: string;
  /** The endpoint's `consecutive_failures` as last read, if known (saves a retry of the transaction). */
  knownStreak?: number;
  /** No record exists yet (its fan-out wrote none): this outcome creates it (see recordAttempt). */
  create?: boolean;
}

/** What a recorded terminal outcome did to its endpoint. */
export interface RecordedOutcome {
  /** Set when this outcome disabled the endpoint (410, or the failure streak reached the limit). */
  disabled?: string;
  /** The time the disable was written with (an endpoint disabled earlier keeps its own `disabled_at`). */
  disabledAt?: string;
}

/** Tries of the terminal transaction when the endpoint's failure streak moved in between. */
const STREAK_RACE_TRIES = 5;

/**
 * Records an attempt and the delivery's new state, conditional on the delivery still being at
 * that attempt (and on our lease). A retry and a success are that one conditional write (a
 * success's marker delete, counters and endpoint stats follow it, idempotent, outside any
 * transaction: see recordSuccessStats). A failed or expired outcome, in one transaction: updates the endpoint's
 * stats (unless the endpoint is gone), disables the endpoint when it answered 410 or when this
 * failure makes `WEBHOOK_DISABLE_AFTER_CONSECUTIVE_FAILURES` in a row (so a crash cannot record
 * the failure but lose the disable), and deletes the delivery's expiry marker. Returns what
 * happened to the endpoint, or `false` when the delivery moved on meanwhile (a duplicate lost).
 *
 * With `create` (the first attempt of a delivery whose fan-out wrote no record, see fanout.ts),
 * the same outcome creates the record instead: one conditional PutItem of the whole item
 * (`attribute_not_exists`) in place of the update, with no marker to delete (none was written; a
 * retry puts its marker beside it). When a record exists after all (a copy of the job, or the
 * fan-out of a redelivered event, wrote it first), the outcome is recorded on it as above.
 */
export async function recordAttempt(r: AttemptRecord): Promise<RecordedOutcome | false> {
  const { d, now } = r;
  const at = now.toISOString();
  const attempts = r.attempt
    ? keptAttempts([...(d.attempts ?? []), r.attempt], d.payload_gz?.length ?? 0)
    : (d.attempts ?? []);
  const terminal = r.status !== 'PENDING';
  // The fields this outcome sets and removes (the update's, and the created item's).
  const set: Record<string, unknown> = { status: r.status, attempts, updated_at: at };
  const remove = ['lease_id', 'lease_until'];
  if (r.attempt) set.attempt_count = d.attempt_count + 1;
  if (r.nextAttemptAt) set.next_attempt_at = r.nextAttemptAt;
  else remove.push('next_attempt_at');
  if (terminal) set.finished_at = at;
  if (r.attempt?.status !== undefined) set.last_response_status = r.attempt.status;
  const error = r.error ?? r.attempt?.error;
  if (error) set.last_error = error.slice(0, 500);
  else remove.push('last_error');
  if (r.deadLetter) set.dead_letter = true;

  const expression = updateExpression({ set, remove });
  let condition = '#st = :pending AND #cy = :c AND attempt_count = :n';
  const values: Record<string, unknown> = {
    ...expression.ExpressionAttributeValues,
    ':pending': 'PENDING',
    ':c': d.cycle,
    ':n': d.attempt_count,
  };
  if (r.leaseId) {
    condition += ' AND lease_id = :lease';
    values[':lease'] = r.leaseId;
  } else if (r.requireFreeLease) {
    condition += ` AND ${LEASE_FREE}`;
    Object.assign(values, leaseValues(now));
  }
  const deliveryUpdate = {
    TableName: tableName(),
    Key: keys.webhookDelivery(d.id),
    UpdateExpression: expression.UpdateExpression,
    ConditionExpression: condition,
    ExpressionAttributeNames: { ...expression.ExpressionAttributeNames, '#st': 'status', '#cy': 'cycle' },
    ExpressionAttributeValues: values,
  };
  let deliveryWrite: TransactItem = { Update: deliveryUpdate };
  if (r.create) {
    const item: Record<string, unknown> = { ...d, ...set };
    for (const name of remove) delete item[name];
    deliveryWrite = {
      Put: { TableName: tableName(), Item: item, ConditionExpression: 'attribute_not_exists(pk)' },
    };
  }
  const marker = expiryMarkerKey(d.expires_at, d.id);

  if (!terminal || r.status === 'DELIVERED') {
    try {
      if (r.create && !terminal) {
        // A retry's delivery is PENDING: its marker (W6, W7) lands first, so a PENDING record
        // never exists without one (a marker whose record never lands is dropped by the sweeper).
        await db().send(
          new PutCommand({ TableName: tableName(), Item: expiryMarker(d.id, d.expires_at, d.ttl, at) }),
        );
      }
      if (deliveryWrite.Put) await db().send(new PutCommand(deliveryWrite.Put));
      else await db().send(new UpdateCommand(deliveryUpdate));
    } catch (err) {
      if (!isConditionFailed(err)) throw err;
      return r.create ? recordAttempt({ ...r, create: false }) : false;
    }
    if (!terminal) {
      await countOutcome(d, 'PENDING'); // a first attempt's retry enters PENDING
      return {};
    }
    // DELIVERED: the record above is the outcome; what follows is bookkeeping, idempotent and
    // written apart (no transaction on the success path): the expiry marker's delete, batched
    // with other records' (a crash before it leaves the marker to the sweeper and the
    // reconciler, which drop markers of finished deliveries), the status counters, and the
    // endpoint's stats (see recordSuccessStats). A created record had no marker.
    await Promise.all([
      r.create ? undefined : deleteMarkerSoon(marker),
      countOutcome(d, r.status),
      recordSuccessStats(d.workspace_id, d.endpoint_id, at, r.knownStreak),
    ]);
    return {};
  }
  const markerDelete: TransactItem[] = r.create ? [] : [{ Delete: { TableName: tableName(), Key: marker } }];
  const endpointKey = keys.webhookEndpoint(d.workspace_id, d.endpoint_id);
  let known = r.knownStreak;
  for (let i = 0; i < STREAK_RACE_TRIES; i++) {
    const change = endpointChange(r, at, known);
    try {
      await transactWrite([
        deliveryWrite,
        { Update: { TableName: tableName(), Key: endpointKey, ...change.update } },
        ...markerDelete,
      ]);
      // The streak is above 0 now: this process's next success writes its stats at once.
      forgetStatsWrite(d.workspace_id, d.endpoint_id);
      await countOutcome(d, r.status);
      if (change.disabled) await syncEndpointCount(d.workspace_id, d.endpoint_id, false);
      return change.disabled ? { disabled: change.disabled, disabledAt: at } : {};
    } catch (err) {
      if (conditionFailedAt(err, 0)) return r.create ? recordAttempt({ ...r, create: false }) : false;
      if (!conditionFailedAt(err, 1)) throw err;
    }
    // The endpoint is gone, or its failure streak is not what this try assumed: read it again.
    const ep = await db().send(
      new GetCommand({
        TableName: tableName(),
        Key: endpointKey,
        ProjectionExpression: 'consecutive_failures',
        ConsistentRead: true,
      }),
    );
    if (!ep.Item) {
      // The endpoint was deleted meanwhile: record the outcome without stats (a record the fan-out
      // did not write is not created for a deleted endpoint).
      if (r.create) return false;
      try {
        await transactWrite([deliveryWrite, ...markerDelete]);
        await countOutcome(d, r.status);
        return {};
      } catch (inner) {
        if (isTransactionCanceled(inner)) return false;
        throw inner;
      }
    }
    known = (ep.Item.consecutive_failures as number | undefined) ?? 0;
  }
  throw new Error(`The failure streak of endpoint ${d.endpoint_id} kept changing; retry later`);
}

/**
 * How often a process writes an endpoint's stats for its successes: the first success after a
 * quiet spell writes them at once, later ones within this interval write nothing (the endpoint's
 * `last_delivery_at` then lags by at most this long), unless the failure streak may be above 0.
 */
export const SUCCESS_STATS_INTERVAL_MS = 1000;
/** Per endpoint: when this process last wrote a success's stats (set once the write succeeded). */
const statsWrittenAt = new Map<string, number>();
/** Per endpoint: a stats write of this process in flight. */
const statsInFlight = new Set<string>();
let statsIntervalMs = SUCCESS_STATS_INTERVAL_MS;
const statsKey = (workspaceId: string, endpointId: string) => `${workspaceId}\n${endpointId}`;
/** A failure recorded in this process: the next success writes its stats whatever the interval. */
const forgetStatsWrite = (workspaceId: string, endpointId: string) => {
  statsWrittenAt.delete(statsKey(workspaceId, endpointId));
  // A write in flight may land before the failure: the next success writes its own.
  statsInFlight.delete(statsKey(workspaceId, endpointId));
};

/**
 * The endpoint's side of a success, outside the record's write: `last_delivery_at` /
 * `last_delivery_status` and the failure streak reset to 0. Written at once when the streak may
 * be above 0 (`knownStreak` unknown or positive: the job's snapshot or the endpoint as read), else
 * at most once per {@link SUCCESS_STATS_INTERVAL_MS} per endpoint and process, counted from the
 * last write that succeeded; a failure recorded by this process ends that interval (its streak is
 * above 0, whatever a snapshot of the endpoint says), so within one process a failure is never
 * followed by a success whose reset is skipped. Failures keep their transaction (the streak and
 * the disable must move with the record).
 *
 * The write never moves `last_delivery_at` back. When a later outcome is recorded already (its
 * time is after this success's), this success cannot say how the endpoint ended, only that the
 * failures counted before it are no longer consecutive: in time order the streak is then the
 * failures recorded after this success's time, which is one in all but a race of several failures
 * within this write's few ms. So the streak is capped at 1 (if the latest outcome is a failure);
 * the error in that rare race is on the side of not disabling an endpoint that succeeds. A disable
 * already written by such a failure is not undone (it cannot tell a streak disable decided on a
 * count that included this success's predecessors from a true one; the endpoint is re-enabled by
 * its owner). Nothing is written on a deleted endpoint.
 *
 * What this costs: a failure recorded by another process within the interval after a skipped
 * success is counted in a streak this success should have reset, until the next stats write (at
 * most the interval later); a crash between the record and this write loses the stats of that
 * success (never the record).
 */
async function recordSuccessStats(
  workspaceId: string,
  endpointId: string,
  at: string,
  knownStreak: number | undefined,
): Promise<void> {
  const key = statsKey(workspaceId, endpointId);
  const last = statsWrittenAt.get(key);
  // Skipped while the streak is 0 and a write is in flight or was made within the interval
  // (the successes of one batch record side by side: one of them writes).
  if (
    knownStreak === 0 &&
    (statsInFlight.has(key) || (last !== undefined && Date.now() - last < statsIntervalMs))
  )
    return;
  const endpointKey = keys.webhookEndpoint(workspaceId, endpointId);
  statsInFlight.add(key);
  try {
    await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: endpointKey,
        UpdateExpression:
          'SET last_delivery_at = :u, last_delivery_status = :s, consecutive_failures = :zero',
        ConditionExpression:
          'attribute_exists(pk) AND (attribute_not_exists(last_delivery_at) OR last_delivery_at <= :u)',
        ExpressionAttributeValues: { ':u': at, ':s': 'DELIVERED', ':zero': 0 },
      }),
    );
    if (statsWrittenAt.size > 5000) statsWrittenAt.clear();
    statsWrittenAt.set(key, Date.now());
  } catch (err) {
    if (!isConditionFailed(err)) {
      logger.warn('webhook endpoint stats not written', { endpoint_id: endpointId, error: err as Error });
      return;
    }
    // Deleted, or a later outcome is recorded already: a failure after this success starts the
    // streak again, so what was counted before this success goes (see above).
    await db()
      .send(
        new UpdateCommand({
          TableName: tableName(),
          Key: endpointKey,
          UpdateExpression: 'SET consecutive_failures = :one',
          ConditionExpression:
            'attribute_exists(pk) AND last_delivery_at > :u AND last_delivery_status <> :s AND consecutive_failures > :one',
          ExpressionAttributeValues: { ':u': at, ':s': 'DELIVERED', ':one': 1 },
        }),
      )
      .catch((inner) => {
        if (!isConditionFailed(inner))
          logger.warn('webhook endpoint streak not capped', {
            endpoint_id: endpointId,
            error: inner as Error,
          });
      });
  } finally {
    statsInFlight.delete(key);
  }
}

/** Forgets when endpoint stats were written, and sets the interval (tests). */
export function resetSuccessStats(intervalMs = SUCCESS_STATS_INTERVAL_MS): void {
  statsWrittenAt.clear();
  statsIntervalMs = intervalMs;
}

/** Marker deletes waiting for their batch, and the timer that writes it. */
let markerDeletes: { key: { pk: string; sk: string }; done: () => void }[] = [];
let markerTimer: NodeJS.Timeout | undefined;
/** How long a marker delete waits for others to share its BatchWriteItem. */
export const MARKER_DELETE_WINDOW_MS = 10;

/** The marker deletes of a worker batch, written once it is done (see {@link withDeliveryBatch}). */
const batchScope = new AsyncLocalStorage<{ pk: string; sk: string }[]>();

/**
 * Runs a delivery worker's batch with the expiry-marker deletes of its successes held back and
 * written at its end, in one BatchWriteItem per 25 (awaited before the batch returns, so nothing
 * is left for a frozen Lambda). A batch that dies before the end leaves its markers to the
 * sweeper and the reconciler, which drop markers of finished deliveries.
 */
export async function withDeliveryBatch<T>(fn: () => Promise<T>): Promise<T> {
  const held: { pk: string; sk: string }[] = [];
  try {
    return await batchScope.run(held, fn);
  } finally {
    if (held.length) {
      await batchDelete(held).catch((err) =>
        logger.warn('expiry markers not deleted', { count: held.length, error: err as Error }),
      );
    }
  }
}

/**
 * Deletes an expiry marker: at the end of the worker batch it is part of, or else together with
 * the other records' of the next few ms (one BatchWriteItem for up to 25), resolving once
 * written. Never throws: a marker left behind is dropped by the sweeper or the reconciler, which
 * read its delivery as finished.
 */
function deleteMarkerSoon(key: { pk: string; sk: string }): Promise<void> {
  const held = batchScope.getStore();
  if (held) {
    held.push(key);
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    markerDeletes.push({ key, done: resolve });
    if (markerDeletes.length >= 25) flushMarkerDeletes();
    else markerTimer ??= setTimeout(flushMarkerDeletes, MARKER_DELETE_WINDOW_MS);
  });
}

function flushMarkerDeletes(): void {
  if (markerTimer) clearTimeout(markerTimer);
  markerTimer = undefined;
  const batch = markerDeletes;
  markerDeletes = [];
  if (!batch.length) return;
  batchDelete(batch.map((b) => b.key))
    .catch((err) => logger.warn('expiry markers not deleted', { count: batch.length, error: err as Error }))
    .finally(() => {
      for (const b of batch) b.done();
    });
}

/**
 * The endpoint's side of a terminal outcome. Success resets the streak. A failure adds one to it
 * and, on 410 or when the streak reaches the limit, disables the endpoint (keeping the reason and
 * time of an endpoint already disabled). The condition pins the streak the decision was made on:
 * exactly `known` when known, otherwise "below the limit by more than one" (no disable due).
 */
function endpointChange(r: AttemptRecord, at: string, known: number | undefined) {
  if (r.status === 'DELIVERED') {
    return {
      disabled: undefined,
      update: {
        UpdateExpression:
          'SET last_delivery_at = :u, last_delivery_status = :s, consecutive_failures = :zero',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':u': at, ':s': r.status, ':zero': 0 },
      },
    };
  }
  const limit = config().WEBHOOK_DISABLE_AFTER_CONSECUTIVE_FAILURES;
  const values: Record<string, unknown> = { ':u': at, ':s': r.status, ':one': 1 };
  let condition = 'attribute_exists(pk)';
  let disabled = r.disableEndpoint;
  if (!disabled) {
    if (known === undefined) {
      condition += ' AND (attribute_not_exists(consecutive_failures) OR consecutive_failures < :below)';
      values[':below'] = limit - 1;
    } else {
      condition +=
        known === 0
          ? ' AND (attribute_not_exists(consecutive_failures) OR consecutive_failures = :old)'
          : ' AND consecutive_failures = :old';
      values[':old'] = known;
      if (known + 1 >= limit) disabled = `Disabled after ${known + 1} consecutive failed deliveries`;
    }
  }
  let set = 'SET last_delivery_at = :u, last_delivery_status = :s';
  if (disabled) {
    set +=
      ', active = :off, disabled_reason = if_not_exists(disabled_reason, :r), disabled_at = if_not_exists(disabled_at, :u), updated_at = :u';
    values[':off'] = false;
    values[':r'] = disabled;
  }
  return {
    disabled,
    update: {
      UpdateExpression: `${set} ADD consecutive_failures :one`,
      ConditionExpression: condition,
      ExpressionAttributeValues: values,
    },
  };
}

/**
 * Starts a new cycle for a finished delivery (redeliver, recover, DLQ redrive): PENDING again,
 * attempts counted from zero, a fresh expiry (and its expiry marker, in the same transaction).
 * Conditional on the delivery still being finished in `cycle`, so repeating a restart does
 * nothing. Returns false when it did not apply.
 */
export async function restartDelivery(
  d: Pick<DeliveryItem, 'id' | 'cycle' | 'status' | 'workspace_id' | 'created_at'>,
  now: Date,
): Promise<boolean> {
  if (d.status === 'PENDING') return false; // read before it finished: nothing to restart yet
  const at = now.toISOString();
  const expiresAt = new Date(now.getTime() + deliveryTtlMs()).toISOString();
  const ttl = ttlIn(retentionSeconds(), now.getTime());
  try {
    await transactWrite([
      {
        Update: {
          TableName: tableName(),
          Key: keys.webhookDelivery(d.id),
          UpdateExpression:
            'SET #s = :pending, #c = :next, attempt_count = :zero, updated_at = :u, next_attempt_at = :u, expires_at = :exp, #ttl = :ttl REMOVE finished_at, dead_letter, lease_id, lease_until',
          // The status read is pinned (a finished cycle's status never changes): the count moves from it.
          ConditionExpression: '#c = :c AND #s = :was',
          ExpressionAttributeNames: { '#s': 'status', '#c': 'cycle', '#ttl': 'ttl' },
          ExpressionAttributeValues: {
            ':pending': 'PENDING',
            ':next': d.cycle + 1,
            ':zero': 0,
            ':u': at,
            ':exp': expiresAt,
            ':ttl': ttl,
            ':c': d.cycle,
            ':was': d.status,
          },
        },
      },
      { Put: { TableName: tableName(), Item: expiryMarker(d.id, expiresAt, ttl, at) } },
    ]);
    await addCounters(d.workspace_id, [
      deliveryCount(d.created_at, d.status, -1),
      deliveryCount(d.created_at, 'PENDING', 1),
    ]);
    return true;
  } catch (err) {
    if (conditionFailedAt(err, 0)) return false;
    throw err;
  }
}

/**
 * Whether a delivery is in the status counters yet: from its first recorded outcome on (an
 * attempt or a settlement without one, see {@link countOutcome}); a restart keeps it counted.
 */
const isCounted = (d: Pick<DeliveryItem, 'cycle' | 'attempt_count'>) => d.cycle > 0 || d.attempt_count > 0;

/**
 * Counts the outcome just recorded for a delivery (after its conditional write succeeded):
 * moves it from PENDING to `status`, or, at its first record, enters it in `status` (PENDING for
 * a retry). A delivery waiting for its first attempt is not counted: the fan-out writes no
 * counter, which saves two writes a batch on the success path (deliveries_24h then shows PENDING
 * as the deliveries awaiting a retry).
 */
async function countOutcome(d: DeliveryItem, status: DeliveryStatus): Promise<void> {
  const counted = isCounted(d);
  if (status === 'PENDING' && counted) return;
  await addCounters(d.workspace_id, [
    ...(counted ? [deliveryCount(d.created_at, 'PENDING', -1)] : []),
    deliveryCount(d.created_at, status, 1),
  ]);
}

/** Logs an endpoint disabled by a recorded outcome (the disable itself is in the record's transaction). */
export function logDisabled(d: Pick<DeliveryItem, 'endpoint_id'>, done: RecordedOutcome): void {
  if (done.disabled)
    logger.warn('webhook endpoint disabled', { endpoint_id: d.endpoint_id, reason: done.disabled });
}
