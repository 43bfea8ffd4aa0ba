import { endpoint } from '#functions/endpoint.ts';
import { routes } from '#functions/webhooks/routes.ts';
import { ok } from '#shared/http/reply.ts';
import { getEndpointView } from '#shared/webhooks/endpoints.ts';

export const handler = endpoint(routes.getWebhook, async ({ params, caller }) =>
  ok(await getEndpointView(caller.workspaceId, params.id)),
);
