import { endpoint } from '#functions/endpoint.ts';
import { routes } from '#functions/plugins/routes.ts';
import { notImplemented } from '#shared/http/endpoint.ts';

export const handler = notImplemented(routes.uninstallPlugin, endpoint);
