import { collectPages, type SubjectDataSource } from '#shared/subject-data.ts';
import { listTokens } from './token-queries.ts';

/** A subject's API tokens (metadata only: the value is never stored, the hash never shown). */
export const tokenSubjectData: SubjectDataSource = {
  name: 'api_tokens',
  collect: (workspaceId, userId) =>
    collectPages((cursor) => listTokens(workspaceId, userId, { limit: 100, cursor })),
};
