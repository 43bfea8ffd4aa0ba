/**
 * Operational webhooks (the bar: Svix operational webhooks, Nango auth webhooks): events about the
 * integration itself, catalogued with the product events and delivered the same way (through the
 * ingest queue and the fan-out, to the workspace's endpoints subscribed to them). Each is raised
 * AFTER the write it reports has committed; a failure to send is logged, never thrown (the write
 * stands). Sending needs the `queue:ingest:send` grant.
 *
 * - `webhook_endpoint.disabled`: an endpoint was disabled automatically (410 Gone, or
 *   WEBHOOK_DISABLE_AFTER_CONSECUTIVE_FAILURES failed deliveries in a row), with the reason. It is
 *   never delivered to the endpoint it is about (the fan-out skips it: it just failed and is
 *   disabled); the workspace's other subscribed endpoints receive it. Raised by the delivery
 *   worker; an endpoint whose streak is completed by the expiry sweeper (a lost job's delivery
 *   expiring) is only logged (that worker has no ingest grant).
 * - `oauth_connection.refresh_failed` / `oauth_connection.expired`: a refresh failed (the
 *   connection is in ERROR, retried after a cooldown while attempts are left) or found the grant
 *   dead (EXPIRED: connect again). Never a token in the payload.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { db, tableName } from '#shared/db/client.ts';
import { keys } from '#shared/db/keys.ts';
import { publishEvent } from '#shared/events/publish.ts';
import { logger } from '#shared/logger.ts';

export const ENDPOINT_DISABLED_EVENT = 'webhook_endpoint.disabled';
export const OAUTH_REFRESH_FAILED_EVENT = 'oauth_connection.refresh_failed';
export const OAUTH_EXPIRED_EVENT = 'oauth_connection.expired';

export type OperationalEventType =
  | typeof ENDPOINT_DISABLED_EVENT
  | typeof OAUTH_REFRESH_FAILED_EVENT
  | typeof OAUTH_EXPIRED_EVENT;

/** Raises one operational event; a send failure is logged with the event's identity, not thrown. */
export async function publishOperationalEvent(
  type: OperationalEventType,
  workspaceId: string,
  data: Record<string, unknown>,
): Promise<void> {
  try {
    await publishEvent({ type, workspace_id: workspaceId, data });
  } catch (err) {
    logger.error('operational event not sent', {
      type,
      workspace_id: workspaceId,
      data,
      error: err as Error,
    });
  }
}

/**
 * True when a `webhook_endpoint.disabled` event must not go to `endpointId`: the event is about
 * that endpoint (it would loop on an endpoint that just failed).
 */
export function isAboutEndpoint(event: { type: string; data: Record<string, unknown> }, endpointId: string) {
  return event.type === ENDPOINT_DISABLED_EVENT && event.data.endpoint_id === endpointId;
}

/**
 * After a recorded terminal outcome that disabled the endpoint, raises `webhook_endpoint.disabled`
 * — once: only when the stored `disabled_at` is the time this outcome wrote (an endpoint disabled earlier
 * keeps its reason and time, so a later failure raises nothing again).
 */
export async function raiseEndpointDisabled(
  d: { workspace_id: string; endpoint_id: string },
  done: { disabled?: string; disabledAt?: string },
): Promise<void> {
  const { disabled, disabledAt } = done;
  if (!disabled || !disabledAt) return;
  try {
    const { Item } = await db().send(
      new GetCommand({
        TableName: tableName(),
        Key: keys.webhookEndpoint(d.workspace_id, d.endpoint_id),
        ConsistentRead: true,
      }),
    );
    if (Item?.active !== false || Item.disabled_at !== disabledAt) return;
    await publishOperationalEvent(ENDPOINT_DISABLED_EVENT, d.workspace_id, {
      endpoint_id: d.endpoint_id,
      url: Item.url,
      reason: Item.disabled_reason ?? disabled,
      disabled_at: Item.disabled_at,
      consecutive_failures: Item.consecutive_failures ?? 0,
    });
  } catch (err) {
    logger.error('operational event not sent', {
      type: ENDPOINT_DISABLED_EVENT,
      workspace_id: d.workspace_id,
      endpoint_id: d.endpoint_id,
      error: err as Error,
    });
  }
}
