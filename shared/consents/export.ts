/** The subject-access export: everything the service holds about the caller in the workspace. */
import { listTrail } from '#shared/audit/log.ts';
import type { Caller } from '#shared/http/caller.ts';
import { collectPages, type SubjectDataSource } from '#shared/subject-data.ts';
import { allConsents, toView } from './service.ts';

export async function exportSubjectData(
  caller: Caller,
  sources: readonly SubjectDataSource[],
  now = new Date(),
) {
  const [consents, audit, ...sections] = await Promise.all([
    allConsents(caller.workspaceId, caller.userId),
    collectPages((cursor) => listTrail(caller.workspaceId, caller.userId, { limit: 100, cursor })),
    ...sources.map((s) => s.collect(caller.workspaceId, caller.userId)),
  ]);
  return {
    generated_at: now.toISOString(),
    subject: { user_id: caller.userId, workspace_id: caller.workspaceId },
    consents: consents.map((c) => toView(c, now)),
    audit,
    data: Object.fromEntries(sources.map((s, i) => [s.name, sections[i]])),
  };
}
