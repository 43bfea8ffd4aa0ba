import { routes } from '#functions/consents/routes.ts';
import { endpoint } from '#functions/endpoint.ts';
import { collectionOf } from '#shared/consents/collection.ts';
import { grantConsent } from '#shared/consents/service.ts';
import { created, ok } from '#shared/http/reply.ts';

export const handler = endpoint(routes.grantConsent, async ({ body, caller, event }) => {
  const { consent, created: isNew } = await grantConsent(caller, body, collectionOf(event));
  return isNew ? created(consent) : ok(consent);
});
