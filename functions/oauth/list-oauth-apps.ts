import { endpoint } from '#functions/endpoint.ts';
import { routes } from '#functions/oauth/routes.ts';
import { ok } from '#shared/http/reply.ts';
import { listApps } from '#shared/oauth/catalog.ts';

export const handler = endpoint(routes.listOAuthApps, () => ok({ data: listApps(), next_cursor: null }));
