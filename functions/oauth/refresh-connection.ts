import { endpoint } from '#functions/endpoint.ts';
import { routes } from '#functions/oauth/routes.ts';
import { ok } from '#shared/http/reply.ts';
import { refreshOfCaller } from '#shared/oauth/service.ts';

export const handler = endpoint(routes.refreshConnection, async ({ params, caller }) =>
  ok(await refreshOfCaller(caller, params.id)),
);
