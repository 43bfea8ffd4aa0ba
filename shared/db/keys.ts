/**
 * Key builders for the single table. Every item carries `pk`, `sk`, an `entity` attribute and,
 * where it must be found another way, `gsi1pk`/`gsi1sk`. The access patterns are listed in
 * `shared/db/README.md`; add a builder here and a row there together.
 */
export const keys = {
  workspace: (workspaceId: string) => `WS#${workspaceId}`,
  user: (userId: string) => `USER#${userId}`,
  /** Workspace settings held by this service (plan tier). */
  workspacePlan: (workspaceId: string) => ({ pk: `WS#${workspaceId}`, sk: 'PLAN' }),

  // ── API tokens ──

  // ── Webhooks ──
  /** A webhook endpoint, in its workspace's partition (W1–W3). */
  webhookEndpoint: (workspaceId: string, endpointId: string) => ({
    pk: `WS#${workspaceId}`,
    sk: `WEBHOOK#${endpointId}`,
  }),
  webhookEndpointPrefix: 'WEBHOOK#',
  /** How many endpoints a workspace has (the cap is checked atomically on create). */
  webhookCount: (workspaceId: string) => ({ pk: `WS#${workspaceId}`, sk: 'WEBHOOK_COUNT' }),
  /** A delivery, fetched by its id (W5); listed per endpoint by time through gsi1 (W4). */
  webhookDelivery: (deliveryId: string) => ({ pk: `DELIVERY#${deliveryId}`, sk: 'DELIVERY' }),
  webhookDeliveryIndex: (endpointId: string, createdAt: string, deliveryId: string) => ({
    gsi1pk: `WEBHOOK#${endpointId}`,
    gsi1sk: `${createdAt}#${deliveryId}`,
  }),

  // ── OAuth ──

  // ── Other features ──
} as const;

/** Epoch seconds for a TTL attribute `seconds` from now. */
export function ttlIn(seconds: number, now = Date.now()): number {
  return Math.floor(now / 1000) + seconds;
}
