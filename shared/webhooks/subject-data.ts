import { keys } from '#shared/db/keys.ts';
import { queryAll } from '#shared/db/query.ts';
import type { SubjectDataSource } from '#shared/subject-data.ts';
import { type EndpointItem, toView } from './endpoints.ts';

/** The webhook endpoints a subject registered in the workspace (never their secrets). */
export const webhookSubjectData: SubjectDataSource = {
  name: 'webhook_endpoints',
  collect: async (workspaceId, userId) => {
    const out = [];
    for await (const item of queryAll({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      FilterExpression: 'created_by = :u',
      ExpressionAttributeValues: {
        ':pk': keys.workspace(workspaceId),
        ':prefix': keys.webhookEndpointPrefix,
        ':u': userId,
      },
    })) {
      out.push(toView(item as unknown as EndpointItem));
    }
    return out;
  },
};
