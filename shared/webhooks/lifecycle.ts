/**
 * The webhooks feature in the lifecycle cascades (shared/cascade.ts), for `workspace.deleted`:
 * - MARK switches every endpoint of the workspace off (at most 50), so the fan-out of a late
 *   event creates no delivery and nothing new is sent while the sweep runs (the API already
 *   refuses the workspace's sessions and tokens);
 * - SWEEP deletes, endpoint by endpoint, its deliveries (W4, a page per message, with the expiry
 *   markers of the PENDING ones), then the endpoint; last, the endpoint counter.
 * A delivery job still queued finds its delivery gone and stops.
 */
import { QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { CascadeParticipant, CascadeSubject, SweepCursor, SweepPage } from '#shared/cascade.ts';
import { batchDelete, forEachLimit, type ItemKey } from '#shared/db/batch.ts';
import { db, tableName } from '#shared/db/client.ts';
import { isConditionFailed } from '#shared/db/conditions.ts';
import { keys } from '#shared/db/keys.ts';
import { queryAll } from '#shared/db/query.ts';
import { expiryMarkerKey } from './delivery-markers.ts';

async function endpointsOf(workspaceId: string, limit?: number): Promise<{ id: string }[]> {
  if (limit) {
    const out = await db().send(
      new QueryCommand({
        TableName: tableName(),
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
        ExpressionAttributeValues: { ':pk': keys.workspace(workspaceId), ':p': keys.webhookEndpointPrefix },
        ProjectionExpression: 'id',
        Limit: limit,
        ConsistentRead: true,
      }),
    );
    return (out.Items ?? []) as { id: string }[];
  }
  const all: { id: string }[] = [];
  for await (const e of queryAll({
    KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
    ExpressionAttributeValues: { ':pk': keys.workspace(workspaceId), ':p': keys.webhookEndpointPrefix },
    ProjectionExpression: 'id',
    ConsistentRead: true,
  })) {
    all.push(e as { id: string });
  }
  return all;
}

async function switchOff(workspaceId: string, id: string, at: string): Promise<void> {
  try {
    await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: keys.webhookEndpoint(workspaceId, id),
        UpdateExpression: 'SET active = :off, disabled_at = :at',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':off': false, ':at': at },
      }),
    );
  } catch (err) {
    if (!isConditionFailed(err)) throw err;
  }
}

async function sweepWorkspace(
  s: CascadeSubject,
  cursor: SweepCursor | undefined,
  max: number,
): Promise<SweepPage> {
  const endpointId = cursor?.endpoint as string | undefined;
  if (!endpointId) {
    const [first] = await endpointsOf(s.id, 1);
    if (!first) {
      await batchDelete([keys.webhookCount(s.id)]);
      return { deleted: 0 };
    }
    return { deleted: 0, next: { endpoint: first.id } };
  }
  // The endpoint's deliveries by time (gsi1, eventually consistent: page on from where we were).
  const out = await db().send(
    new QueryCommand({
      TableName: tableName(),
      IndexName: 'gsi1',
      KeyConditionExpression: 'gsi1pk = :pk',
      ExpressionAttributeValues: { ':pk': keys.webhookDeliveryIndex(endpointId, '', '').gsi1pk },
      ProjectionExpression: 'pk, sk, id, #s, expires_at',
      ExpressionAttributeNames: { '#s': 'status' },
      Limit: Math.max(1, Math.floor(max / 2)),
      ExclusiveStartKey: cursor?.start as Record<string, unknown> | undefined,
    }),
  );
  const deliveries = (out.Items ?? []) as (ItemKey & { id: string; status: string; expires_at: string })[];
  const markers = deliveries.flatMap((d) =>
    d.status === 'PENDING' ? [expiryMarkerKey(d.expires_at, d.id)] : [],
  );
  await batchDelete([...deliveries.map((d) => ({ pk: d.pk, sk: d.sk })), ...markers]);
  if (out.LastEvaluatedKey) {
    return {
      deleted: deliveries.length + markers.length,
      next: { endpoint: endpointId, start: out.LastEvaluatedKey },
    };
  }
  await batchDelete([keys.webhookEndpoint(s.id, endpointId)]);
  return { deleted: deliveries.length + markers.length + 1, next: {} };
}

/** The webhooks feature's participant (registered in shared/lifecycle/participants.ts). */
export const webhooksParticipant: CascadeParticipant = {
  name: 'webhooks',
  kinds: ['workspace'],
  mark: async (s) => {
    const at = s.acceptedAt;
    await forEachLimit(await endpointsOf(s.id), 10, (e) => switchOff(s.id, e.id, at));
  },
  sweep: (s, cursor, { maxItems }) => sweepWorkspace(s, cursor, maxItems),
};
