/** API views of webhook deliveries: the summary in lists and the attempts of a delivery's detail. */
import { type DeliveryItem, MAX_ATTEMPTS_KEPT, type StoredAttempt } from './delivery-store.ts';
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

/** Attempts a delivery's detail shows (the latest; as many as a record keeps). */
export const MAX_ATTEMPTS_SHOWN = MAX_ATTEMPTS_KEPT;
/** Characters of an attempt's response body shown (the worker reads at most 4 KB of it). */
export const MAX_RESPONSE_BODY_SHOWN = 4096;

/**
 * An attempt as the detail shows it. The request body is not repeated: every attempt POSTs the
 * delivery's `payload`, which the detail carries once.
 */
export function toAttemptView(a: StoredAttempt): AttemptView {
  const body = a.response_body ?? '';
  return {
    cycle: a.cycle,
    attempt: a.attempt,
    started_at: a.started_at,
    duration_ms: a.duration_ms,
    request: { url: a.url, headers: a.request_headers },
    response:
      a.status === undefined
        ? null
        : {
            status: a.status,
            headers: a.response_headers ?? {},
            body: body.slice(0, MAX_RESPONSE_BODY_SHOWN),
            body_truncated: (a.response_truncated ?? false) || body.length > MAX_RESPONSE_BODY_SHOWN,
          },
    error: a.error ?? null,
  };
}

/** The latest attempts of a delivery, bounded, oldest first. */
export function attemptViews(item: Pick<DeliveryItem, 'attempts'>): AttemptView[] {
  return (item.attempts ?? []).slice(-MAX_ATTEMPTS_SHOWN).map(toAttemptView);
}
