import { routes } from '#functions/routes.ts';
import { endpoint } from '#shared/http/endpoint.ts';
import { accepted } from '#shared/http/reply.ts';
import { sendPing } from '#shared/webhooks/service.ts';

export const handler = endpoint(routes.testWebhook, async ({ params, caller }) =>
  accepted(await sendPing(caller.workspaceId, params.id)),
);
