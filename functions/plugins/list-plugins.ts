import { endpoint } from '#functions/endpoint.ts';
import { routes } from '#functions/plugins/routes.ts';
import { ok } from '#shared/http/reply.ts';
import { listCatalog } from '#shared/plugins/catalog.ts';

export const handler = endpoint(routes.listPlugins, async ({ query, caller }) =>
  ok(await listCatalog(caller.workspaceId, query)),
);
