import { endpoint } from '#functions/endpoint.ts';
import { routes } from '#functions/webhooks/routes.ts';
import { accepted } from '#shared/http/reply.ts';
import { redeliver } from '#shared/webhooks/service.ts';

export const handler = endpoint(routes.redeliver, async ({ params, caller }) =>
  accepted(await redeliver(caller.workspaceId, params.id, params.delivery_id)),
);
