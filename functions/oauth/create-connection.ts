import { endpoint } from '#functions/endpoint.ts';
import { routes } from '#functions/oauth/routes.ts';
import { created } from '#shared/http/reply.ts';
import { createDirectConnection, startAuthorization } from '#shared/oauth/service.ts';

export const handler = endpoint(routes.createConnection, async ({ body, caller }) =>
  created(
    body.access_token === undefined
      ? await startAuthorization(caller, body)
      : await createDirectConnection(caller, { ...body, access_token: body.access_token }),
  ),
);
