import { routes } from '#functions/routes.ts';
import { endpoint } from '#shared/http/endpoint.ts';
import { ok } from '#shared/http/reply.ts';
import { SCOPES } from '#shared/tokens/scopes.ts';

export const handler = endpoint(routes.listScopes, () => ok({ data: SCOPES }));
