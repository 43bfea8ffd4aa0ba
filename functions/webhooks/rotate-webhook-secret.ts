import { endpoint } from '#functions/endpoint.ts';
import { routes } from '#functions/webhooks/routes.ts';
import { ok } from '#shared/http/reply.ts';
import { rotateSecret } from '#shared/webhooks/endpoints.ts';

export const handler = endpoint(routes.rotateWebhookSecret, async ({ params, caller }) =>
  ok(await rotateSecret(caller.workspaceId, params.id)),
);
