/**
 * The expiry markers of PENDING deliveries (W6) and the due index they carry (W7): the delivery
 * store writes and deletes them inside its own writes; the expiry sweeper (expiry.ts) and the
 * reconciler (reconcile.ts) walk them with {@link markersUpTo} and move or delete them here.
 */
import { DeleteCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { db, tableName } from '#shared/db/client.ts';
import { isConditionFailed } from '#shared/db/conditions.ts';
import { keys } from '#shared/db/keys.ts';

/**
 * The expiry marker of a PENDING delivery (pattern W6): a small item in the hour bucket of the
 * delivery's `expires_at`, written when the delivery (or a new cycle of it) starts and deleted
 * with its terminal outcome, so the expiry sweeper finds PENDING deliveries past their expiry
 * with one Query per hour bucket, no scan. The same item is the delivery's entry in the due
 * index (W7, gsi1, `due_at`): the reconciler finds PENDING deliveries that stopped moving through
 * it, at no extra write on the delivery path (see reconcile.ts).
 */
export const expiryMarkerKey = keys.webhookDeliveryExpiry;
export const EXPIRY_BUCKET_PREFIX = keys.webhookDeliveryExpiryPrefix;

export interface ExpiryMarker {
  pk: string;
  sk: string;
  entity: 'WebhookDeliveryExpiry';
  delivery_id: string;
  expires_at: string;
  /** The due index (W7): absent on markers written before it, or dropped from it by the reconciler. */
  gsi1pk?: string;
  gsi1sk?: string;
  /** When the delivery should have moved on by (W7's sort time). */
  due_at?: string;
  /** How often the reconciler put the delivery's job back. */
  requeues?: number;
  ttl: number;
}

/** The marker item of a delivery (or a new cycle of it) expiring at `expiresAt`, due at `dueAt` (W7). */
export function expiryMarker(
  deliveryId: string,
  expiresAt: string,
  ttl: number,
  dueAt: string,
): ExpiryMarker {
  return {
    ...expiryMarkerKey(expiresAt, deliveryId),
    ...keys.webhookDeliveryDue(dueAt, deliveryId),
    entity: 'WebhookDeliveryExpiry',
    delivery_id: deliveryId,
    expires_at: expiresAt,
    due_at: dueAt,
    ttl,
  };
}

/**
 * Every marker of the hour `buckets` (oldest first) whose time is at most `until`: by expiry time
 * (W6, the table) or by due time (W7, gsi1, eventually consistent), a page of 100 at a time. Stops
 * before the next page once `shouldStop()` says so.
 */
export async function* markersUpTo(
  by: 'expiry' | 'due',
  buckets: string[],
  until: Date,
  shouldStop?: () => boolean,
): AsyncGenerator<ExpiryMarker> {
  const index =
    by === 'due'
      ? { IndexName: 'gsi1', KeyConditionExpression: 'gsi1pk = :b AND gsi1sk <= :until' }
      : { KeyConditionExpression: 'pk = :b AND sk <= :until' };
  for (const bucket of buckets) {
    let cursor: Record<string, unknown> | undefined;
    do {
      if (shouldStop?.()) return;
      const out = await db().send(
        new QueryCommand({
          TableName: tableName(),
          ...index,
          ExpressionAttributeValues: { ':b': bucket, ':until': `${until.toISOString()}#~` },
          Limit: 100,
          ExclusiveStartKey: cursor,
        }),
      );
      yield* (out.Items ?? []) as ExpiryMarker[];
      cursor = out.LastEvaluatedKey;
    } while (cursor);
  }
}

/** Deletes an expiry marker (its delivery finished, restarted, or is gone). */
export async function deleteExpiryMarker(m: Pick<ExpiryMarker, 'expires_at' | 'delivery_id'>): Promise<void> {
  await db().send(
    new DeleteCommand({ TableName: tableName(), Key: expiryMarkerKey(m.expires_at, m.delivery_id) }),
  );
}

/**
 * Moves a marker in the due index (W7) to `dueAt` (`requeued` counts a re-queue), or takes it out
 * of the index (`dueAt` undefined; the marker stays for the expiry sweeper). Conditional on the
 * marker still existing where it was read: never re-creates a marker its terminal outcome deleted,
 * and of two reconciler runs only one moves it. Returns false when it did not apply.
 */
export async function moveDueMarker(
  m: Pick<ExpiryMarker, 'delivery_id' | 'expires_at' | 'gsi1sk'>,
  dueAt: string | undefined,
  opts: { requeued?: boolean } = {},
): Promise<boolean> {
  const values: Record<string, unknown> = { ':old': m.gsi1sk };
  let update: string;
  if (dueAt === undefined) update = 'REMOVE gsi1pk, gsi1sk, due_at';
  else {
    const due = keys.webhookDeliveryDue(dueAt, m.delivery_id);
    update = 'SET gsi1pk = :pk, gsi1sk = :sk, due_at = :due';
    Object.assign(values, { ':pk': due.gsi1pk, ':sk': due.gsi1sk, ':due': dueAt });
    if (opts.requeued) {
      update += ' ADD requeues :one';
      values[':one'] = 1;
    }
  }
  try {
    await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: expiryMarkerKey(m.expires_at, m.delivery_id),
        UpdateExpression: update,
        ConditionExpression: 'attribute_exists(pk) AND gsi1sk = :old',
        ExpressionAttributeValues: values,
      }),
    );
    return true;
  } catch (err) {
    if (isConditionFailed(err)) return false;
    throw err;
  }
}
