import { routes } from '#functions/routes.ts';
import { endpoint } from '#shared/http/endpoint.ts';
import { noContent } from '#shared/http/reply.ts';
import { removeConnection } from '#shared/oauth/service.ts';

export const handler = endpoint(routes.deleteConnection, async ({ params, caller }) => {
  await removeConnection(caller, params.id);
  return noContent();
});
