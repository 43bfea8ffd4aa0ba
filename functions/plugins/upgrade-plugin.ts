import { endpoint } from '#functions/endpoint.ts';
import { routes } from '#functions/plugins/routes.ts';
import { ok } from '#shared/http/reply.ts';
import { upgrade } from '#shared/plugins/installations.ts';

export const handler = endpoint(routes.upgradePlugin, async ({ params, body, caller }) =>
  ok(await upgrade(caller, params.id, body)),
);
