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
  /** The workspace's plan tier, when the credential carried it (API tokens); sessions look it up. */
  plan?: 'free' | 'pro' | 'enterprise';
}
