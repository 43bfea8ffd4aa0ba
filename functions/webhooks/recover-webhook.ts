import { routes } from '#functions/routes.ts';
import { endpoint } from '#shared/http/endpoint.ts';
import { accepted } from '#shared/http/reply.ts';
import { startRecover } from '#shared/webhooks/service.ts';

export const handler = endpoint(routes.recoverWebhook, async ({ params, body, caller }) =>
  accepted(await startRecover(caller.workspaceId, params.id, body)),
);
