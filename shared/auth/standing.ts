import { ForbiddenError } from '#shared/errors.ts';
import type { Caller, WorkspaceRole } from '#shared/http/caller.ts';
import type { DeletedSubject } from './deleted.ts';

/**
 * What the service itself has recorded about a user in a workspace, from PronaFlow's membership
 * events (the latest one applied, ordered by `occurred_at`).
 */
export interface WorkspaceStanding {
  /** Removed from the workspace, or the role the latest event gave. */
  state: 'removed' | WorkspaceRole;
  /** `occurred_at` of that event (ISO 8601). */
  changedAt: string;
  /** The record's version: changes with every change applied, ties of `changedAt` included. */
  version: string;
}

/** What authentication learns about a session user besides the JWT, in one read. */
export interface SessionContext {
  standing?: WorkspaceStanding;
  /** The user or the workspace was deleted (its tombstone, read in the same round trip): refused. */
  deleted?: DeletedSubject;
  plan?: Caller['plan'];
}

/**
 * Reads the standing of `userId` in `workspaceId` (and the workspace's plan, which the rate
 * limiter needs next, so that a session request costs no extra round trip). Filled in by the
 * feature that consumes the membership events.
 */
export type SessionContextLoader = (workspaceId: string, userId: string) => Promise<SessionContext>;

/** What authentication needs from the features: the API-token verifier and the session context. */
export interface CredentialVerifiers {
  /** What every API token starts with (`pfi_`): a bearer value so prefixed is a token, not a JWT. */
  tokenPrefix: string;
  /** Verifies an API token and returns the caller it stands for, or throws 401. */
  token: (value: string) => Promise<Caller>;
  /** Absent: sessions are taken at their word (the JWT's claims). */
  sessionContext?: SessionContextLoader;
}

const lower = (a: WorkspaceRole, b: WorkspaceRole): WorkspaceRole =>
  a === 'admin' && b === 'admin' ? 'admin' : 'member';

/**
 * True when the session was issued after the recorded change, so PronaFlow's identity service
 * already knew of it. `iat` has a one-second grain: a session of the same second as the change is
 * treated as older (a fresh sign-in a second later fixes that), and one without `iat` is older
 * than any record.
 */
export function issuedAfter(issuedAt: number | undefined, changedAt: string): boolean {
  return issuedAt !== undefined && issuedAt * 1000 > Date.parse(changedAt);
}

/**
 * Holds a verified session to the service's membership record of its user in the request's
 * workspace. A session issued after the latest recorded change is taken at its word; an older
 * one gets no more than the record allows: refused (403) when the record says the user was
 * removed, and never a higher role than the recorded one (nor than its own claim). The record's
 * version is kept on the caller (`membershipAsOf`) so credential writes can check, in their
 * transaction, that it did not move in between.
 */
export function holdToStanding(caller: Caller, standing: WorkspaceStanding | undefined): Caller {
  if (!standing) return { ...caller, membershipAsOf: null };
  const held = { ...caller, membershipAsOf: standing.version };
  if (issuedAfter(caller.issuedAt, standing.changedAt)) return held;
  if (standing.state === 'removed') {
    throw new ForbiddenError(
      `You are no longer a member of workspace '${caller.workspaceId}': PronaFlow removed you after this session was issued. If you have been added again, sign in again for a new session.`,
      { extra: { workspace_id: caller.workspaceId, reason: 'membership_ended' } },
    );
  }
  const role = lower(caller.role, standing.state);
  return {
    ...held,
    role,
    workspaces: caller.workspaces.map((w) => (w.id === caller.workspaceId ? { ...w, role } : w)),
  };
}
