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

  // ── OAuth ──

  // ── Other features ──
} as const;

/** Epoch seconds for a TTL attribute `seconds` from now. */
export function ttlIn(seconds: number, now = Date.now()): number {
  return Math.floor(now / 1000) + seconds;
}
