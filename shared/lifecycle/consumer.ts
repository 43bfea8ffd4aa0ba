/**
 * Accepting a deletion event, before the ingest worker acknowledges it: MARK first (the
 * tombstone of a deleted user or workspace, which every session request reads in its one
 * BatchGetItem, then each participant's mark, e.g. token authentication records deactivated),
 * then start the SWEEP (the cascade record and its first page's message). Every step is
 * idempotent: a redelivered event marks again and sends the current page's message again.
 */
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { CascadeParticipant, CascadeSubject } from '#shared/cascade.ts';
import { db, tableName } from '#shared/db/client.ts';
import { keys, ttlIn } from '#shared/db/keys.ts';
import type { EventConsumer } from '#shared/events/consumers.ts';
import type { PronaFlowEvent } from '#shared/events/envelope.ts';
import { logger } from '#shared/logger.ts';
import { acceptCascade, CASCADE_RECORD_DAYS, type CascadeRecord } from './cascades.ts';
import { LIFECYCLE_EVENT_TYPES, subjectOf } from './events.ts';
import { reportCascade } from './status.ts';
import { sendKick, stepName, stepsOf } from './sweep.ts';

/**
 * Writes the tombstone of a deleted user or workspace (kept as long as the cascade record: it
 * refuses sessions issued before the deletion, and says what was deleted when).
 */
async function writeTombstone(subject: CascadeSubject): Promise<void> {
  if (subject.kind !== 'user' && subject.kind !== 'workspace') return;
  const key = subject.kind === 'user' ? keys.deletedUser(subject.id) : keys.deletedWorkspace(subject.id);
  await db().send(
    new UpdateCommand({
      TableName: tableName(),
      Key: key,
      UpdateExpression:
        'SET entity = :e, kind = :k, deleted_at = if_not_exists(deleted_at, :at), event_id = if_not_exists(event_id, :id), #ttl = :ttl',
      ExpressionAttributeNames: { '#ttl': 'ttl' },
      ExpressionAttributeValues: {
        ':e': 'Tombstone',
        ':k': subject.kind,
        ':at': subject.acceptedAt,
        ':id': subject.eventId,
        ':ttl': ttlIn(CASCADE_RECORD_DAYS * 86_400),
      },
    }),
  );
}

/** Marks, then starts (or resumes) the sweep. Undefined for an event with invalid data (logged). */
export async function acceptDeletion(
  event: PronaFlowEvent,
  participants: readonly CascadeParticipant[],
  now = new Date(),
): Promise<CascadeRecord | undefined> {
  const named = subjectOf(event);
  if (!named) {
    logger.warn('deletion event with invalid data ignored', { event_id: event.id, type: event.type });
    return undefined;
  }
  const subject: CascadeSubject = { ...named, eventId: event.id, acceptedAt: now.toISOString() };
  await writeTombstone(subject);
  for (const p of stepsOf(subject.kind, participants)) await p.mark?.(subject);
  const record = await acceptCascade(subject.kind, subject.id, event.id, now);
  await reportCascade(record, stepName(record, participants));
  await sendKick(record);
  logger.info('deletion accepted', { kind: subject.kind, event_id: event.id, seq: record.seq });
  return record;
}

/** The lifecycle feature's consumer of the ingest queue. */
export function lifecycleConsumer(participants: readonly CascadeParticipant[]): EventConsumer {
  return {
    name: 'lifecycle',
    accepts: (type) => LIFECYCLE_EVENT_TYPES.includes(type),
    handle: async (event) => {
      await acceptDeletion(event, participants);
    },
  };
}
