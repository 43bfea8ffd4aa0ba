import { endpoint } from '#functions/endpoint.ts';
import { routes } from '#functions/plugins/routes.ts';
import { ok } from '#shared/http/reply.ts';
import { listInstalled } from '#shared/plugins/installations.ts';

export const handler = endpoint(routes.listInstalledPlugins, async ({ query, caller }) =>
  ok(await listInstalled(caller, query)),
);
