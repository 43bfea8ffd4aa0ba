import { routes } from '#functions/routes.ts';
import { endpoint } from '#shared/http/endpoint.ts';
import { ok } from '#shared/http/reply.ts';
import { eventCatalog } from '#shared/webhooks/catalog.ts';

export const handler = endpoint(routes.listWebhookEvents, () => ok({ data: eventCatalog }));
