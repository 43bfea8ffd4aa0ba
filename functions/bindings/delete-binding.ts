import { routes } from '#functions/bindings/routes.ts';
import { endpoint } from '#functions/endpoint.ts';
import { deleteBindingOf } from '#shared/bindings/service.ts';
import { noContent } from '#shared/http/reply.ts';

export const handler = endpoint(routes.deleteBinding, async ({ params, caller }) => {
  await deleteBindingOf(caller, params.id);
  return noContent();
});
