import { routes } from '#functions/bindings/routes.ts';
import { endpoint } from '#functions/endpoint.ts';
import { listBindingsOf } from '#shared/bindings/service.ts';
import { ok } from '#shared/http/reply.ts';

export const handler = endpoint(routes.listBindings, async ({ query, caller }) =>
  ok(await listBindingsOf(caller, query)),
);
