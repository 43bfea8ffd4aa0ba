/**
 * Correlation ids, carried by the platform (no feature passes them around):
 *
 * - the HTTP kit takes the caller's `X-Correlation-Id` (when it is a sane token) or starts one
 *   from the request id, runs the request inside it and answers it back as `X-Correlation-Id`;
 * - every message sent through shared/queues.ts carries it as the SQS message attribute
 *   `correlation_id` (plus the other ids known at the time, e.g. `event_id`);
 * - the worker kit restores it per record, so the worker's log lines (and the messages it sends
 *   on) carry the same id, and adds the ids it learns (`event_id`, `delivery_id`, `run_id`).
 *
 * Kept in an AsyncLocalStorage, so invocations running side by side in one process (the local
 * runtime) never see each other's ids.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';

/** The ids a unit of work carries; `correlation_id` always. */
export interface Correlation {
  correlation_id: string;
  request_id?: string;
  event_id?: string;
  delivery_id?: string;
  run_id?: string;
}

/** The ids that travel with a queue message (each an SQS message attribute of that name). */
export const CARRIED_IDS = ['correlation_id', 'event_id', 'delivery_id', 'run_id'] as const;

/** Request and response header. */
export const CORRELATION_HEADER = 'X-Correlation-Id';
/** What an incoming id may look like (anything else is replaced: it goes into logs and headers). */
const SANE_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

const store = new AsyncLocalStorage<Correlation>();

/** The caller's id when it is usable, else `fallback` (or a new one). */
export function correlationIdFrom(incoming: string | undefined, fallback?: string): string {
  const id = incoming?.trim();
  if (id && SANE_ID.test(id)) return id;
  return fallback || randomUUID();
}

/** Runs `fn` with `ids` as the current correlation. */
export function withCorrelation<T>(ids: Correlation, fn: () => T): T {
  return store.run({ ...ids }, fn);
}

/** The current ids, if any. */
export function currentCorrelation(): Correlation | undefined {
  return store.getStore();
}

/**
 * Adds ids to the current correlation (e.g. a worker learns the delivery id of its record); later
 * sends carry them. Returns what was added (for the logger's keys). No-op outside a correlation.
 */
export function addCorrelationIds(ids: Partial<Omit<Correlation, 'correlation_id'>>): Partial<Correlation> {
  const current = store.getStore();
  const added = Object.fromEntries(Object.entries(ids).filter(([, v]) => typeof v === 'string' && v));
  if (current) Object.assign(current, added);
  return added;
}

/** SQS message attributes of the current correlation (empty outside one). */
export function correlationAttributes(): Record<string, { DataType: 'String'; StringValue: string }> {
  const current = store.getStore();
  if (!current) return {};
  const out: Record<string, { DataType: 'String'; StringValue: string }> = {};
  for (const name of CARRIED_IDS) {
    const value = current[name];
    if (value) out[name] = { DataType: 'String', StringValue: value };
  }
  return out;
}

/** The ids a received SQS record carries (Lambda's `messageAttributes` shape), if any. */
export function correlationFromAttributes(
  attributes: Record<string, { stringValue?: string } | undefined> | undefined,
): Partial<Correlation> {
  const out: Partial<Correlation> = {};
  for (const name of CARRIED_IDS) {
    const value = attributes?.[name]?.stringValue;
    if (value && SANE_ID.test(value)) out[name] = value;
  }
  return out;
}
