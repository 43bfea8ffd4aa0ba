import { endpoint } from '#functions/endpoint.ts';
import { routes } from '#functions/oauth/routes.ts';
import { ok } from '#shared/http/reply.ts';
import { listOfCaller } from '#shared/oauth/service.ts';

export const handler = endpoint(routes.listConnections, async ({ query, caller }) =>
  ok(await listOfCaller(caller, query)),
);
