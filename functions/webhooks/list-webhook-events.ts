import { endpoint } from '#functions/endpoint.ts';
import { routes } from '#functions/webhooks/routes.ts';
import { ok } from '#shared/http/reply.ts';
import { eventCatalog } from '#shared/webhooks/catalog.ts';

export const handler = endpoint(routes.listWebhookEvents, () => ok({ data: eventCatalog }));
