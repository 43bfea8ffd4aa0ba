import type { ConsentRequirementSource } from '#shared/consents/requirements.ts';
import { keys } from '#shared/db/keys.ts';
import { queryAll } from '#shared/db/query.ts';
import { collectPages, type SubjectDataSource } from '#shared/subject-data.ts';
import { toConnectionResponse } from './connections.ts';
import { type ConnectionItem, listConnections } from './connections-repo.ts';

/** A subject's OAuth connections (no token: tokens are sealed and never shown). */
export const oauthSubjectData: SubjectDataSource = {
  name: 'oauth_connections',
  collect: async (workspaceId, userId) =>
    (await collectPages((cursor) => listConnections(workspaceId, userId, { limit: 100, cursor }))).map((c) =>
      toConnectionResponse(c),
    ),
};

/**
 * A connection shares the user's data with a third party (its provider): each one needs the
 * user's THIRD_PARTY consent for it (`resource_type: oauth_connection`, `resource_id: <id>`).
 */
export const oauthConsentRequirements: ConsentRequirementSource = {
  name: 'oauth connections',
  requirements: async (workspaceId, userId) => {
    const prefix = userId === null ? 'OAUTHCONN#' : keys.oauthConnectionsOf(workspaceId, userId).skPrefix;
    const out = [];
    for await (const item of queryAll({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': keys.workspace(workspaceId), ':prefix': prefix },
    })) {
      const c = item as unknown as ConnectionItem;
      if (c.entity !== 'OAuthConnection') continue;
      out.push({
        consent_type: 'THIRD_PARTY' as const,
        resource_type: 'oauth_connection',
        resource_id: c.id,
        user_id: c.user_id,
        reason: `The OAuth connection ${c.id} shares data with ${c.app_id}`,
      });
    }
    return out;
  },
};
