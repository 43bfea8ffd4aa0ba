import { endpoint } from '#functions/endpoint.ts';
import { routes } from '#functions/plugins/routes.ts';
import { ok } from '#shared/http/reply.ts';
import { getPluginView } from '#shared/plugins/catalog.ts';

export const handler = endpoint(routes.getPlugin, async ({ params, caller }) =>
  ok(await getPluginView(params.id, caller.operator === true)),
);
