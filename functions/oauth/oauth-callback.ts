import { endpoint } from '#functions/endpoint.ts';
import { routes } from '#functions/oauth/routes.ts';
import { created } from '#shared/http/reply.ts';
import { completeAuthorization } from '#shared/oauth/service.ts';

export const handler = endpoint(routes.oauthCallback, async ({ body, caller }) =>
  created(await completeAuthorization(body, caller)),
);
