/**
 * The stored payload of a webhook delivery: the JSON body POSTed to endpoints, built once per event
 * by the fan-out (and the ping), stored gzipped on the delivery, read back by the worker's send
 * stage and by the delivery detail view.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import type { PronaFlowEvent } from '#shared/events/envelope.ts';
import type { DeliveryItem } from './delivery-store.ts';

/** Largest compressed payload stored on a delivery. */
export const MAX_STORED_PAYLOAD_BYTES = 300 * 1024;

/** The JSON body POSTed to endpoints (Standard Webhooks payload shape). */
export function payloadOf(event: Pick<PronaFlowEvent, 'type' | 'occurred_at' | 'data'>): string {
  return JSON.stringify({ type: event.type, timestamp: event.occurred_at, data: event.data });
}

export function compressPayload(body: string): Uint8Array {
  return gzipSync(Buffer.from(body, 'utf8'));
}

export function payloadText(item: Pick<DeliveryItem, 'payload_gz'>): string {
  return gunzipSync(Buffer.from(item.payload_gz)).toString('utf8');
}
