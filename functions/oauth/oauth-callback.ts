import { routes } from '#functions/routes.ts';
import { endpoint } from '#shared/http/endpoint.ts';
import { created } from '#shared/http/reply.ts';
import { completeAuthorization } from '#shared/oauth/service.ts';

export const handler = endpoint(routes.oauthCallback, async ({ body, caller }) =>
  created(await completeAuthorization(body, caller)),
);
