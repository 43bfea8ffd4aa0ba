import { routes } from '#functions/bindings/routes.ts';
import { endpoint } from '#functions/endpoint.ts';
import { syncBinding } from '#shared/bindings/service.ts';
import { accepted } from '#shared/http/reply.ts';

export const handler = endpoint(routes.syncBinding, async ({ params, body, caller }) =>
  accepted(await syncBinding(caller, params.id, body)),
);
