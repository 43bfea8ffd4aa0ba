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
  /** A token's metadata, in its workspace's partition, sorted by user then id. */
  apiToken: (workspaceId: string, userId: string, tokenId: string) => ({
    pk: `WS#${workspaceId}`,
    sk: `APITOKEN#${encodeURIComponent(userId)}#${tokenId}`,
  }),
  /** Prefix of one user's tokens in a workspace (userId is encoded, so `#` cannot widen it). */
  apiTokensOfUser: (userId: string) => `APITOKEN#${encodeURIComponent(userId)}#`,
  /** Prefix of every token of a workspace (plan changes fan out to them). */
  apiTokensOfWorkspace: () => 'APITOKEN#',
  /** The authentication record of a token, found by the SHA-256 of its value. */
  apiTokenHash: (hash: string) => ({ pk: `TOKENHASH#${hash}`, sk: 'TOKENHASH' }),
  /** A fixed rate-limit window's counter for a subject (`TOKEN#…` or `SESSION#…`). */
  rateWindow: (subject: string, windowStart: number) => ({
    pk: `RATE#${subject}#${windowStart}`,
    sk: 'RATE',
  }),
  /** Usage logs of one user's tokens in a workspace, by time. */
  usageOfUser: (workspaceId: string, userId: string) =>
    `USAGE#WS#${encodeURIComponent(workspaceId)}#USER#${encodeURIComponent(userId)}`,
  /** gsi1 partition of one token's usage logs, by time. */
  usageOfToken: (tokenId: string) => `USAGE#TOKEN#${tokenId}`,

  // ── Webhooks ──

  // ── OAuth ──

  // ── Other features ──
} as const;

/** Epoch seconds for a TTL attribute `seconds` from now. */
export function ttlIn(seconds: number, now = Date.now()): number {
  return Math.floor(now / 1000) + seconds;
}
