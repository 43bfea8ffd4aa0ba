import { endpoint } from '#functions/endpoint.ts';
import { routes } from '#functions/tokens/routes.ts';
import { created } from '#shared/http/reply.ts';
import * as tokens from '#shared/tokens/service.ts';

export const handler = endpoint(routes.createToken, async ({ body, caller }) =>
  created(await tokens.createToken(caller, body)),
);
