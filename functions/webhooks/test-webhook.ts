import { endpoint } from '#functions/endpoint.ts';
import { routes } from '#functions/webhooks/routes.ts';
import { accepted } from '#shared/http/reply.ts';
import { sendPing } from '#shared/webhooks/service.ts';

export const handler = endpoint(routes.testWebhook, async ({ params, caller }) =>
  accepted(await sendPing(caller.workspaceId, params.id)),
);
