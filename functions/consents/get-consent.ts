import { routes } from '#functions/consents/routes.ts';
import { endpoint } from '#functions/endpoint.ts';
import { getConsent } from '#shared/consents/service.ts';
import { ok } from '#shared/http/reply.ts';

export const handler = endpoint(routes.getConsent, async ({ params, caller }) =>
  ok(await getConsent(caller, params.id)),
);
