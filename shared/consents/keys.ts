/** Key builders of consent records (access patterns C1–C5 in shared/db/README.md). */
import { sha256Hex } from '#shared/crypto.ts';

const user = (userId: string) => encodeURIComponent(userId);

export const consentKeys = {
  /** A consent record (C1), in its workspace's partition, by user then id (ids sort by time). */
  record: (workspaceId: string, userId: string, id: string) => ({
    pk: `WS#${workspaceId}`,
    sk: `CONSENT#${user(userId)}#${id}`,
  }),
  workspacePartition: (workspaceId: string) => `WS#${workspaceId}`,
  /** Prefix of one user's records (C2). */
  ofUser: (userId: string) => `CONSENT#${user(userId)}#`,
  /** Prefix of every record of a workspace (C3, admins). */
  ofWorkspace: 'CONSENT#',
  /**
   * The one live consent of a user for a type and resource (C4): granting again finds it, so a
   * second grant returns it instead of a duplicate. The resource is hashed to bound the key.
   */
  live: (workspaceId: string, userId: string, type: string, resourceType: string, resourceId: string) => ({
    pk: `WS#${workspaceId}`,
    sk: `CONSENTLIVE#${user(userId)}#${type}#${sha256Hex(`${resourceType}\u0000${resourceId}`)}`,
  }),
  /** gsi1 keys of a consent with an end date: the hour bucket it expires in, by time (C5). */
  expiry: (expiresAt: string, id: string) => ({
    gsi1pk: `CONSENTEXP#${expiresAt.slice(0, 13)}`,
    gsi1sk: `${expiresAt}#${id}`,
  }),
  expiryBucket: (at: Date) => `CONSENTEXP#${at.toISOString().slice(0, 13)}`,
  /** The consent policy version last recorded (a change is an audit entry of its own). */
  policy: () => ({ pk: 'CONSENTPOLICY', sk: 'CURRENT' }),
} as const;
