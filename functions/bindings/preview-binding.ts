import { routes } from '#functions/bindings/routes.ts';
import { endpoint } from '#functions/endpoint.ts';
import { previewBinding } from '#shared/bindings/service.ts';
import { ok } from '#shared/http/reply.ts';

export const handler = endpoint(routes.previewBinding, async ({ params, body, caller }) =>
  ok(await previewBinding(caller, params.id, body)),
);
