import { endpoint } from '#functions/endpoint.ts';
import { routes } from '#functions/oauth/routes.ts';
import { noContent } from '#shared/http/reply.ts';
import { removeConnection } from '#shared/oauth/service.ts';

export const handler = endpoint(routes.deleteConnection, async ({ params, caller }) => {
  await removeConnection(caller, params.id);
  return noContent();
});
