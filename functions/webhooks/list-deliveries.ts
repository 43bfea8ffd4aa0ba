import { endpoint } from '#functions/endpoint.ts';
import { routes } from '#functions/webhooks/routes.ts';
import { ok } from '#shared/http/reply.ts';
import { listDeliveries } from '#shared/webhooks/delivery-queries.ts';
import { getEndpoint } from '#shared/webhooks/endpoints.ts';

export const handler = endpoint(routes.listDeliveries, async ({ params, query, caller }) => {
  await getEndpoint(caller.workspaceId, params.id);
  return ok(await listDeliveries(params.id, query));
});
