import { routes } from '#functions/routes.ts';
import { endpoint } from '#shared/http/endpoint.ts';
import { ok } from '#shared/http/reply.ts';
import * as tokens from '#shared/tokens/service.ts';

export const handler = endpoint(routes.updateToken, async ({ params, body, caller }) =>
  ok(await tokens.updateToken(caller, params.id, body)),
);
