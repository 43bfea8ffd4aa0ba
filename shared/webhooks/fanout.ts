import type { EventConsumer } from '#shared/events/consumers.ts';
import type { PronaFlowEvent } from '#shared/events/envelope.ts';
import { recordRejection } from '#shared/events/rejections.ts';
import { isKnownEventType, PING_EVENT } from './catalog.ts';
import { compressPayload, MAX_STORED_PAYLOAD_BYTES, payloadOf } from './delivery-payload.ts';
import {
  createDeliveries,
  type DeliveryItem,
  deliveryId,
  type NewDelivery,
  newDeliveryItem,
} from './delivery-store.ts';
import { activeEndpoints, type EndpointItem, noteUnwrittenJobs } from './endpoints.ts';
import { type DeliverJob, type EndpointSnapshot, enqueueJobs } from './jobs.ts';
import { isAboutEndpoint } from './operational-events.ts';

/**
 * A repeated event re-sends the first job of a delivery not attempted yet only when the delivery
 * is older than this: then the first fan-out may have died between the record and the job (its
 * message comes back after the ingest queue's visibility timeout, 180 s). A younger one is a
 * duplicate message handled side by side with the first, whose job is on its way: sending a second
 * one would make two lease-free first attempts, i.e. two POSTs. Should the rule ever be wrong, the
 * reconciler re-queues the job of a delivery that stopped moving (W7).
 */
export const RESEND_FIRST_JOB_AFTER_MS = 60_000;
/**
 * How long the job of a delivery a redelivered ingest message created waits before its attempt
 * (its `not_before`): time for a job the first run may have sent to make the attempt first.
 */
export const REDELIVERED_FIRST_JOB_AFTER_MS = 60_000;
/** A fresh job carries the payload (its first attempt then reads nothing) up to this compressed size. */
export const FRESH_PAYLOAD_MAX_BYTES = 48 * 1024;

type FanOutResult = { deliveries: number; jobs: number };
interface Pending {
  event: PronaFlowEvent;
  now: Date;
  /** The ingest message was handed out before (a failure, a crash): see {@link fanOut}. */
  redelivered: boolean;
  resolve: (r: FanOutResult) => void;
  reject: (err: unknown) => void;
}

let pending: Pending[] = [];

/**
 * Fan-out of one PronaFlow event: one delivery per active subscribed endpoint (its id is
 * deterministic on event id + endpoint id) and a delivery job each.
 *
 * The common case writes nothing to the table: a job whose payload it can carry (at most
 * {@link FRESH_PAYLOAD_MAX_BYTES} compressed) carries the whole delivery (`fresh`, `written:
 * false`), and its first outcome creates the record with one conditional PutItem (see
 * recordAttempt). The delivery is on the deliveries queue until then, which SQS keeps (redrive
 * to the DLQ included); a job handed out again writes the record before it claims the attempt
 * (see the worker's prepareAttempt), so a delivery whose first attempts keep failing is found by
 * the sweeper and the reconciler like any other. What this trades: a delivery shows in the API
 * from its first outcome on (the first attempt's duration, normally well under a second), and a
 * duplicate of the event handed out side by side with the first (both for the first time, an
 * event source's repeated send) POSTs twice with the same `webhook-id`, recorded once.
 *
 * A redelivered ingest message (`redelivered`: handed out before, after a failure or a crash)
 * and larger payloads go the other way: the deliveries are created first, idempotently (a
 * repeated event creates nothing twice and sends no second job for a delivery that exists; see
 * {@link RESEND_FIRST_JOB_AFTER_MS} for the jobs it re-sends), then their jobs are sent.
 *
 * The events of one ingest batch (its records run side by side) are fanned out together: calls
 * made in the same turn of the event loop join one flush, which reads each workspace's endpoints
 * once (W1), writes what must be written in as few transactions as fit, and sends the jobs in
 * batches of 10. Each call still settles on its own event's outcome.
 */
export function fanOut(
  event: PronaFlowEvent,
  now = new Date(),
  opts: { redelivered?: boolean } = {},
): Promise<FanOutResult> {
  return new Promise((resolve, reject) => {
    pending.push({ event, now, redelivered: opts.redelivered ?? false, resolve, reject });
    if (pending.length === 1) setImmediate(flush);
  });
}

function flush(): void {
  const batch = pending;
  pending = [];
  fanOutAll(batch).catch((err) => {
    for (const p of batch) p.reject(err);
  });
}

/** The snapshot of an endpoint a fan-out job carries. */
function snapshotOf(e: EndpointItem, readAt: Date): EndpointSnapshot {
  return {
    id: e.id,
    workspace_id: e.workspace_id,
    url: e.url,
    retry_policy: e.retry_policy,
    active: e.active,
    secret_sealed: e.secret_sealed,
    previous_secret_sealed: e.previous_secret_sealed,
    previous_secret_expires_at: e.previous_secret_expires_at,
    consecutive_failures: e.consecutive_failures ?? 0,
    read_at: readAt.toISOString(),
  };
}

/** A delivery to create: what it is made of, its endpoint, and the payload a fresh job may carry. */
interface Planned {
  input: NewDelivery;
  endpoint: EndpointItem;
  payloadB64?: string;
  /** Planned for a redelivered ingest message (see {@link REDELIVERED_FIRST_JOB_AFTER_MS}). */
  redelivered?: boolean;
}

async function fanOutAll(batch: Pending[]): Promise<void> {
  const workspaces = [...new Set(batch.map((p) => p.event.workspace_id))];
  const readAt = new Date();
  const endpointsOf = new Map(
    await Promise.all(workspaces.map(async (ws) => [ws, await activeEndpoints(ws)] as const)),
  );
  // Each event's deliveries; a delivery id met twice (the same event twice in one batch) is planned once.
  const plans: { p: Pending; deliveries: Planned[] }[] = [];
  const seen = new Set<string>();
  // An event of which any copy in this batch was handed out before is planned as redelivered.
  const redelivered = new Set(batch.filter((p) => p.redelivered).map((p) => p.event.id));
  const toCreate: Planned[] = [];
  const toSend: Planned[] = [];
  for (const p of batch) {
    const { event, now } = p;
    // An event about an endpoint being disabled never goes to that endpoint (it just failed).
    const endpoints = (endpointsOf.get(event.workspace_id) ?? []).filter(
      (e) => e.event_types.includes(event.type) && !isAboutEndpoint(event, e.id),
    );
    if (!endpoints.length) {
      p.resolve({ deliveries: 0, jobs: 0 });
      continue;
    }
    const payloadGz = compressPayload(payloadOf(event));
    if (payloadGz.length > MAX_STORED_PAYLOAD_BYTES) {
      recordRejection({
        messageId: `webhooks:${event.id}`,
        reason: `Event payload is ${payloadGz.length} bytes compressed; webhook deliveries store at most ${MAX_STORED_PAYLOAD_BYTES}`,
        eventId: event.id,
        workspaceId: event.workspace_id,
        sizeBytes: payloadGz.length,
        now,
      }).then(() => p.resolve({ deliveries: 0, jobs: 0 }), p.reject);
      continue;
    }
    const payloadB64 =
      payloadGz.length <= FRESH_PAYLOAD_MAX_BYTES ? Buffer.from(payloadGz).toString('base64') : undefined;
    const deliveries = endpoints.map((endpoint) => ({
      input: { event, endpoint, payloadGz, now },
      endpoint,
      payloadB64,
    }));
    plans.push({ p, deliveries });
    for (const d of deliveries) {
      const key = deliveryId(event.id, d.endpoint.id);
      if (seen.has(key)) continue;
      seen.add(key);
      // The common case writes nothing: the job carries the delivery, its first outcome writes it.
      const again = redelivered.has(event.id);
      if (d.payloadB64 && !again) toSend.push(d);
      else toCreate.push(again ? { ...d, redelivered: true } : d);
    }
  }
  if (!toCreate.length && !toSend.length) return;

  // The deliveries to write first, and beside them (right after the read, before any job goes
  // out) the endpoints' note of the unwritten ones' jobs (a workspace deletion waits for them).
  let created: { created: boolean; item: DeliveryItem }[];
  try {
    [created] = await Promise.all([
      toCreate.length ? createDeliveries(toCreate.map((d) => d.input)) : [],
      toSend.length
        ? noteUnwrittenJobs([...new Map(toSend.map((d) => [d.endpoint.id, d.endpoint])).values()], readAt)
        : undefined,
    ]);
  } catch (err) {
    for (const { p } of plans) p.reject(err);
    return;
  }
  const jobs: DeliverJob[] = [];
  /**
   * The first attempt's job of a delivery: with the delivery it carries (`fresh`) when the payload
   * fits, marked `written: false` when this fan-out did not write it; `claim` sends none (the job
   * claims its attempt).
   */
  const firstJob = (
    item: DeliveryItem,
    d: Planned,
    carry: 'written' | 'unwritten' | 'claim',
  ): DeliverJob => ({
    kind: 'deliver',
    delivery_id: item.id,
    cycle: 0,
    attempt: 0,
    endpoint_id: item.endpoint_id,
    endpoint: snapshotOf(d.endpoint, readAt),
    fresh:
      d.payloadB64 && carry !== 'claim'
        ? {
            workspace_id: item.workspace_id,
            endpoint_id: item.endpoint_id,
            event_id: item.event_id,
            event_type: item.event_type,
            created_at: item.created_at,
            expires_at: item.expires_at,
            ttl: item.ttl,
            payload_gz: d.payloadB64,
            ...(carry === 'unwritten' ? { written: false as const } : {}),
          }
        : undefined,
  });
  for (const d of toSend) jobs.push(firstJob(newDeliveryItem(d.input), d, 'unwritten'));
  created.forEach(({ created: isNew, item }, i) => {
    const d = toCreate[i];
    if (!d) return;
    if (isNew) {
      // A redelivered event's new delivery: the first run may have sent its job already, still
      // queued (its first outcome then records on this record): this one claims its attempt (no
      // `fresh`) and looks later, finding the attempt made (no second POST), or making it when the
      // first run died before its jobs.
      const job = firstJob(item, d, d.redelivered ? 'claim' : 'written');
      if (d.redelivered)
        job.not_before = new Date(readAt.getTime() + REDELIVERED_FIRST_JOB_AFTER_MS).toISOString();
      jobs.push(job);
    } else if (
      item.status === 'PENDING' &&
      item.cycle === 0 &&
      item.attempt_count === 0 &&
      readAt.getTime() - Date.parse(item.created_at) >= RESEND_FIRST_JOB_AFTER_MS
    ) {
      // No `fresh`: this job claims its attempt (another copy may be on its way after all).
      jobs.push(firstJob(item, d, 'claim'));
    }
  });
  try {
    await enqueueJobs(jobs);
  } catch (err) {
    for (const { p } of plans) p.reject(err);
    return;
  }
  const jobIds = new Set(jobs.map((j) => j.delivery_id));
  for (const { p, deliveries } of plans) {
    const ids = deliveries.map((d) => deliveryId(d.input.event.id, d.endpoint.id));
    p.resolve({ deliveries: ids.length, jobs: ids.filter((id) => jobIds.has(id)).length });
  }
}

/**
 * The webhooks consumer of the ingest queue: every type of the event catalog (endpoints can only
 * subscribe to those) but `ping`, which only the test endpoint sends.
 */
export const webhooksConsumer: EventConsumer = {
  name: 'webhooks',
  accepts: (type) => type !== PING_EVENT && isKnownEventType(type),
  handle: async (event, meta) => {
    await fanOut(event, new Date(), { redelivered: meta.receiveCount > 1 });
  },
};
