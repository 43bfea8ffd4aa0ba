import { endpoint } from '#functions/endpoint.ts';
import { routes } from '#functions/oauth/routes.ts';
import { ok } from '#shared/http/reply.ts';
import { toConnectionResponse } from '#shared/oauth/connections.ts';
import { connectionOf } from '#shared/oauth/service.ts';

export const handler = endpoint(routes.getConnection, async ({ params, caller }) =>
  ok(toConnectionResponse(await connectionOf(caller, params.id))),
);
