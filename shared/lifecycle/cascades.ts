/**
 * The cascade record of a deleted subject (`LIFECYCLE#<kind>#<id>` / `CASCADE`): which
 * participant's sweep runs and from where, how many items each deleted, and a sequence number
 * `seq` that every sweep message carries. A page is applied only by the message of the current
 * `seq`, and moves it on in the same conditional write, so duplicate messages (SQS delivers at
 * least once, a redelivered event sends its chain again) collapse instead of forking the chain.
 */
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { CascadeKind, CascadeSubject, SweepCursor } from '#shared/cascade.ts';
import { db, tableName } from '#shared/db/client.ts';
import { isConditionFailed } from '#shared/db/conditions.ts';
import { ttlIn } from '#shared/db/keys.ts';
import { lifecycleKeys } from './keys.ts';

/** How long a finished cascade's record is kept (what was deleted, when, on which event). */
export const CASCADE_RECORD_DAYS = 400;

export interface CascadeRecord {
  kind: CascadeKind;
  subject_id: string;
  status: 'SWEEPING' | 'DONE';
  /** The event that started the current run. */
  event_id: string;
  /** When the current run was accepted. */
  accepted_at: string;
  /** The sequence number of the next page's message. */
  seq: number;
  /** Index of the running participant (in the participants of `kind`, in registry order). */
  step: number;
  cursor?: SweepCursor;
  /** Items deleted, per participant and in all (the current run). */
  deleted_by: Record<string, number>;
  deleted: number;
  pages: number;
  /** Runs of this subject's cascade (a redelivered event after the end runs it again). */
  runs: number;
  updated_at: string;
  done_at?: string;
}

export function subjectOfRecord(r: CascadeRecord): CascadeSubject {
  return { kind: r.kind, id: r.subject_id, eventId: r.event_id, acceptedAt: r.accepted_at };
}

/** The record, read strongly consistent. */
export async function findCascade(kind: CascadeKind, id: string): Promise<CascadeRecord | undefined> {
  const { Item } = await db().send(
    new GetCommand({ TableName: tableName(), Key: lifecycleKeys.cascade(kind, id), ConsistentRead: true }),
  );
  return Item as CascadeRecord | undefined;
}

/**
 * Starts the subject's cascade, or returns the one running: a new record (seq 1, first step);
 * a finished one starts again from the first step with the next seq (a redelivered or repeated
 * event sweeps again, finding little or nothing); a running one is returned as it is, so the
 * caller sends its current message again (a copy of a live message is dropped by `seq`).
 */
export async function acceptCascade(
  kind: CascadeKind,
  id: string,
  eventId: string,
  now = new Date(),
): Promise<CascadeRecord> {
  const at = now.toISOString();
  for (let attempt = 0; ; attempt++) {
    const current = await findCascade(kind, id);
    try {
      if (!current) {
        const record: CascadeRecord = {
          kind,
          subject_id: id,
          status: 'SWEEPING',
          event_id: eventId,
          accepted_at: at,
          seq: 1,
          step: 0,
          deleted_by: {},
          deleted: 0,
          pages: 0,
          runs: 1,
          updated_at: at,
        };
        await db().send(
          new PutCommand({
            TableName: tableName(),
            Item: { ...lifecycleKeys.cascade(kind, id), entity: 'LifecycleCascade', ...record },
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        );
        return record;
      }
      if (current.status === 'SWEEPING') return current;
      const out = await db().send(
        new UpdateCommand({
          TableName: tableName(),
          Key: lifecycleKeys.cascade(kind, id),
          UpdateExpression:
            'SET #s = :sweeping, event_id = :e, accepted_at = :at, updated_at = :at, seq = :next, step = :zero, deleted_by = :none, deleted = :zero, pages = :zero, runs = runs + :one REMOVE #c, done_at, #ttl',
          ConditionExpression: 'seq = :seq',
          ExpressionAttributeNames: { '#s': 'status', '#c': 'cursor', '#ttl': 'ttl' },
          ExpressionAttributeValues: {
            ':sweeping': 'SWEEPING',
            ':e': eventId,
            ':at': at,
            ':seq': current.seq,
            ':next': current.seq + 1,
            ':zero': 0,
            ':one': 1,
            ':none': {},
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return out.Attributes as CascadeRecord;
    } catch (err) {
      // Another copy of the event got there first: read what it wrote.
      if (!isConditionFailed(err) || attempt >= 3) throw err;
    }
  }
}

/**
 * Moves the cascade past the page of message `seq`: to `next` of the same step, to the next
 * step, or DONE. False when another message already moved it (this one was a copy).
 */
export async function advanceCascade(
  record: CascadeRecord,
  page: { participant: string; deleted: number; next?: SweepCursor; lastStep: boolean },
  now = new Date(),
): Promise<CascadeRecord | undefined> {
  const done = !page.next && page.lastStep;
  const sets = [
    'seq = :next',
    'updated_at = :at',
    'deleted = deleted + :n',
    'pages = pages + :one',
    'deleted_by.#p = if_not_exists(deleted_by.#p, :zero) + :n',
  ];
  const removes: string[] = [];
  const values: Record<string, unknown> = {
    ':seq': record.seq,
    ':next': record.seq + 1,
    ':at': now.toISOString(),
    ':n': page.deleted,
    ':one': 1,
    ':zero': 0,
  };
  if (page.next) {
    sets.push('#c = :cursor');
    values[':cursor'] = page.next;
  } else {
    removes.push('#c');
    sets.push('step = step + :one');
  }
  if (done) {
    sets.push('#s = :done', 'done_at = :at', '#ttl = :ttl');
    values[':done'] = 'DONE';
    values[':ttl'] = ttlIn(CASCADE_RECORD_DAYS * 86_400, now.getTime());
  }
  try {
    const out = await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: lifecycleKeys.cascade(record.kind, record.subject_id),
        UpdateExpression: `SET ${sets.join(', ')}${removes.length ? ` REMOVE ${removes.join(', ')}` : ''}`,
        ConditionExpression: 'seq = :seq AND #s = :sweeping',
        ExpressionAttributeNames: {
          '#p': page.participant,
          '#c': 'cursor',
          '#s': 'status',
          ...(done ? { '#ttl': 'ttl' } : {}),
        },
        ExpressionAttributeValues: { ...values, ':sweeping': 'SWEEPING' },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return out.Attributes as CascadeRecord;
  } catch (err) {
    if (isConditionFailed(err)) return undefined;
    throw err;
  }
}
