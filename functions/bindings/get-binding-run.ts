import { routes } from '#functions/bindings/routes.ts';
import { endpoint } from '#functions/endpoint.ts';
import { getRun } from '#shared/bindings/service.ts';
import { ok } from '#shared/http/reply.ts';

export const handler = endpoint(routes.getBindingRun, async ({ params, caller }) =>
  ok(await getRun(caller, params.id, params.run_id)),
);
