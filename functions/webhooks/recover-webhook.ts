import { endpoint } from '#functions/endpoint.ts';
import { routes } from '#functions/webhooks/routes.ts';
import { accepted } from '#shared/http/reply.ts';
import { startRecover } from '#shared/webhooks/service.ts';

export const handler = endpoint(routes.recoverWebhook, async ({ params, body, caller }) =>
  accepted(await startRecover(caller.workspaceId, params.id, body)),
);
