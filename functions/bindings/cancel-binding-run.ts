import { routes } from '#functions/bindings/routes.ts';
import { endpoint } from '#functions/endpoint.ts';
import { cancelRunOf } from '#shared/bindings/service.ts';
import { ok } from '#shared/http/reply.ts';

export const handler = endpoint(routes.cancelBindingRun, async ({ params, caller }) =>
  ok(await cancelRunOf(caller, params.id, params.run_id)),
);
