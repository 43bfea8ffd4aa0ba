import { routes } from '#functions/bindings/routes.ts';
import { endpoint } from '#functions/endpoint.ts';
import { listRunsOf } from '#shared/bindings/service.ts';
import { ok } from '#shared/http/reply.ts';

export const handler = endpoint(routes.listBindingRuns, async ({ params, query, caller }) =>
  ok(await listRunsOf(caller, params.id, query)),
);
