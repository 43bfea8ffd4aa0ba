import { endpoint } from '#functions/endpoint.ts';
import { routes } from '#functions/tokens/routes.ts';
import { noContent } from '#shared/http/reply.ts';
import * as tokens from '#shared/tokens/service.ts';

export const handler = endpoint(routes.revokeToken, async ({ params, caller }) => {
  await tokens.revokeToken(caller, params.id);
  return noContent();
});
