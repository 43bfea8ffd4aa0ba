import type { EventConsumer } from '#shared/events/consumers.ts';
import type { PronaFlowEvent } from '#shared/events/envelope.ts';
import { recordRejection } from '#shared/events/rejections.ts';
import { isKnownEventType, PING_EVENT } from './catalog.ts';
import { compressPayload, MAX_STORED_PAYLOAD_BYTES, payloadOf } from './delivery-payload.ts';
import { createDelivery } from './delivery-store.ts';
import { subscribedEndpoints } from './endpoints.ts';
import { type DeliverJob, enqueueJobs } from './jobs.ts';

/**
 * Fan-out of one PronaFlow event: one delivery per active subscribed endpoint (idempotent on
 * event id + endpoint id) and a delivery job each. Repeating it (SQS duplicates, retries after
 * a crash) creates nothing twice; it re-sends the first job of deliveries not attempted yet,
 * since a crash may have come between the record and the job (the worker drops extra copies).
 */
export async function fanOut(
  event: PronaFlowEvent,
  now = new Date(),
): Promise<{ deliveries: number; jobs: number }> {
  const endpoints = await subscribedEndpoints(event.workspace_id, event.type);
  if (!endpoints.length) return { deliveries: 0, jobs: 0 };
  const payloadGz = compressPayload(payloadOf(event));
  if (payloadGz.length > MAX_STORED_PAYLOAD_BYTES) {
    await recordRejection({
      messageId: `webhooks:${event.id}`,
      reason: `Event payload is ${payloadGz.length} bytes compressed; webhook deliveries store at most ${MAX_STORED_PAYLOAD_BYTES}`,
      eventId: event.id,
      workspaceId: event.workspace_id,
      sizeBytes: payloadGz.length,
      now,
    });
    return { deliveries: 0, jobs: 0 };
  }
  const results = await Promise.all(
    endpoints.map((endpoint) => createDelivery({ event, endpoint, payloadGz, now })),
  );
  const jobs: DeliverJob[] = results
    .filter(
      ({ created, item }) =>
        created || (item.status === 'PENDING' && item.cycle === 0 && item.attempt_count === 0),
    )
    .map(({ item }) => ({ kind: 'deliver', delivery_id: item.id, cycle: 0, attempt: 0 }));
  await enqueueJobs(jobs);
  return { deliveries: results.length, jobs: jobs.length };
}

/**
 * The webhooks consumer of the ingest queue: every type of the event catalog (endpoints can only
 * subscribe to those) but `ping`, which only the test endpoint sends.
 */
export const webhooksConsumer: EventConsumer = {
  name: 'webhooks',
  accepts: (type) => type !== PING_EVENT && isKnownEventType(type),
  handle: async (event) => {
    await fanOut(event);
  },
};
