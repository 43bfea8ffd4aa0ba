import { config } from '#shared/config.ts';
import type { EventConsumer } from './consumers.ts';
import { eventEnvelope } from './envelope.ts';
import { recordRejection } from './rejections.ts';

export type IngestOutcome =
  | { outcome: 'rejected'; reason: string }
  | { outcome: 'dispatched'; consumers: string[] };

/**
 * Handles one ingest message: oversize or invalid events are recorded as rejections (and so
 * acknowledged); valid ones go to every consumer that accepts their type. A consumer failure
 * throws, so the message is retried and, after the redrive count, kept in the DLQ.
 */
export async function ingestMessage(
  messageId: string,
  body: string,
  consumers: EventConsumer[],
  /** When SQS accepted the message: rejections are filed under that day, so a retry files nothing twice. */
  sentAt?: Date,
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
  const parsed = eventEnvelope.safeParse(json);
  if (!parsed.success) {
    const reason = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    const partial = json as { id?: unknown; workspace_id?: unknown };
    await recordRejection({
      messageId,
      reason,
      sizeBytes: size,
      now: sentAt,
      eventId: typeof partial?.id === 'string' ? partial.id.slice(0, 128) : undefined,
      workspaceId: typeof partial?.workspace_id === 'string' ? partial.workspace_id.slice(0, 128) : undefined,
    });
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
  for (const consumer of matching) await consumer.handle(event);
  return { outcome: 'dispatched', consumers: matching.map((c) => c.name) };
}
