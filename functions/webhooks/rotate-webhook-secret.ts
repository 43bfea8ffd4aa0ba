import { routes } from '#functions/routes.ts';
import { endpoint } from '#shared/http/endpoint.ts';
import { ok } from '#shared/http/reply.ts';
import { rotateSecret } from '#shared/webhooks/endpoints.ts';

export const handler = endpoint(routes.rotateWebhookSecret, async ({ params, caller }) =>
  ok(await rotateSecret(caller.workspaceId, params.id)),
);
