import { endpoint } from '#functions/endpoint.ts';
import { routes } from '#functions/tokens/routes.ts';
import { ok } from '#shared/http/reply.ts';
import * as tokens from '#shared/tokens/service.ts';

export const handler = endpoint(routes.getToken, async ({ params, caller }) =>
  ok(await tokens.getToken(caller, params.id)),
);
