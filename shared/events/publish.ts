/**
 * Events this service raises itself (a plugin installed, …) go through the same ingest queue as
 * PronaFlow's, so the same consumers (the webhook fan-out) apply them and the same rejections and
 * DLQ guard them. Sending needs the `queue:ingest:send` grant.
 */
import { currentCorrelation, withCorrelation } from '#shared/correlation.ts';
import { newId } from '#shared/ids.ts';
import { sendJson } from '#shared/queues.ts';
import type { PronaFlowEvent } from './envelope.ts';

/**
 * Sends one event, sent AFTER the write it reports has committed: a crash in between loses the
 * event (at most once), a write that failed never raises one. Returns the event's id.
 */
export async function publishEvent(
  event: Omit<PronaFlowEvent, 'id' | 'occurred_at'> & { id?: string; occurred_at?: string },
): Promise<string> {
  const full: PronaFlowEvent = {
    ...event,
    id: event.id ?? newId('evt'),
    occurred_at: event.occurred_at ?? new Date().toISOString(),
  };
  // The message carries the event's id beside the sender's correlation (or starts one from it).
  const ids = currentCorrelation() ?? { correlation_id: full.id };
  await withCorrelation({ ...ids, event_id: full.id }, () => sendJson('INGEST_QUEUE_URL', full));
  return full.id;
}
