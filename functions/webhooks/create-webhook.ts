import { endpoint } from '#functions/endpoint.ts';
import { routes } from '#functions/webhooks/routes.ts';
import { created } from '#shared/http/reply.ts';
import { createEndpoint } from '#shared/webhooks/endpoints.ts';

export const handler = endpoint(routes.createWebhook, async ({ body, caller }) => {
  const { view, secret } = await createEndpoint(caller.workspaceId, caller.userId, body);
  return created({ ...view, secret });
});
