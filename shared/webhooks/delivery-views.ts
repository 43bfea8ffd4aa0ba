/** API views of webhook deliveries: the summary in lists and the attempts of a delivery's detail. */
import type { DeliveryItem, StoredAttempt } from './delivery-store.ts';
import type { AttemptView, DeliverySummary } from './schemas.ts';

export function toSummary(item: DeliveryItem): DeliverySummary {
  return {
    id: item.id,
    endpoint_id: item.endpoint_id,
    event_id: item.event_id,
    event_type: item.event_type,
    status: item.status,
    attempt_count: item.attempt_count,
    cycle: item.cycle,
    created_at: item.created_at,
    updated_at: item.updated_at,
    next_attempt_at: item.status === 'PENDING' ? (item.next_attempt_at ?? null) : null,
    finished_at: item.finished_at ?? null,
    expires_at: item.expires_at,
    last_response_status: item.last_response_status ?? null,
    last_error: item.last_error ?? null,
  };
}

export function toAttemptView(a: StoredAttempt, body: string): AttemptView {
  return {
    cycle: a.cycle,
    attempt: a.attempt,
    started_at: a.started_at,
    duration_ms: a.duration_ms,
    request: { url: a.url, headers: a.request_headers, body },
    response:
      a.status === undefined
        ? null
        : {
            status: a.status,
            headers: a.response_headers ?? {},
            body: a.response_body ?? '',
            body_truncated: a.response_truncated ?? false,
          },
    error: a.error ?? null,
  };
}
