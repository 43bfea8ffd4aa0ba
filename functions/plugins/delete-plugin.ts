import { endpoint } from '#functions/endpoint.ts';
import { routes } from '#functions/plugins/routes.ts';
import { accepted } from '#shared/http/reply.ts';
import { deletePlugin } from '#shared/plugins/publishing.ts';

export const handler = endpoint(routes.deletePlugin, async ({ params }) => {
  await deletePlugin(params.id);
  return accepted({ id: params.id, status: 'DELETING' });
});
