import { routes } from '#functions/bindings/routes.ts';
import { endpoint } from '#functions/endpoint.ts';
import { updateBindingOf } from '#shared/bindings/service.ts';
import { ok } from '#shared/http/reply.ts';

export const handler = endpoint(routes.updateBinding, async ({ params, body, caller }) =>
  ok(await updateBindingOf(caller, params.id, body)),
);
