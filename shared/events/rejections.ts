import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { db, tableName } from '#shared/db/client.ts';
import { ttlIn } from '#shared/db/keys.ts';
import { logger } from '#shared/logger.ts';

const RETENTION_SECONDS = 30 * 24 * 3600;

/**
 * Records why an ingest message was refused, so nothing that reached the queue disappears
 * without a trace. Filed under the day SQS accepted the message (`now`), so a message rejected
 * again on a retry overwrites its own record: idempotent on the SQS message id.
 */
export async function recordRejection(input: {
  messageId: string;
  reason: string;
  eventId?: string;
  workspaceId?: string;
  sizeBytes: number;
  /** When the message was sent (defaults to now). */
  now?: Date;
}): Promise<void> {
  const now = input.now ?? new Date();
  const day = now.toISOString().slice(0, 10);
  logger.warn('event rejected', {
    message_id: input.messageId,
    event_id: input.eventId,
    workspace_id: input.workspaceId,
    reason: input.reason,
  });
  await db().send(
    new PutCommand({
      TableName: tableName(),
      Item: {
        pk: `REJECTED#${day}`,
        sk: `MSG#${input.messageId}`,
        entity: 'EventRejection',
        message_id: input.messageId,
        event_id: input.eventId,
        workspace_id: input.workspaceId,
        reason: input.reason,
        size_bytes: input.sizeBytes,
        rejected_at: now.toISOString(),
        ttl: ttlIn(RETENTION_SECONDS, now.getTime()),
      },
    }),
  );
}
