import { endpoint } from '#functions/endpoint.ts';
import { routes } from '#functions/plugins/routes.ts';
import { ok } from '#shared/http/reply.ts';
import { publishVersion } from '#shared/plugins/publishing.ts';

export const handler = endpoint(routes.publishPluginVersion, async ({ params }) =>
  ok(await publishVersion(params.id, params.version)),
);
