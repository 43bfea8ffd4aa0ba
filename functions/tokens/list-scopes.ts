import { endpoint } from '#functions/endpoint.ts';
import { routes } from '#functions/tokens/routes.ts';
import { ok } from '#shared/http/reply.ts';
import { SCOPES } from '#shared/tokens/scopes.ts';

export const handler = endpoint(routes.listScopes, () => ok({ data: SCOPES }));
