/**
 * The webhooks feature's counters of the status view (shared/counters.ts):
 * - `endpoints`, by `active` / `disabled`: each endpoint item records the state it is counted in
 *   (`counted`), and the counters move only when a conditional write flips that mark to the
 *   endpoint's current state ({@link syncEndpointCount}), so any path that switches an endpoint
 *   on or off (the API, the worker's auto-disable) counts exactly once, whatever the races;
 * - `deliveries_24h`, by delivery status, in the hour each delivery was created: counted from its
 *   first recorded outcome (+1 DELIVERED / FAILED / EXPIRED, or +1 PENDING when a retry is due),
 *   then moved from PENDING to its outcome by the terminal record and back to PENDING by a
 *   restart; each after the conditional write of that transition succeeded (standalone ADDs:
 *   a busy workspace's workers would otherwise conflict on the counter in their transactions).
 *   A delivery waiting for its first attempt (normally well under a second) is not counted: the
 *   fan-out writes no counter, two writes a batch fewer on the success path.
 */
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { addCounters, type CounterChange } from '#shared/counters.ts';
import { db, tableName } from '#shared/db/client.ts';
import { isConditionFailed } from '#shared/db/conditions.ts';
import { keys } from '#shared/db/keys.ts';
import type { DeliveryStatus } from './endpoints.ts';

export type CountedState = 'active' | 'disabled';

/** An endpoint enters (`+1`) or leaves (`-1`) the count of its state. */
export function endpointCount(state: CountedState, delta: 1 | -1): CounterChange {
  return { feature: 'webhooks', counter: 'endpoints', status: state, delta };
}

/** A delivery created at `createdAt` enters or leaves the count of `status`. */
export function deliveryCount(createdAt: string, status: DeliveryStatus, delta: 1 | -1): CounterChange {
  return {
    feature: 'webhooks',
    counter: 'deliveries_24h',
    status,
    delta,
    recent: { at: createdAt, hours: 24 },
  };
}

/**
 * Brings an endpoint's counted state in line with `active` (what the caller just wrote): flips the
 * mark conditionally (only while the endpoint is in that state and counted otherwise), then moves
 * the count. A flip lost to a later change is that change's to count. Never throws for the count.
 */
export async function syncEndpointCount(
  workspaceId: string,
  endpointId: string,
  active: boolean,
): Promise<void> {
  const to: CountedState = active ? 'active' : 'disabled';
  let before: CountedState | undefined;
  try {
    const out = await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: keys.webhookEndpoint(workspaceId, endpointId),
        UpdateExpression: 'SET counted = :to',
        ConditionExpression: 'active = :a AND (attribute_not_exists(counted) OR counted <> :to)',
        ExpressionAttributeValues: { ':to': to, ':a': active },
        ReturnValues: 'UPDATED_OLD',
      }),
    );
    before = out.Attributes?.counted as CountedState | undefined;
  } catch (err) {
    if (isConditionFailed(err)) return;
    throw err;
  }
  // An endpoint from before the counters (no mark) was counted nowhere: it only enters.
  await addCounters(workspaceId, [...(before ? [endpointCount(before, -1)] : []), endpointCount(to, 1)]);
}
