import { config } from '#shared/config.ts';
import { check } from '#shared/validation.ts';
import type { EventConsumer } from './consumers.ts';
import { eventEnvelope } from './envelope.ts';
import { recordRejection } from './rejections.ts';

/**
 * How deep an event's `data` may nest (objects and arrays; `data` itself is level 1). Deeper
 * events are recorded as rejections: serialising them (the webhook payload, a log line) would
 * overflow the stack, and no PronaFlow event needs more.
 */
export const MAX_EVENT_DATA_DEPTH = 32;

/**
 * The nesting depth of a JSON text (objects and arrays), read in one pass without recursion, so
 * any depth is measured safely; counting stops once it passes `limit`.
 */
export function jsonDepth(text: string, limit = Number.POSITIVE_INFINITY): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 /* { */ || c === 91 /* [ */) {
      depth++;
      if (depth > max) {
        max = depth;
        if (max > limit) return max;
      }
    } else if (c === 125 /* } */ || c === 93 /* ] */) depth--;
  }
  return max;
}

export type IngestOutcome =
  | { outcome: 'rejected'; reason: string }
  | { outcome: 'dispatched'; consumers: string[] };

/**
 * Handles one ingest message: oversize, invalid or too deeply nested ({@link MAX_EVENT_DATA_DEPTH})
 * events are recorded as rejections (and so acknowledged); valid ones go to every consumer that accepts their type. A consumer failure
 * throws, so the message is retried and, after the redrive count, kept in the DLQ.
 */
export async function ingestMessage(
  messageId: string,
  body: string,
  consumers: EventConsumer[],
  /** When SQS accepted the message: rejections are filed under that day, so a retry files nothing twice. */
  sentAt?: Date,
  /** How often SQS has handed the message out (its ApproximateReceiveCount). */
  receiveCount = 1,
): Promise<IngestOutcome> {
  const size = Buffer.byteLength(body, 'utf8');
  const limit = config().WEBHOOK_MAX_PAYLOAD_SIZE_KB * 1024;
  if (size > limit) {
    const reason = `Event is ${size} bytes; the limit is ${limit} bytes (WEBHOOK_MAX_PAYLOAD_SIZE_KB)`;
    await recordRejection({ messageId, reason, sizeBytes: size, now: sentAt });
    return { outcome: 'rejected', reason };
  }
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    await recordRejection({ messageId, reason: 'Body is not valid JSON', sizeBytes: size, now: sentAt });
    return { outcome: 'rejected', reason: 'Body is not valid JSON' };
  }
  const partial = json as { id?: unknown; workspace_id?: unknown };
  const named = {
    eventId: typeof partial?.id === 'string' ? partial.id.slice(0, 128) : undefined,
    workspaceId: typeof partial?.workspace_id === 'string' ? partial.workspace_id.slice(0, 128) : undefined,
  };
  // The envelope is one level above `data` (a deeper envelope field fails validation anyway).
  if (jsonDepth(body, MAX_EVENT_DATA_DEPTH + 1) > MAX_EVENT_DATA_DEPTH + 1) {
    const reason = `Event data nests deeper than ${MAX_EVENT_DATA_DEPTH} levels (the limit, MAX_EVENT_DATA_DEPTH)`;
    await recordRejection({ messageId, reason, sizeBytes: size, now: sentAt, ...named });
    return { outcome: 'rejected', reason };
  }
  const parsed = check(eventEnvelope, json);
  if (!parsed.success) {
    const reason = parsed.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    await recordRejection({ messageId, reason, sizeBytes: size, now: sentAt, ...named });
    return { outcome: 'rejected', reason };
  }
  const event = parsed.data;
  const matching = consumers.filter((c) => c.accepts(event.type));
  if (!matching.length) {
    // A well-formed event nobody consumes (a type this service does not know) is recorded too.
    const reason = `No feature consumes events of type '${event.type}'`;
    await recordRejection({
      messageId,
      reason,
      sizeBytes: size,
      eventId: event.id,
      workspaceId: event.workspace_id,
      now: sentAt,
    });
    return { outcome: 'rejected', reason };
  }
  for (const consumer of matching) await consumer.handle(event, { receiveCount });
  return { outcome: 'dispatched', consumers: matching.map((c) => c.name) };
}
