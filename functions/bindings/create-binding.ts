import { routes } from '#functions/bindings/routes.ts';
import { endpoint } from '#functions/endpoint.ts';
import { createBinding } from '#shared/bindings/service.ts';
import { created } from '#shared/http/reply.ts';

export const handler = endpoint(routes.createBinding, async ({ body, caller }) =>
  created(await createBinding(caller, body)),
);
