import { endpoint } from '#functions/endpoint.ts';
import { routes } from '#functions/webhooks/routes.ts';
import { ok } from '#shared/http/reply.ts';
import { listEndpoints } from '#shared/webhooks/endpoints.ts';

export const handler = endpoint(routes.listWebhooks, async ({ query, caller }) =>
  ok(await listEndpoints(caller.workspaceId, query)),
);
