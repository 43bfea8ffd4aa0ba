import { routes } from '#functions/consents/routes.ts';
import { endpoint } from '#functions/endpoint.ts';
import { collectionOf } from '#shared/consents/collection.ts';
import { revokeConsent } from '#shared/consents/service.ts';
import { ok } from '#shared/http/reply.ts';

export const handler = endpoint(routes.revokeConsent, async ({ params, caller, event }) =>
  ok((await revokeConsent(caller, params.id, collectionOf(event))).consent),
);
