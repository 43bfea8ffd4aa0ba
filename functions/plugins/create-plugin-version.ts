import { endpoint } from '#functions/endpoint.ts';
import { routes } from '#functions/plugins/routes.ts';
import { created } from '#shared/http/reply.ts';
import { createVersion } from '#shared/plugins/publishing.ts';

export const handler = endpoint(routes.createPluginVersion, async ({ params, body, caller }) =>
  created(await createVersion(caller, params.id, body)),
);
