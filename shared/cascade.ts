/**
 * Lifecycle cascades: what a feature implements so that the deletion of a PronaFlow user,
 * workspace, plugin or OAuth app reaches its items. The lifecycle feature (shared/lifecycle/)
 * runs them; each feature states, in its own `shared/<feature>/lifecycle.ts`, how to MARK its
 * items (make them unreachable at once) and how to SWEEP them (delete them, a page at a time).
 * The list of participants is functions/lifecycle/participants.ts. Platform code: it knows no
 * feature, features implement it (as they do {@link EventConsumer}).
 */

/** What was deleted in PronaFlow. */
export type CascadeKind = 'user' | 'workspace' | 'plugin' | 'oauth_app';

/** One deletion: the subject, and the event that asked for it. */
export interface CascadeSubject {
  kind: CascadeKind;
  /** The user, workspace, plugin or OAuth app id. */
  id: string;
  /** The id of the PronaFlow event (`user.deleted`, …) that started this cascade. */
  eventId: string;
  /** When the cascade was accepted (ISO 8601): items created later are not the subject's. */
  acceptedAt: string;
}

/**
 * Where a participant's sweep goes on from: any JSON object (a LastEvaluatedKey, a phase name…),
 * kept on the cascade record between pages. Opaque to the engine.
 */
export type SweepCursor = Record<string, unknown>;

export interface SweepPage {
  /** Items deleted by this page (reported on GET /status and in the cascade record). */
  deleted: number;
  /** Absent: this participant is done with the subject. Present: call again with it. */
  next?: SweepCursor;
  /**
   * Wait this long before the next page (seconds, at most 900): the participant waits on
   * something else (an eventually consistent index, another feature's own job).
   */
  delaySeconds?: number;
}

/**
 * A feature's part in the cascades. Both functions must be idempotent and safe to run again
 * from any point: SQS delivers at least once, an invocation may time out half way, and a
 * redelivered deletion event runs the whole cascade again.
 */
export interface CascadeParticipant {
  /** `<feature>` (or `<feature>.<what>`): names its step in logs, records and GET /status. */
  name: string;
  /** The subjects it has items of. */
  kinds: readonly CascadeKind[];
  /**
   * Runs while the deletion event is being accepted, before it is acknowledged (the ingest
   * worker, 30 s): makes the subject's items unreachable through the API and the hot path, e.g.
   * deactivates the authentication records of tokens. Keep it bounded (no full sweep here); what
   * needs no mark (items only the deleted user or workspace could reach, which authentication
   * already refuses through the tombstones) leaves it out.
   */
  mark?: (subject: CascadeSubject) => Promise<void>;
  /**
   * Deletes one page of the subject's items, at most about `maxItems`, and says where to go on
   * from (`next`) or that it is done. Called with `cursor` undefined first, then with each `next`.
   */
  sweep: (
    subject: CascadeSubject,
    cursor: SweepCursor | undefined,
    budget: { maxItems: number },
  ) => Promise<SweepPage>;
}
