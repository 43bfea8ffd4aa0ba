import { endpoint } from '#functions/endpoint.ts';
import { routes } from '#functions/webhooks/routes.ts';
import { ok } from '#shared/http/reply.ts';
import { deliveryDetail } from '#shared/webhooks/service.ts';

export const handler = endpoint(routes.getDelivery, async ({ params, caller }) =>
  ok(await deliveryDetail(caller.workspaceId, params.id, params.delivery_id)),
);
