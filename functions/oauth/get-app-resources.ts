import { endpoint } from '#functions/endpoint.ts';
import { routes } from '#functions/oauth/routes.ts';
import { toAppResourcesView } from '#shared/bindings/views.ts';
import { NotFoundError } from '#shared/errors.ts';
import { ok } from '#shared/http/reply.ts';
import { findApp } from '#shared/oauth/catalog.ts';

export const handler = endpoint(routes.getOAuthAppResources, ({ params }) => {
  const app = findApp(params.id);
  if (!app) throw new NotFoundError(`There is no OAuth app '${params.id}'.`);
  return ok(toAppResourcesView(app));
});
