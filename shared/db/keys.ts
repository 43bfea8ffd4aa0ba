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
  /**
   * A user's token quota in a workspace (T8), beside the tokens but outside their `APITOKEN#`
   * prefix, so token queries never see it.
   */
  apiTokenQuota: (workspaceId: string, userId: string) => ({
    pk: `WS#${workspaceId}`,
    sk: `TOKENQUOTA#${encodeURIComponent(userId)}`,
  }),
  /** The authentication record of a token, found by the SHA-256 of its value. */
  apiTokenHash: (hash: string) => ({ pk: `TOKENHASH#${hash}`, sk: 'TOKENHASH' }),
  /** A fixed rate-limit window's counter for a subject (`USER#<ws>#<user>`: one budget per user and workspace). */
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
  webhookDeliveryPrefix: 'DELIVERY#',
  webhookDeliveryIndex: (endpointId: string, createdAt: string, deliveryId: string) => ({
    gsi1pk: `WEBHOOK#${endpointId}`,
    gsi1sk: `${createdAt}#${deliveryId}`,
  }),
  /**
   * The expiry marker of a PENDING delivery (W6): a small item in the hour bucket of the
   * delivery's `expires_at`, sorted by expiry. The same item carries the due index (W7) in gsi1.
   */
  webhookDeliveryExpiry: (expiresAt: string, deliveryId: string) => ({
    pk: `DLVEXP#${expiresAt.slice(0, 13)}`,
    sk: `${expiresAt}#${deliveryId}`,
  }),
  webhookDeliveryExpiryPrefix: 'DLVEXP#',
  /**
   * gsi1 keys of an expiry marker (W7): the hour bucket of the time by which its delivery should
   * have moved on (created, restarted, next attempt, or re-queued at), sorted by that time.
   */
  webhookDeliveryDue: (dueAt: string, deliveryId: string) => ({
    gsi1pk: `DLVDUE#${dueAt.slice(0, 13)}`,
    gsi1sk: `${dueAt}#${deliveryId}`,
  }),
  webhookDeliveryDuePrefix: 'DLVDUE#',
  /** Progress of the signing-secret re-encryption job (W9). */
  webhookReencryptJob: () => ({ pk: 'WEBHOOKJOB#REENCRYPT', sk: 'STATE' }),

  // ── OAuth ──
  /** A user's OAuth connection in a workspace (the user id is encoded so `#` cannot fake a prefix). */
  oauthConnection: (workspaceId: string, userId: string, connectionId: string) => ({
    pk: `WS#${workspaceId}`,
    sk: `OAUTHCONN#${encodeURIComponent(userId)}#${connectionId}`,
  }),
  /** Prefix of a user's connections in a workspace (`sk begins_with`). */
  oauthConnectionsOf: (workspaceId: string, userId: string) => ({
    pk: `WS#${workspaceId}`,
    skPrefix: `OAUTHCONN#${encodeURIComponent(userId)}#`,
  }),
  /**
   * Partition of the items a connection owns (its bindings): every item with this `pk` is deleted
   * with the connection. Owned items use it as `pk` with their own `sk` (e.g. `BINDING#<id>`).
   */
  oauthConnectionOwned: (connectionId: string) => `OAUTHCONN#${connectionId}`,
  /** gsi1 keys of a connection due for refresh at `dueAt` (hour buckets, sorted by due time). */
  oauthRefreshDue: (dueAt: Date, connectionId: string) => ({
    gsi1pk: `OAUTHEXP#${dueAt.toISOString().slice(0, 13)}`,
    gsi1sk: `${dueAt.toISOString()}#${connectionId}`,
  }),
  /** gsi1pk of the hour bucket a refresh due time falls in: `OAUTHEXP#2026-05-01T10`. */
  oauthRefreshBucket: (at: Date) => `OAUTHEXP#${at.toISOString().slice(0, 13)}`,
  /** A pending authorization, keyed by the SHA-256 of its `state` (the state itself is never stored). */
  oauthState: (stateHash: string) => ({ pk: `OAUTHSTATE#${stateHash}`, sk: 'STATE' }),
  /** Progress of the token re-encryption job. */
  oauthReencryptJob: () => ({ pk: 'OAUTHJOB#REENCRYPT', sk: 'STATE' }),

  // ── Deleted subjects (written by the lifecycle cascades, read by authentication) ──
  /**
   * The tombstone of a deleted user (L1): sessions of the user are refused from the moment it is
   * written, in every workspace. Read in the session's BatchGetItem (no extra round trip).
   */
  deletedUser: (userId: string) => ({ pk: `TOMBSTONE#USER#${encodeURIComponent(userId)}`, sk: 'TOMBSTONE' }),
  /** The tombstone of a deleted workspace (L2): every session in it is refused (same BatchGetItem). */
  deletedWorkspace: (workspaceId: string) => ({
    pk: `TOMBSTONE#WS#${encodeURIComponent(workspaceId)}`,
    sk: 'TOMBSTONE',
  }),

  // ── Status lines of background work (GET /status; any feature writes its own line) ──
  /** Partition of every status line and entry (S4): GET /status reads it with one Query. */
  statusPartition: 'STATUS',
  /** A line's header (it exists once the line was ever used, so an idle line shows 0). */
  statusLine: (line: string) => ({ pk: 'STATUS', sk: `LINE#${line}` }),
  /** One piece of work in progress on a line. */
  statusEntry: (line: string, entryId: string) => ({ pk: 'STATUS', sk: `LINE#${line}#${entryId}` }),
  /** Prefix of the status lines in the status partition (the public status reads only these). */
  statusLinesPrefix: 'LINE#',

  // ── Counters of the status view (shared/counters.ts; any feature writes its own) ──
  /** Partition of a workspace's counters (S5): GET /status/workspace reads it with one Query. */
  workspaceCounters: (workspaceId: string) => `COUNTERS#WS#${encodeURIComponent(workspaceId)}`,
  /** One counter of a workspace (`sk = <feature>#<counter>#<status|*>#<bucket|*>`). */
  workspaceCounter: (workspaceId: string, sk: string) => ({
    pk: `COUNTERS#WS#${encodeURIComponent(workspaceId)}`,
    sk,
  }),
  /**
   * One service-wide counter (S6), the sum of the workspaces' as they change: in the status
   * partition, so an operator's view reads it with the status lines in one Query.
   */
  serviceCounter: (sk: string) => ({ pk: 'STATUS', sk: `COUNTER#${sk}` }),

  // ── Other features ──
} as const;

/** Epoch seconds for a TTL attribute `seconds` from now. */
export function ttlIn(seconds: number, now = Date.now()): number {
  return Math.floor(now / 1000) + seconds;
}
