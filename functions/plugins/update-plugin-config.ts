import { endpoint } from '#functions/endpoint.ts';
import { routes } from '#functions/plugins/routes.ts';
import { ok } from '#shared/http/reply.ts';
import { updateConfiguration } from '#shared/plugins/installations.ts';

export const handler = endpoint(routes.updatePluginConfig, async ({ params, body, caller }) =>
  ok(await updateConfiguration(caller, params.id, body)),
);
