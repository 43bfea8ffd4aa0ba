import { endpoint } from '#functions/endpoint.ts';
import { routes } from '#functions/plugins/routes.ts';
import { noContent } from '#shared/http/reply.ts';
import { uninstall } from '#shared/plugins/installations.ts';

export const handler = endpoint(routes.uninstallPlugin, async ({ params, query, caller }) => {
  await uninstall(caller, params.id, query.workspace_id);
  return noContent();
});
