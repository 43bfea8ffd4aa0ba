/**
 * Correlation ids, carried by the platform (no feature passes them around):
 *
 * - the HTTP kit takes the caller's `X-Correlation-Id` (when it is a sane token) or starts one
 *   from the request id, runs the request inside it and answers it back as `X-Correlation-Id`;
 * - every message sent through shared/queues.ts carries it as the SQS message attribute
 *   `correlation_id` (plus `event_id` when one is known: the PronaFlow event a chain started
 *   from); the ids of one job (`delivery_id`, `run_id`) are not carried, the next job's body
 *   names its own;
 * - the worker kit restores it per record, so the worker's log lines (and the messages it sends
 *   on) carry the same id, with the ids the job's body names (`event_id`, `delivery_id`,
 *   `run_id`), which win over carried ones.
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

/**
 * The ids that travel with a queue message (each an SQS message attribute of that name), in the
 * order they are kept when a message has room for only some (SQS takes 10 attributes). Only the
 * ids of the whole chain: a job's own ids (`delivery_id`, `run_id`) are in its body, and a sender's
 * would be stale on the next job.
 */
export const CARRIED_IDS = ['correlation_id', 'event_id'] as const;
/** The longest id carried or restored (longer ones are dropped: they go into logs and attributes). */
export const MAX_ID_LENGTH = 128;

/** Request and response header. */
export const CORRELATION_HEADER = 'X-Correlation-Id';
/** What an incoming id may look like (anything else is replaced: it goes into logs and headers). */
const SANE_ID = new RegExp(`^[A-Za-z0-9._:@/+=-]{1,${MAX_ID_LENGTH}}$`);

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
 * SQS message attributes of the current correlation (empty outside one), in {@link CARRIED_IDS}
 * order; only sane ids (ASCII, at most {@link MAX_ID_LENGTH}), so their size is bounded.
 */
export function correlationAttributes(): Record<string, { DataType: 'String'; StringValue: string }> {
  const current = store.getStore();
  if (!current) return {};
  const out: Record<string, { DataType: 'String'; StringValue: string }> = {};
  for (const name of CARRIED_IDS) {
    const value = current[name];
    if (value && SANE_ID.test(value)) out[name] = { DataType: 'String', StringValue: value };
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
