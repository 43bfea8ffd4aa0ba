import { endpoint } from '#functions/endpoint.ts';
import { routes } from '#functions/plugins/routes.ts';
import { created } from '#shared/http/reply.ts';
import { createPlugin } from '#shared/plugins/publishing.ts';

export const handler = endpoint(routes.createPlugin, async ({ body, caller }) =>
  created(await createPlugin(caller, body)),
);
