import { endpoint } from '#functions/endpoint.ts';
import { routes } from '#functions/plugins/routes.ts';
import { ok } from '#shared/http/reply.ts';
import { listVersions } from '#shared/plugins/catalog.ts';

export const handler = endpoint(routes.listPluginVersions, async ({ params, query, caller }) =>
  ok(await listVersions(params.id, caller.operator === true, query)),
);
