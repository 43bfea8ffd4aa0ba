import { queryAll } from '#shared/db/query.ts';
import type { SubjectDataSource } from '#shared/subject-data.ts';
import { pluginKeys } from './keys.ts';
import type { InstallationItem } from './store.ts';
import { toInstallationView } from './views.ts';

/** The plugin installations a subject made in the workspace (secret settings masked). */
export const pluginSubjectData: SubjectDataSource = {
  name: 'plugin_installations',
  collect: async (workspaceId, userId) => {
    const out = [];
    for await (const item of queryAll({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      FilterExpression: 'installed_by = :u OR updated_by = :u',
      ExpressionAttributeValues: {
        ':pk': pluginKeys.workspacePartition(workspaceId),
        ':prefix': pluginKeys.installationPrefix,
        ':u': userId,
      },
    })) {
      out.push(toInstallationView(item as unknown as InstallationItem, undefined));
    }
    return out;
  },
};
