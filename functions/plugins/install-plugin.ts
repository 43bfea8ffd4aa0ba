import { endpoint } from '#functions/endpoint.ts';
import { routes } from '#functions/plugins/routes.ts';
import { created } from '#shared/http/reply.ts';
import { install } from '#shared/plugins/installations.ts';

export const handler = endpoint(routes.installPlugin, async ({ params, body, caller }) =>
  created(await install(caller, params.id, body)),
);
