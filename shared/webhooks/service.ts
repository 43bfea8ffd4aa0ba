import { ConflictError, NotFoundError } from '#shared/errors.ts';
import { newId } from '#shared/ids.ts';
import { PING_EVENT } from './catalog.ts';
import { compressPayload, payloadOf, payloadText } from './delivery-payload.ts';
import { createDelivery, type DeliveryItem, getDelivery } from './delivery-store.ts';
import { attemptViews, toSummary } from './delivery-views.ts';
import { getEndpoint } from './endpoints.ts';
import { enqueueJobs, restartAndSchedule } from './jobs.ts';
import type { DeliverySummary } from './schemas.ts';

/** A delivery of an endpoint of the workspace; 404 for anything else (other endpoint, other workspace). */
export async function deliveryOf(workspaceId: string, endpointId: string, id: string): Promise<DeliveryItem> {
  const d = await getDelivery(id);
  if (!d || d.workspace_id !== workspaceId || d.endpoint_id !== endpointId) {
    throw new NotFoundError(`Delivery ${id} was not found.`);
  }
  return d;
}

/**
 * A delivery with its payload (once: every attempt POSTs it) and its latest attempts (request
 * headers, bounded response, duration, error). Bounded whatever the history: the payload is at
 * most an ingest message, the attempts at most MAX_ATTEMPTS_SHOWN (20) with bounded answers.
 */
export async function deliveryDetail(workspaceId: string, endpointId: string, id: string) {
  const d = await deliveryOf(workspaceId, endpointId, id);
  return { ...toSummary(d), payload: payloadText(d), attempts: attemptViews(d) };
}

/** Sends a `ping` event to the endpoint (even a disabled one, to check it before re-enabling). */
export async function sendPing(
  workspaceId: string,
  endpointId: string,
  now = new Date(),
): Promise<DeliverySummary> {
  const endpoint = await getEndpoint(workspaceId, endpointId);
  const event = {
    id: newId('evt', now.getTime()),
    type: PING_EVENT,
    workspace_id: workspaceId,
    occurred_at: now.toISOString(),
    data: { endpoint_id: endpoint.id, message: 'Ping from PronaFlow' },
  };
  const { item } = await createDelivery({
    event,
    endpoint,
    payloadGz: compressPayload(payloadOf(event)),
    now,
  });
  await enqueueJobs([{ kind: 'deliver', delivery_id: item.id, cycle: 0, attempt: 0 }]);
  return toSummary(item);
}

/** Sends a finished delivery again, as a new cycle with the same webhook-id (409 while pending or when disabled). */
export async function redeliver(
  workspaceId: string,
  endpointId: string,
  id: string,
  now = new Date(),
): Promise<DeliverySummary> {
  const endpoint = await getEndpoint(workspaceId, endpointId);
  const d = await deliveryOf(workspaceId, endpointId, id);
  if (!endpoint.active)
    throw new ConflictError('The endpoint is disabled; re-enable it first (PATCH active: true).');
  if (d.status === 'PENDING') throw new ConflictError('The delivery is still in progress.');
  if (!(await restartAndSchedule(d, now))) throw new ConflictError('The delivery was restarted meanwhile.');
  return toSummary((await getDelivery(id, now)) as DeliveryItem);
}

/** Accepts a recover request: a background job re-sends every FAILED/EXPIRED delivery in [since, until). */
export async function startRecover(
  workspaceId: string,
  endpointId: string,
  range: { since: string; until?: string },
  now = new Date(),
) {
  const endpoint = await getEndpoint(workspaceId, endpointId);
  if (!endpoint.active)
    throw new ConflictError('The endpoint is disabled; re-enable it first (PATCH active: true).');
  const since = new Date(range.since).toISOString();
  const until = new Date(range.until ?? now).toISOString();
  await enqueueJobs([{ kind: 'recover', workspace_id: workspaceId, endpoint_id: endpointId, since, until }]);
  return { endpoint_id: endpointId, since, until, status: 'accepted' as const };
}
