import { routes } from '#functions/consents/routes.ts';
import { endpoint } from '#functions/endpoint.ts';
import { notImplemented } from '#shared/http/endpoint.ts';

export const handler = notImplemented(routes.revokeConsent, endpoint);
