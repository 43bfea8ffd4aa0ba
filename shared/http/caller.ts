export type WorkspaceRole = 'member' | 'admin';

/** The authenticated party of a request, whichever credential it used. */
export interface Caller {
  kind: 'session' | 'token';
  userId: string;
  /** The workspace this request acts in. */
  workspaceId: string;
  role: WorkspaceRole;
  /** All workspaces of a session user (tokens are bound to one). */
  workspaces: { id: string; role: WorkspaceRole }[];
  /** Set for API-token callers. */
  tokenId?: string;
  /** Scopes of an API token; session users act with their role's scopes. */
  scopes?: string[];
  /** The workspace's plan tier, when authentication learnt it (the token's record, the session's read). */
  plan?: 'free' | 'pro' | 'enterprise';
  /**
   * A PronaFlow operator (staff who publish to the plugin marketplace): the session JWT's
   * `operator: true` claim, or an API token created in such a session.
   */
  operator?: boolean;
  /** Sessions: the JWT's `iat` (epoch seconds), when it has one. */
  issuedAt?: number;
  /**
   * Sessions: the version (`order`: time and tie rank) of the service's membership record of the user in the
   * workspace that authentication held the session to, `null` when there is none. Writes that
   * hand out credentials check, in their transaction, that it is still current.
   */
  membershipAsOf?: string | null;
}
