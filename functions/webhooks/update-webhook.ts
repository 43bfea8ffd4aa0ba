import { endpoint } from '#functions/endpoint.ts';
import { routes } from '#functions/webhooks/routes.ts';
import { ok } from '#shared/http/reply.ts';
import { updateEndpoint } from '#shared/webhooks/endpoints.ts';

export const handler = endpoint(routes.updateWebhook, async ({ params, body, caller }) =>
  ok(await updateEndpoint(caller.workspaceId, params.id, body)),
);
