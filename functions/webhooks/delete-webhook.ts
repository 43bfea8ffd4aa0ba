import { endpoint } from '#functions/endpoint.ts';
import { routes } from '#functions/webhooks/routes.ts';
import { noContent } from '#shared/http/reply.ts';
import { deleteEndpoint } from '#shared/webhooks/endpoints.ts';

export const handler = endpoint(routes.deleteWebhook, async ({ params, caller }) => {
  await deleteEndpoint(caller.workspaceId, params.id);
  return noContent();
});
