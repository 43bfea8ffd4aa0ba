import { routes } from '#functions/bindings/routes.ts';
import { endpoint } from '#functions/endpoint.ts';
import { getBinding } from '#shared/bindings/service.ts';
import { ok } from '#shared/http/reply.ts';

export const handler = endpoint(routes.getBinding, async ({ params, caller }) =>
  ok(await getBinding(caller, params.id)),
);
