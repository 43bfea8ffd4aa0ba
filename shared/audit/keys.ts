/**
 * Keys of the audit log (access patterns A1–A5 in shared/db/README.md). Entries live in one
 * partition per subject and workspace, keyed by their sequence number; the personal data of an
 * entry (user id, IP, user agent) lives beside it in the subject's personal partition, so erasing
 * a subject deletes those items and never touches an entry. Partition keys starting with
 * {@link APPEND_ONLY_PREFIX} may be put once and never updated or deleted by any function (IAM
 * denies it in AWS; the runtime grants refuse it locally).
 */
import { APPEND_ONLY_PREFIX } from '#shared/db/append-only.ts';

export { APPEND_ONLY_PREFIX };

const seq = (n: number) => `SEQ#${String(n).padStart(12, '0')}`;

export const auditKeys = {
  /** A subject's trail in a workspace (A1): `subject` is the pseudonym of the user id. */
  trail: (workspaceId: string, subject: string) =>
    `${APPEND_ONLY_PREFIX}${encodeURIComponent(workspaceId)}#${subject}`,
  entry: (workspaceId: string, subject: string, n: number) => ({
    pk: auditKeys.trail(workspaceId, subject),
    sk: seq(n),
  }),
  entryPrefix: 'SEQ#',
  /** gsi1 keys of an entry: a workspace's entries by time (A2, for admins). */
  byWorkspace: (workspaceId: string, at: string, subject: string, n: number) => ({
    gsi1pk: `AUDITWS#${workspaceId}`,
    gsi1sk: `${at}#${subject}#${seq(n)}`,
  }),
  workspacePartition: (workspaceId: string) => `AUDITWS#${workspaceId}`,
  /** The personal data of a subject's entries in every workspace (A3), erased with the subject. */
  personal: (subject: string, workspaceId: string, n: number) => ({
    pk: `AUDITPII#${subject}`,
    sk: `${encodeURIComponent(workspaceId)}#${seq(n)}`,
  }),
  personalPartition: (subject: string) => `AUDITPII#${subject}`,
} as const;
