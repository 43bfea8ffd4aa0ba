/**
 * The webhooks feature in the lifecycle cascades (shared/cascade.ts), for `workspace.deleted`:
 * - MARK switches every endpoint of the workspace off (at most 50), so the fan-out of a late
 *   event creates no delivery and nothing new is sent while the sweep runs (the API already
 *   refuses the workspace's sessions and tokens);
 * - SWEEP waits until the first attempts in flight at MARK have written their records (2 s after
 *   the switch-off, and, for a workspace whose endpoints were ever sent jobs of deliveries their
 *   fan-out did not write, {@link inFlightAttemptsEndWithinMs} after the later of the last such
 *   fan-out and the switch-off), then deletes, endpoint by endpoint, its
 *   deliveries (W4, a page per message, with the expiry markers of the PENDING ones), then the
 *   endpoint; last, the endpoint counter.
 * A delivery job still queued finds its delivery gone and stops.
 */
import { QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { CascadeParticipant, CascadeSubject, SweepCursor, SweepPage } from '#shared/cascade.ts';
import { config } from '#shared/config.ts';
import { batchDelete, forEachLimit, type ItemKey } from '#shared/db/batch.ts';
import { db, tableName } from '#shared/db/client.ts';
import { isConditionFailed } from '#shared/db/conditions.ts';
import { keys } from '#shared/db/keys.ts';
import { queryAll } from '#shared/db/query.ts';
import { expiryMarkerKey } from './delivery-markers.ts';

/** How long after the mark the sweep of a workspace with endpoints first waits (see sweepWorkspace). */
export const MARK_SETTLE_MS = 2000;

/** How often a process notes, per endpoint, that it sent jobs of unwritten deliveries (endpoints.ts). */
export const UNWRITTEN_NOTE_INTERVAL_MS = 1000;

/**
 * How long after a fan-out read an endpoint a first attempt of a delivery it did not write may
 * still write its record: the age up to which the job's endpoint snapshot is used without a read
 * (5 s, the worker's ENDPOINT_SNAPSHOT_MAX_AGE_MS; a later attempt reads the endpoint, finds it
 * switched off by MARK and writes nothing), plus the attempt's deadline (WEBHOOK_TIMEOUT_SECONDS),
 * plus 5 s to record it. A test checks it against the worker's constants.
 */
export function inFlightAttemptsEndWithinMs(): number {
  return (5 + config().WEBHOOK_TIMEOUT_SECONDS + 5) * 1000;
}

type SweptEndpoint = { id: string; unwritten_sent_at?: string; removing_at?: string };

async function endpointsOf(workspaceId: string, limit?: number): Promise<SweptEndpoint[]> {
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
    return (out.Items ?? []) as SweptEndpoint[];
  }
  const all: SweptEndpoint[] = [];
  for await (const e of queryAll({
    KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
    ExpressionAttributeValues: { ':pk': keys.workspace(workspaceId), ':p': keys.webhookEndpointPrefix },
    ProjectionExpression: 'id, unwritten_sent_at, removing_at',
    ConsistentRead: true,
  })) {
    all.push(e as SweptEndpoint);
  }
  return all;
}

async function switchOff(workspaceId: string, id: string, at: string): Promise<void> {
  try {
    await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: keys.webhookEndpoint(workspaceId, id),
        UpdateExpression: 'SET active = :off, disabled_at = :at, removing = :on, removing_at = :now',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: {
          ':off': false,
          ':at': at,
          ':on': true,
          ':now': new Date().toISOString(),
        },
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
    const endpoints = await endpointsOf(s.id);
    const [first] = endpoints;
    if (!first) {
      await batchDelete([keys.webhookCount(s.id)]);
      return { deleted: 0 };
    }
    // First attempts of deliveries their fan-out did not write (fanout.ts) write the record when
    // they end: the sweep starts once the last one that may have started has ended. First, a
    // fan-out that read the endpoints before they were switched off (or an eventually consistent
    // read just after) gets MARK_SETTLE_MS from the switch-off to note its jobs; then, once any
    // note exists (a job held back in the queue may run long after its note), the wait runs from
    // the later of the last note and the switch-off: an attempt that starts after the switch-off
    // reads the endpoint, finds it `removing` and writes nothing.
    const now = Date.now();
    const marked = Math.max(
      Date.parse(s.acceptedAt),
      ...endpoints.map((e) => Date.parse(e.removing_at ?? '') || 0),
    );
    if (now < marked + MARK_SETTLE_MS) {
      return { deleted: 0, next: {}, delaySeconds: Math.ceil((marked + MARK_SETTLE_MS - now) / 1000) };
    }
    const lastSent = Math.max(0, ...endpoints.map((e) => Date.parse(e.unwritten_sent_at ?? '') || 0));
    if (lastSent) {
      const waitMs =
        Math.max(lastSent, marked) + UNWRITTEN_NOTE_INTERVAL_MS + inFlightAttemptsEndWithinMs() - now;
      if (waitMs > 0) return { deleted: 0, next: {}, delaySeconds: Math.min(900, Math.ceil(waitMs / 1000)) };
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
